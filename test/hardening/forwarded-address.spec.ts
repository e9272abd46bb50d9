/**
 * Forwarded-address trust. By default no proxy is trusted: every limit counts the connecting
 * address, so a client cannot pick the address its failures are charged to (locking a service
 * out by naming that service's address) nor escape a limit by rotating X-Forwarded-For. A valid
 * key is served whatever failures its address collected, and the limiter's memory is bounded
 * whatever the header carried. (With TRUSTED_PROXIES set, see api-keys.spec.ts.)
 */
import { FailedAuthLimiter, keyOf } from '../../src/auth/failed-auth.limiter';
import { ConfigError, loadConfig } from '../../src/config/config';
import { testEnv } from '../support/broker';
import { auth, connect, createHarness, type Harness } from '../support/harness';

const VICTIM = '10.20.30.40';

describe('X-Forwarded-For with no TRUSTED_PROXIES (the default)', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness();
    expect((await connect(h, 'acme', 'crm')).status).toBe(200);
  });
  afterAll(() => h.close());

  const read = (authorization: string, forwardedFor?: string) =>
    fetch(`${h.broker.url}/tokens/acme?product=crm`, {
      headers: {
        authorization,
        ...(forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor }),
      },
    });

  it('charges failures to the connecting address, so neither a forged nor a rotated header helps', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) {
      // Every guess claims another address, the victim's among them.
      const claimed = i % 2 === 0 ? VICTIM : `198.51.100.${i}`;
      statuses.push((await read(`Bearer guess-${i}-${'g'.repeat(40)}`, claimed)).status);
    }
    // All 25 come from 127.0.0.1: more than 20 failures in a minute block it.
    expect(statuses).toEqual([...Array(21).fill(401), ...Array(4).fill(429)]);

    // The service named in the forged header is not locked out…
    expect((await read(auth.service, VICTIM)).status).toBe(200);
    // …and neither is a valid key from the blocked address itself.
    expect((await read(auth.service)).status).toBe(200);
    expect((await read(`Bearer ${'g'.repeat(44)}`)).status).toBe(429);
  });

  it('throttles the callback per connecting address, whatever X-Forwarded-For says', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 61; i++) {
      const res = await fetch(`${h.broker.url}/oauth/callback?state=${'s'.repeat(43)}&code=c`, {
        headers: { 'x-forwarded-for': `203.0.113.${i + 1}` },
        redirect: 'manual',
      });
      statuses.push(res.status);
    }
    // 60 a minute from 127.0.0.1, where the connect of beforeAll already used one.
    expect(statuses).toEqual([...Array(59).fill(400), 429, 429]);
  });
});

describe('TRUSTED_PROXIES', () => {
  it('takes addresses and CIDR ranges, IPv4 and IPv6', () => {
    const config = loadConfig(
      testEnv({ TRUSTED_PROXIES: '10.0.0.0/8, 192.168.1.10,::1,fd00::/8' }),
    );
    expect(config.http.trustedProxies).toEqual(['10.0.0.0/8', '192.168.1.10', '::1', 'fd00::/8']);
    expect(loadConfig(testEnv()).http.trustedProxies).toEqual([]);
  });

  it.each([['proxy.internal'], ['10.0.0.0/33'], ['10.0.0.1, *'], ['2']])(
    'refuses %j with a message naming the variable',
    (value) => {
      expect(() => loadConfig(testEnv({ TRUSTED_PROXIES: value }))).toThrow(ConfigError);
      expect(() => loadConfig(testEnv({ TRUSTED_PROXIES: value }))).toThrow(/^TRUSTED_PROXIES: /);
    },
  );
});

describe('failed-auth limiter memory (unit)', () => {
  it('keys a huge forwarded value by a short digest, and still blocks it', () => {
    const limiter = new FailedAuthLimiter();
    const pad = 'x'.repeat(15 * 1024);
    const keys = new Set(Array.from({ length: 2_000 }, (_, i) => keyOf(`${i}-${pad}`)));
    expect(keys.size).toBe(2_000);
    expect(Math.max(...[...keys].map((key) => key.length))).toBeLessThanOrEqual(45);
    expect(keyOf('2001:db8::1')).toBe('2001:db8::1');

    const attacker = `attacker-${pad}`;
    for (let i = 0; i < 21; i++) limiter.recordFailure(attacker);
    expect(() => limiter.assertNotBlocked(attacker)).toThrow(/too many failed/);
    expect(() => limiter.assertNotBlocked(`other-${pad}`)).not.toThrow();
  });

  it('holds at most MAX_TRACKED_ADDRESSES addresses: the least recent is forgotten', () => {
    const limiter = new FailedAuthLimiter();
    const max = FailedAuthLimiter.MAX_TRACKED_ADDRESSES;
    const first = '192.0.2.1';
    for (let i = 0; i < 21; i++) limiter.recordFailure(first);
    expect(() => limiter.assertNotBlocked(first)).toThrow(/too many failed/);
    const address = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    // With `max - 1` others beside it, it is still held (and reading it makes it the most recent).
    for (let i = 0; i < max - 1; i++) limiter.recordFailure(address(i));
    expect(() => limiter.assertNotBlocked(first)).toThrow(/too many failed/);
    // `max - 1` newer ones again fill the cache with `first` the least recent; one more drops it.
    for (let i = max; i < 2 * max - 1; i++) limiter.recordFailure(address(i));
    limiter.recordFailure(address(2 * max));
    expect(() => limiter.assertNotBlocked(first)).not.toThrow();
  });
});
