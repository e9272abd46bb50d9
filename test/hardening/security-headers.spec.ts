/**
 * Security headers: the pages the browser sees at the end of a consent (success, error, and the
 * redirect to returnTo) are never cached, send no Referer (their URL carries a code), are not
 * sniffed or framed, and run under a CSP that allows nothing but their inline style. The JSON
 * API is never cached either. The Swagger UI, which needs scripts, still loads completely.
 */
import { auth, connect, createHarness, type Harness } from '../support/harness';

const RETURN_TO = 'https://app.example.com/rd/done';

function csp(header: string | null): Map<string, string[]> {
  const directives = new Map<string, string[]>();
  for (const part of (header ?? '').split(';')) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name) directives.set(name.toLowerCase(), values);
  }
  return directives;
}

function expectPageHeaders(res: Response) {
  expect(res.headers.get('cache-control')).toBe('no-store');
  expect(res.headers.get('referrer-policy')).toBe('no-referrer');
  expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  expect(res.headers.get('x-frame-options')).toBe('DENY');
  const policy = csp(res.headers.get('content-security-policy'));
  expect(policy.get('default-src')).toEqual(["'none'"]);
  expect(policy.get('frame-ancestors')).toEqual(["'none'"]);
  expect(policy.get('base-uri')).toEqual(["'none'"]);
  expect(policy.get('form-action')).toEqual(["'none'"]);
  // Scripts fall under default-src 'none': no script-src may loosen it.
  expect(policy.has('script-src')).toBe(false);
  expect(policy.get('style-src') ?? []).toEqual(["'unsafe-inline'"]);
}

async function expectSelfContainedPage(res: Response) {
  expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
  const html = await res.text();
  expect(html.toLowerCase()).not.toMatch(/<script|<iframe|<link|<img|src=|href=|url\(/);
  return html;
}

describe('security headers', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness({ env: { OAUTH_RETURN_URL_ALLOWLIST: 'https://app.example.com/rd' } });
  });
  afterAll(() => h.close());

  it.each(['crm', 'marketing'] as const)(
    'the %s success page: no-store, no-referrer, nosniff, framing denied, strict CSP',
    async (product) => {
      const res = await connect(h, 'acme', product);
      expect(res.status).toBe(200);
      expectPageHeaders(res);
      // No Accept-Language: Portuguese.
      expect(await expectSelfContainedPage(res)).toContain('está conectado à conta acme');
    },
  );

  it.each([
    ['an unknown state', '?state=unknown&code=abc'],
    ['no parameters', ''],
    ['a provider error', '?error=access_denied&state=unknown'],
  ])('the error page for %s: the same headers', async (_name, query) => {
    const res = await fetch(`${h.broker.url}/oauth/callback${query}`, {
      redirect: 'manual',
      headers: { 'accept-language': 'en-US,en;q=0.9' },
    });
    expect(res.status).toBe(400);
    expectPageHeaders(res);
    expect(await expectSelfContainedPage(res)).toContain('Connection failed');
  });

  it('the redirect to returnTo: the same headers, so the code in the URL goes nowhere else', async () => {
    const started = await fetch(`${h.broker.url}/oauth/authorize-url`, {
      method: 'POST',
      headers: { authorization: auth.service, 'content-type': 'application/json' },
      body: JSON.stringify({ account: 'acme', product: 'crm', returnTo: RETURN_TO }),
    });
    const { url } = (await started.json()) as { url: string };
    const consent = await fetch(url, {
      method: 'POST',
      body: new URLSearchParams({ decision: 'approve' }),
      redirect: 'manual',
    });
    const res = await fetch(consent.headers.get('location')!, { redirect: 'manual' });
    expect(res.status).toBe(302);
    expectPageHeaders(res);
    const location = new URL(res.headers.get('location')!);
    expect(`${location.origin}${location.pathname}`).toBe(RETURN_TO);
    expect([...location.searchParams.keys()].sort()).toEqual(['account', 'product', 'status']);
  });

  it('never lets a JSON answer be cached or sniffed, token answers above all', async () => {
    await connect(h, 'acme', 'crm');
    const answers = await Promise.all([
      fetch(`${h.broker.url}/tokens/acme?product=crm`, {
        headers: { authorization: auth.service },
      }),
      fetch(`${h.broker.url}/tokens/nobody?product=crm`, {
        headers: { authorization: auth.service },
      }),
      fetch(`${h.broker.url}/connections/acme`, { headers: { authorization: auth.admin } }),
      fetch(`${h.broker.url}/tokens/acme?product=crm`),
    ]);
    expect(answers.map((r) => r.status)).toEqual([200, 404, 200, 401]);
    for (const res of answers) {
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    }
  });

  it('keeps the Swagger UI working: the page, every asset it loads, and the OpenAPI document', async () => {
    const page = await fetch(`${h.broker.url}/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    // The callback's CSP (no scripts at all) must not reach the UI, which is all script.
    expect(csp(page.headers.get('content-security-policy')).get('default-src')).not.toEqual([
      "'none'",
    ]);
    const html = await page.text();
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map(([, ref]) => ref);
    expect(assets.some((ref) => ref.endsWith('swagger-ui-bundle.js'))).toBe(true);
    expect(assets.some((ref) => ref.endsWith('swagger-ui-init.js'))).toBe(true);
    expect(assets.some((ref) => ref.endsWith('.css'))).toBe(true);

    const expectedType: Record<string, RegExp> = {
      js: /javascript/,
      css: /^text\/css/,
      png: /^image\/png/,
    };
    for (const ref of assets) {
      const res = await fetch(new URL(ref, `${h.broker.url}/docs`));
      expect({ ref, status: res.status }).toEqual({ ref, status: 200 });
      const ext = ref.split('.').pop()!;
      if (expectedType[ext]) expect(res.headers.get('content-type')).toMatch(expectedType[ext]);
      const body = await res.text();
      expect(body.length).toBeGreaterThan(0);
      if (ref.endsWith('swagger-ui-init.js')) expect(body).toContain('/tokens/{account}');
    }

    const doc = await fetch(`${h.broker.url}/docs-json`);
    expect(doc.status).toBe(200);
    const openapi = (await doc.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(openapi.openapi).toMatch(/^3\./);
    expect(Object.keys(openapi.paths)).toEqual(
      expect.arrayContaining([
        '/tokens/{account}',
        '/oauth/authorize-url',
        '/oauth/callback',
        '/connections',
        '/connections/{account}',
      ]),
    );
  });
});
