import type { Product } from '../config/config';

/** One OAuth token call: where it goes, how the body is encoded, and its grant fields. */
export interface TokenCall {
  /** Path under RD_API_URL, query string included. */
  path: string;
  encoding: 'form' | 'json';
  /** The grant fields; client_id and client_secret are added by the client. */
  fields(grant: string, redirectUri: string): Record<string, string>;
}

export interface ProductSpec {
  consent: {
    /** Which configured host serves the consent screen. */
    host: 'accountsUrl' | 'apiUrl';
    path: string;
    /** Fixed parameters sent before client_id, redirect_uri and state. */
    params: Record<string, string>;
  };
  exchange: TokenCall;
  refresh: TokenCall;
  /**
   * POST path taking `token` + `token_type_hint` and a bearer header; null when RD has none. The
   * broker revokes the refresh token: it works even when the stored access token has expired,
   * and it is the one that keeps the grant alive at RD.
   */
  revokePath: string | null;
  /** Lifetime assumed when RD omits expires_in. */
  defaultExpiresIn: number;
}

/** How the broker talks OAuth to RD Station Marketing (RD_MARKETING_OAUTH). */
export type MarketingOAuth = 'legacy' | 'oauth2';

/**
 * Everything that differs between RD's two OAuth servers, as RD documents them. The
 * client reads this table; it never branches on the product itself.
 */
export const PRODUCT_SPECS: Readonly<Record<Product, ProductSpec>> = {
  crm: {
    consent: { host: 'accountsUrl', path: '/oauth/authorize', params: { response_type: 'code' } },
    exchange: {
      path: '/oauth2/token',
      encoding: 'form',
      fields: (code, redirectUri) => ({
        grant_type: 'authorization_code',
        code,
        redirect_uri: redirectUri,
      }),
    },
    refresh: {
      path: '/oauth2/token',
      encoding: 'form',
      fields: (refreshToken) => ({ grant_type: 'refresh_token', refresh_token: refreshToken }),
    },
    // RD documents no revocation endpoint for CRM v2.
    revokePath: null,
    defaultExpiresIn: 7200,
  },
  marketing: {
    consent: { host: 'apiUrl', path: '/auth/dialog', params: {} },
    exchange: {
      path: '/auth/token?token_by=code',
      encoding: 'json',
      fields: (code) => ({ code }),
    },
    refresh: {
      path: '/auth/token',
      encoding: 'json',
      fields: (refreshToken) => ({ refresh_token: refreshToken }),
    },
    revokePath: '/auth/revoke',
    defaultExpiresIn: 86400,
  },
};

/**
 * Marketing through RD's newer OAuth server, as RD's own n8n Marketing node does
 * (`ResultadosDigitais/n8n-nodes-rdsm`, RdStationMarketingApi.credentials.ts): consent at
 * `accounts.rdstation.com/oauth/authorize` and a standard form-encoded `/oauth2/token`, like CRM.
 * Revocation stays on `/auth/revoke`, the only revocation endpoint RD documents.
 */
const MARKETING_OAUTH2: ProductSpec = {
  ...PRODUCT_SPECS.crm,
  revokePath: '/auth/revoke',
  defaultExpiresIn: 86400,
};

/** The table the client reads, for the configured Marketing OAuth flavour. */
export function productSpecs(marketing: MarketingOAuth): Readonly<Record<Product, ProductSpec>> {
  return marketing === 'oauth2' ? { ...PRODUCT_SPECS, marketing: MARKETING_OAUTH2 } : PRODUCT_SPECS;
}
