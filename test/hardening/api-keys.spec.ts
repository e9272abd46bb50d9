/**
 * API keys under attack: malformed and near-miss credentials, a service key on admin routes,
 * brute force from one address (while a legitimate caller elsewhere is not slowed down), the
 * callback's per-address throttle, and the constant-time comparison of secrets.
 */
import { createHash } from 'node:crypto';
import { Reflector } from '@nestjs/core';
import type { ExecutionContext } from '@nestjs/common';
import { ApiKeyAuthenticator } from '../../src/auth/api-key.authenticator';
import { ApiKeyGuard } from '../../src/auth/api-key.guard';
import { FailedAuthLimiter } from '../../src/auth/failed-auth.limiter';
import { loadConfig } from '../../src/config/config';
import { authConfig } from '../../src/config/slices';
import { SERVICE_KEY, testEnv } from '../support/broker';
import { auth, connect, createHarness, type Harness } from '../support/harness';

let nextAddress = 0;
/** A distinct client address per use (this suite's broker believes X-Forwarded-For from 127.0.0.1). */
function freshAddress(): string {
  nextAddress++;
  return `192.0.2.${nextAddress}`;
}

describe('API keys', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness({ env: { TRUSTED_PROXIES: '127.0.0.1' } });
    expect((await connect(h, 'acme', 'crm')).status).toBe(200);
  });
  afterAll(() => h.close());

  function read(
    authorization: string | undefined,
    address = freshAddress(),
    path = '/tokens/acme?product=crm',
  ) {
    const headers: Record<string, string> = { 'x-forwarded-for': address };
    if (authorization !== undefined) headers.authorization = authorization;
    return fetch(`${h.broker.url}${path}`, { headers });
  }

  it.each([
    ['no Authorization header', undefined],
    ['an empty header', ''],
    ['a wrong key of the right length', `Bearer ${'z'.repeat(SERVICE_KEY.length)}`],
    [
      'Basic with the right secret',
      `Basic ${Buffer.from(`svc:${SERVICE_KEY}`).toString('base64')}`,
    ],
    ['the scheme alone', 'Bearer'],
    ['the scheme and a space', 'Bearer '],
    ['no space after the scheme', `Bearer${SERVICE_KEY}`],
    ['another scheme', `Token ${SERVICE_KEY}`],
    ['a space inside the token', `Bearer ${SERVICE_KEY.slice(0, 10)} ${SERVICE_KEY.slice(10)}`],
    ['the key followed by another word', `Bearer ${SERVICE_KEY} ${SERVICE_KEY}`],
    ['a prefix of the key', `Bearer ${SERVICE_KEY.slice(0, -1)}`],
    ['the key plus one character', `Bearer ${SERVICE_KEY}x`],
    ['the key in upper case', `Bearer ${SERVICE_KEY.toUpperCase()}`],
    ['the key in quotes', `Bearer "${SERVICE_KEY}"`],
    ['the name:secret pair', `Bearer svc:${SERVICE_KEY}`],
    ['the key name', 'Bearer svc'],
    ['the key base64-encoded', `Bearer ${Buffer.from(SERVICE_KEY).toString('base64')}`],
    ['a 10 KB token', `Bearer ${'k'.repeat(10_240)}`],
  ])('answers 401 unauthorized to %s, without echoing it', async (_name, header) => {
    const res = await read(header);
    expect(res.status).toBe(401);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({
      statusCode: 401,
      error: 'unauthorized',
      message: expect.any(String),
    });
    expect(text).not.toContain(SERVICE_KEY.slice(0, 12));
    expect(res.headers.get('www-authenticate') ?? '').not.toContain(SERVICE_KEY);
  });

  it.each([['bearer'], ['BEARER'], ['bEaReR']])(
    'accepts the scheme spelled %s (auth schemes are case-insensitive)',
    async (scheme) => {
      expect((await read(`${scheme} ${SERVICE_KEY}`)).status).toBe(200);
    },
  );

  it.each([
    ['GET', '/connections'],
    ['GET', '/connections/acme'],
    ['PUT', '/connections/acme'],
    ['POST', '/connections/acme/refresh?product=crm'],
    ['DELETE', '/connections/acme?product=crm'],
  ])(
    'answers 403 forbidden to a service key on %s %s, and changes nothing',
    async (method, path) => {
      const res = await fetch(`${h.broker.url}${path}`, {
        method,
        headers: {
          authorization: auth.service,
          ...(method === 'PUT' ? { 'content-type': 'application/json' } : {}),
        },
        body: method === 'PUT' ? JSON.stringify({ product: 'crm', refreshToken: 'x' }) : undefined,
      });
      expect(res.status).toBe(403);
      expect(await res.json()).toEqual({
        statusCode: 403,
        error: 'forbidden',
        message: expect.any(String),
      });
      expect((await read(auth.service)).status).toBe(200); // acme is still there
    },
  );

  it('does not count a valid key on the wrong route as a failed attempt', async () => {
    const address = freshAddress();
    for (let i = 0; i < 30; i++) {
      const res = await read(auth.service, address, '/connections');
      expect(res.status).toBe(403);
    }
    expect((await read(auth.service, address)).status).toBe(200);
  });

  it('blocks an address after more than 20 failures (429 + Retry-After) while another address reads at full speed', async () => {
    const attacker = '203.0.113.66';
    const legitimate = '198.51.100.10';

    const attack = (async () => {
      const answers: Array<{ status: number; retryAfter: string | null; body: unknown }> = [];
      for (let i = 0; i < 40; i++) {
        // A spoofed left-hand X-Forwarded-For entry changes nothing: the proxy-appended one counts.
        const res = await read(`Bearer guess-${i}-${'g'.repeat(40)}`, `10.9.${i}.1, ${attacker}`);
        answers.push({
          status: res.status,
          retryAfter: res.headers.get('retry-after'),
          body: await res.json(),
        });
      }
      return answers;
    })();

    const reads = (async () => {
      const statuses: number[] = [];
      const started = Date.now();
      await Promise.all(
        Array.from({ length: 10 }, async () => {
          for (let i = 0; i < 50; i++) statuses.push((await read(auth.service, legitimate)).status);
        }),
      );
      return { statuses, tookMs: Date.now() - started };
    })();

    const [answers, legit] = await Promise.all([attack, reads]);
    expect(answers.slice(0, 20).map((a) => a.status)).toEqual(Array(20).fill(401));
    expect(answers.slice(21).map((a) => a.status)).toEqual(Array(19).fill(429));
    const blocked = answers[answers.length - 1];
    expect(blocked.body).toEqual({
      statusCode: 429,
      error: 'rate_limited',
      message: expect.any(String),
    });
    const retryAfter = Number(blocked.retryAfter);
    expect(retryAfter).toBeGreaterThan(60);
    expect(retryAfter).toBeLessThanOrEqual(300);

    // The legitimate caller: 500 reads, every one 200, never throttled.
    expect(legit.statuses).toHaveLength(500);
    expect(legit.statuses.filter((s) => s !== 200)).toEqual([]);

    // Once blocked, guesses from that address are refused, but a valid key from it is still
    // served (failures never lock a service out); other addresses are not blocked.
    expect((await read(`Bearer ${'g'.repeat(44)}`, attacker)).status).toBe(429);
    expect((await read(auth.service, attacker)).status).toBe(200);
    expect((await read(`Bearer ${'g'.repeat(44)}`, `${attacker}, 198.51.100.11`)).status).toBe(401);
  });

  it('throttles the browser callback per address: 60 a minute, then 429 with Retry-After', async () => {
    const address = '198.51.100.77';
    const callback = (from: string) =>
      fetch(`${h.broker.url}/oauth/callback?state=${'s'.repeat(43)}&code=c`, {
        headers: { 'x-forwarded-for': from },
        redirect: 'manual',
      });
    const statuses: number[] = [];
    for (let i = 0; i < 60; i++) statuses.push((await callback(address)).status);
    expect(statuses).toEqual(Array(60).fill(400)); // the invalid_state page, not yet throttled

    const throttled = await callback(address);
    expect(throttled.status).toBe(429);
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await throttled.json()).toMatchObject({ statusCode: 429, error: 'rate_limited' });

    expect((await callback('198.51.100.78')).status).toBe(400); // another browser is unaffected
  });
});

describe('API key comparison (unit)', () => {
  const secrets = {
    a: 'service-a-0123456789abcdef0123456789abcdef',
    b: 'service-b-0123456789abcdef0123456789abcdef',
    c: 'service-c-0123456789abcdef0123456789abcdef',
    x: 'admin-x-0123456789abcdef0123456789abcdef01',
    y: 'admin-y-0123456789abcdef0123456789abcdef01',
  };
  const config = loadConfig(
    testEnv({
      API_KEYS: `a:${secrets.a},b:${secrets.b},c:${secrets.c}`,
      ADMIN_API_KEYS: `x:${secrets.x},y:${secrets.y}`,
    }),
  );
  const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest();
  // The module object the guard itself calls into (a namespace import would be a copy).
  const nodeCrypto = jest.requireActual<typeof import('node:crypto')>('node:crypto');

  function attempt(header: string): boolean {
    const guard = new ApiKeyGuard(
      new ApiKeyAuthenticator(authConfig(config), new FailedAuthLimiter()),
      new Reflector(),
    );
    const request = { headers: { authorization: header }, ip: '192.0.2.1', raw: {} };
    const context = {
      switchToHttp: () => ({ getRequest: () => request }),
      getArgByIndex: (index: number) => (index === 0 ? request : undefined),
      getHandler: () => attempt,
      getClass: () => Object,
    } as unknown as ExecutionContext;
    try {
      return guard.canActivate(context);
    } catch {
      return false;
    }
  }

  afterEach(() => jest.restoreAllMocks());

  it.each([
    ['the first key', `Bearer ${secrets.a}`, true],
    ['the last admin key', `Bearer ${secrets.y}`, true],
    ['a wrong key', `Bearer ${'w'.repeat(41)}`, false],
    ['a one-character key', 'Bearer w', false],
    ['a 4 KB key', `Bearer ${'w'.repeat(4096)}`, false],
  ])(
    'compares SHA-256 digests with crypto.timingSafeEqual against every key, for %s',
    (_name, header, accepted) => {
      const spy = jest.spyOn(nodeCrypto, 'timingSafeEqual');
      expect(attempt(header)).toBe(accepted);
      // Every configured key is compared, with no early exit on a match or a mismatch…
      expect(spy).toHaveBeenCalledTimes(5);
      const presented = sha256(header.slice('Bearer '.length));
      const known = Object.values(secrets).map(sha256);
      for (const [index, [left, right]] of spy.mock.calls.entries()) {
        // …and on fixed-length digests: the secret's length does not show either.
        expect(Buffer.isBuffer(left) && Buffer.isBuffer(right)).toBe(true);
        expect([(left as Buffer).length, (right as Buffer).length]).toEqual([32, 32]);
        expect(left).toEqual(presented);
        expect(right).toEqual(known[index]);
      }
    },
  );

  it('uses no early-exit Buffer comparison (equals, compare) anywhere', () => {
    const equals = jest.spyOn(Buffer.prototype, 'equals');
    const compare = jest.spyOn(Buffer, 'compare');
    attempt(`Bearer ${secrets.b}`);
    attempt(`Bearer ${'w'.repeat(41)}`);
    expect(equals).not.toHaveBeenCalled();
    expect(compare).not.toHaveBeenCalled();
  });
});
