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
  /** POST path taking `token` + `token_type_hint` and a bearer header; null when RD has none. */
  revokePath: string | null;
  /** Lifetime assumed when RD omits expires_in. */
  defaultExpiresIn: number;
}

/**
 * Everything that differs between RD's two OAuth servers (see /work/shared/RDSTATION.md). The
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
