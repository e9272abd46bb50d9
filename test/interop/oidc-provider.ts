import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

/** What test/interop/oidc-provider.server.mjs keeps about itself (GET /__test/records). */
export interface ProviderRecords {
  tokenCalls: Array<{ grantType?: string; ok: boolean; error?: string; detail?: string }>;
  rotations: number;
  reuseDetected: number;
  revokedGrants: Array<{ grantId: string; by: 'provider' | 'user' }>;
  refreshTokens: Record<string, { grantId: string; consumed: boolean }>;
  authorizationErrors: Array<{ error: string; detail?: string }>;
}

export interface ProviderClient {
  client_id: string;
  client_secret: string;
  redirect_uris: string[];
}

const SERVER = join(__dirname, 'oidc-provider.server.mjs');

/** panva's oidc-provider, configured like RD's CRM OAuth server, in a child process. */
export class OidcProviderProcess {
  private constructor(
    private readonly child: ChildProcess,
    readonly issuer: string,
    readonly output: () => string,
  ) {}

  static async start(settings: {
    clients: ProviderClient[];
    accessTokenTtl?: number;
  }): Promise<OidcProviderProcess> {
    const child = spawn(process.execPath, [SERVER], {
      env: { PATH: process.env.PATH ?? '', OIDC_INTEROP_SETTINGS: JSON.stringify(settings) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const issuer = await new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const ready = output.match(/^READY (\S+)$/m);
        if (ready) resolve(ready[1]);
      });
      child.on('exit', (code) =>
        reject(new Error(`oidc-provider exited with ${code} before it was ready:\n${output}`)),
      );
    });
    return new OidcProviderProcess(child, issuer, () => output);
  }

  async records(): Promise<ProviderRecords> {
    return (await fetch(`${this.issuer}/__test/records`)).json() as Promise<ProviderRecords>;
  }

  async setPolicy(policy: { pkceRequired: boolean }): Promise<void> {
    await this.post('/__test/policy', policy);
  }

  /** Revokes every grant of `accountId`, as a user removing the app at the provider would. */
  async revokeAccount(accountId: string): Promise<number> {
    return ((await this.post('/__test/revoke', { accountId })) as { revoked: number }).revoked;
  }

  /** Calls the token endpoint directly, as a client holding `refreshToken` would. */
  async refreshDirectly(refreshToken: string, clientSecret = 'crm-secret') {
    const res = await fetch(`${this.issuer}/oauth2/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: refreshToken,
        client_id: 'crm-client',
        client_secret: clientSecret,
      }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, string> };
  }

  /** The provider's userinfo answer for an access token: 200 only for a live one. */
  async userinfo(accessToken: string): Promise<{ status: number; sub?: string }> {
    const res = await fetch(`${this.issuer}/me`, {
      headers: { authorization: `Bearer ${accessToken}` },
    });
    const body = (await res.json().catch(() => ({}))) as { sub?: string };
    return { status: res.status, sub: body.sub };
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }

  private async post(path: string, body: object): Promise<unknown> {
    const res = await fetch(`${this.issuer}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (res.status !== 200) throw new Error(`${path} answered ${res.status}`);
    return res.json();
  }
}

/**
 * A browser at the provider, scripted over HTTP: follows redirects with its own cookies, logs in
 * as `login` and approves or denies consent, and stops at the first redirect to the broker's
 * callback, which it returns without following (the test decides what to do with it).
 */
export async function authorizeAtProvider(
  consentUrl: string,
  callbackPrefix: string,
  {
    login = 'user-1',
    decision = 'approve',
  }: { login?: string; decision?: 'approve' | 'deny' } = {},
): Promise<URL> {
  const cookies = new Map<string, string>();
  let url = new URL(consentUrl);
  let init: RequestInit = {};
  for (let hop = 0; hop < 20; hop++) {
    const res = await fetch(url, {
      ...init,
      redirect: 'manual',
      headers: { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
    });
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const [name, value] = [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)];
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(line)) cookies.delete(name);
      else cookies.set(name, value);
    }
    if (res.status >= 300 && res.status < 400) {
      const next = new URL(res.headers.get('location')!, url);
      if (next.toString().startsWith(callbackPrefix)) return next;
      [url, init] = [next, {}];
      continue;
    }
    const interaction = url.pathname.match(/^\/interaction\/([\w-]+)$/);
    if (res.status !== 200 || !interaction) {
      throw new Error(
        `the provider answered ${res.status} at ${url.pathname}: ${await res.text()}`,
      );
    }
    const { prompt } = (await res.json()) as { prompt: string };
    const action = prompt === 'login' ? 'login' : decision === 'approve' ? 'consent' : 'abort';
    [url, init] = [
      new URL(`${url.pathname}/${action}`, url),
      { method: 'POST', body: new URLSearchParams({ login }) },
    ];
  }
  throw new Error('too many redirects at the provider');
}
