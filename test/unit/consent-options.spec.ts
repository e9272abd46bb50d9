import { ConfigError, loadConfig } from '../../src/config/config';
import { rdstationConfig } from '../../src/config/slices';
import { RdStationClient } from '../../src/rdstation/rdstation.client';
import { RdStationError } from '../../src/rdstation/rdstation.errors';
import { testEnv } from '../support/broker';
import { sendJson, startTinyServer, type TinyServer } from '../support/tiny-server';

/** RD_<PRODUCT>_SCOPE / _PKCE / _ISSUER in the configuration and the RD client; token_type. */
let server: TinyServer;
let baseUrl: string;
let answer: object = {};
const bodies: Array<{ type: string; body: string }> = [];
const clients: RdStationClient[] = [];

beforeAll(async () => {
  server = await startTinyServer((request, res) => {
    bodies.push({ type: request.headers['content-type'] ?? '', body: request.body });
    sendJson(res, 200, answer);
  });
  baseUrl = server.url;
});
beforeEach(() => {
  bodies.length = 0;
  answer = { access_token: 'at', refresh_token: 'rt', expires_in: 120, token_type: 'Bearer' };
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.onModuleDestroy()));
  await server.close();
});

function client(overrides: Record<string, string> = {}): RdStationClient {
  const created = new RdStationClient(
    rdstationConfig(
      loadConfig(testEnv({ RD_API_URL: baseUrl, RD_TIMEOUT_MS: '2000', ...overrides })),
    ),
  );
  clients.push(created);
  return created;
}

function configError(overrides: Record<string, string>): string {
  try {
    loadConfig(testEnv(overrides));
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a configuration error');
}

describe('consent options in the configuration', () => {
  it('defaults to no scope, no PKCE and no issuer', () => {
    const { crm, marketing } = loadConfig(testEnv()).products;
    for (const product of [crm, marketing]) {
      expect(product).toMatchObject({ scope: null, pkce: false, issuer: null });
    }
  });

  it('reads each product on its own', () => {
    const { crm, marketing } = loadConfig(
      testEnv({
        RD_CRM_SCOPE: 'openid crm:read',
        RD_CRM_PKCE: 'true',
        RD_MARKETING_ISSUER: 'https://api.rd.services',
      }),
    ).products;
    expect(crm).toMatchObject({ scope: 'openid crm:read', pkce: true, issuer: null });
    expect(marketing).toMatchObject({
      scope: null,
      pkce: false,
      issuer: 'https://api.rd.services',
    });
  });

  it.each([
    [{ RD_CRM_SCOPE: 'a "quoted" scope' }, 'RD_CRM_SCOPE: must be space-separated scope tokens'],
    [{ RD_MARKETING_SCOPE: 'two  spaces' }, 'RD_MARKETING_SCOPE: must be space-separated'],
    [{ RD_CRM_PKCE: 'yes' }, 'RD_CRM_PKCE: must be true or false'],
    [
      { RD_MARKETING_ISSUER: 'accounts.rdstation.com' },
      'RD_MARKETING_ISSUER: must be an http(s) URL',
    ],
  ])('refuses %j', (overrides, message) => {
    expect(configError(overrides)).toContain(message);
  });
});

describe('RdStationClient with consent options', () => {
  it('adds the configured scope and the PKCE challenge to the consent URL', () => {
    const url = new URL(
      client({ RD_CRM_SCOPE: 'openid crm' }).authorizeUrl('crm', 'the-state', 'the-challenge'),
    );
    expect(url.searchParams.get('scope')).toBe('openid crm');
    expect(url.searchParams.get('code_challenge')).toBe('the-challenge');
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    expect(url.toString()).toContain('scope=openid+crm');
  });

  it('adds neither when none is configured or asked for', () => {
    const url = new URL(client().authorizeUrl('crm', 'the-state'));
    expect([...url.searchParams.keys()]).toEqual([
      'response_type',
      'client_id',
      'redirect_uri',
      'state',
    ]);
  });

  it('sends the code_verifier with a CRM (form) and a Marketing (JSON) code exchange', async () => {
    await client().exchangeCode('crm', 'the-code', 'the-verifier');
    await client().exchangeCode('marketing', 'the-code', 'the-verifier');
    expect(Object.fromEntries(new URLSearchParams(bodies[0].body))).toMatchObject({
      grant_type: 'authorization_code',
      code: 'the-code',
      code_verifier: 'the-verifier',
    });
    expect(JSON.parse(bodies[1].body)).toMatchObject({
      code: 'the-code',
      code_verifier: 'the-verifier',
    });
  });

  it('sends no code_verifier without PKCE', async () => {
    await client().exchangeCode('crm', 'the-code');
    expect(bodies[0].body).not.toContain('code_verifier');
  });

  it.each([['Bearer'], ['bearer'], ['BEARER'], [undefined]])(
    'accepts token_type %j',
    async (tokenType) => {
      answer = { access_token: 'at', refresh_token: 'rt', expires_in: 120, token_type: tokenType };
      await expect(client().refresh('crm', 'old')).resolves.toMatchObject({ accessToken: 'at' });
    },
  );

  it.each([['DPoP'], ['mac'], [''], [42]])(
    'treats token_type %j as an invalid (transient) answer',
    async (tokenType) => {
      answer = { access_token: 'at', refresh_token: 'rt', expires_in: 120, token_type: tokenType };
      const error = await client()
        .exchangeCode('crm', 'code')
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RdStationError);
      expect(error).toMatchObject({ kind: 'transient', code: 'invalid_response' });
      expect((error as Error).message).toContain('token_type is not Bearer');
    },
  );
});
