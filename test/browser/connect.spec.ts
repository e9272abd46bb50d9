/**
 * The connect flow in a real browser: headless Chromium driven by playwright-core, against an
 * in-process broker and fake RD Station. Chromium is CHROMIUM_PATH, or the first of `chromium`,
 * `chromium-browser` on PATH (Debian: `apt-get install -y chromium`; .ci/run installs it).
 * Without one, these tests are skipped with a printed reason on a developer's machine, and FAIL
 * under CI (CI set), as they do whenever Chromium cannot be launched.
 */
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { auth, createHarness, type Harness } from '../support/harness';
import { startTinyServer, type TinyServer } from '../support/tiny-server';

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function findChromium(): string | undefined {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const name of ['chromium', 'chromium-browser']) {
    const found = dirs.map((dir) => join(dir, name)).find(executable);
    if (found) return found;
  }
  return undefined;
}

const CHROMIUM = findChromium();
const MISSING =
  'no Chromium: set CHROMIUM_PATH or put chromium on PATH (apt-get install -y chromium)';
const inCi = Boolean(process.env.CI);
if (!CHROMIUM && !inCi) {
  // Not console.warn: jest prints no console output of a file whose tests were all skipped.
  process.stderr.write(`test/browser/connect.spec.ts skipped: ${MISSING}\n`);
}
/** Skipped only on a developer's machine without Chromium; under CI a missing browser fails. */
const describeInBrowser = CHROMIUM || inCi ? describe : describe.skip;

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/** What one page did: every request the browser made for it, console errors, uncaught errors. */
interface Watched {
  page: Page;
  requests: string[];
  /** URLs the page navigated to (redirects included). */
  documents: Set<string>;
  problems: string[];
}

/** A tiny stand-in for the calling app's page that `returnTo` points at; records each query. */
class ReturnApp {
  readonly hits: URL[] = [];
  private server?: TinyServer;
  url = '';

  async start(): Promise<void> {
    this.server = await startTinyServer((request, res) => {
      const url = new URL(request.url, this.url);
      if (url.pathname === '/favicon.ico') return void res.writeHead(204).end();
      this.hits.push(url);
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(
        '<!doctype html><html lang="en"><title>The app</title><h1>Back in the app</h1></html>',
      );
    });
    this.url = this.server.url;
  }

  async stop(): Promise<void> {
    await this.server?.close();
  }
}

describeInBrowser('connect flow in a real browser (Chromium)', () => {
  let h: Harness;
  let context: BrowserContext;
  let userDataDir: string;
  const app = new ReturnApp();
  let watched: Watched | undefined;

  beforeAll(async () => {
    if (!CHROMIUM) throw new Error(MISSING);
    if (!executable(CHROMIUM)) throw new Error(`CHROMIUM_PATH=${CHROMIUM} is not an executable`);
    userDataDir = mkdtempSync(join(tmpdir(), 'broker-chromium-'));
    try {
      // A persistent context on a fresh directory: nothing from another run (cookies, cache).
      context = await chromium.launchPersistentContext(userDataDir, {
        executablePath: CHROMIUM,
        args: CHROMIUM_ARGS,
        headless: true,
        timeout: 30_000,
      });
    } catch (error) {
      throw new Error(`could not launch ${CHROMIUM}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    context.setDefaultTimeout(15_000);

    await app.start();
    h = await createHarness({ env: { OAUTH_RETURN_URL_ALLOWLIST: `${app.url}/app/rd` } });
  });

  afterAll(async () => {
    await context?.close();
    await h?.close();
    await app.stop();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    // beforeAll already failed every test; do not run them against nothing.
    if (!context || !h) throw new Error('Chromium or the harness did not start (see above)');
    await h.db.dataSource.query('TRUNCATE connections, oauth_states, connection_events');
    h.rd.reset();
    app.hits.length = 0;
    await context.clearCookies();
    const page = await context.newPage();
    const current: Watched = { page, requests: [], documents: new Set(), problems: [] };
    watched = current;
    page.on('request', (request) => {
      current.requests.push(request.url());
      if (request.resourceType() === 'document') current.documents.add(request.url());
    });
    page.on('console', (message) => {
      if (message.type() !== 'error') return;
      const at = message.location().url;
      // Chrome logs a non-2xx document (the callback's 400 page; its status is asserted by the
      // test) and its own favicon.ico probe (the fake RD has no favicon) as failed loads.
      const expected =
        message.text().startsWith('Failed to load resource') &&
        (current.documents.has(at) || /^http:\/\/127\.0\.0\.1:\d+\/favicon\.ico$/.test(at));
      if (!expected) current.problems.push(`console: ${message.text()} (at ${at})`);
    });
    page.on('pageerror', (error) => current.problems.push(`page error: ${error.message}`));
    page.on('crash', () => current.problems.push('page crashed'));
  });

  afterEach(async () => {
    if (!watched) return;
    const { page, requests, problems } = watched;
    watched = undefined;
    await page.close();
    // Every page is self-contained: no console error, nothing fetched from outside this machine.
    expect(problems).toEqual([]);
    expect(requests.length).toBeGreaterThan(0);
    const external = requests.filter((url) => {
      const parsed = new URL(url);
      return parsed.protocol !== 'data:' && parsed.hostname !== '127.0.0.1';
    });
    expect(external).toEqual([]);
  });

  function currentPage(): Page {
    if (!watched) throw new Error('no page: beforeEach did not run');
    return watched.page;
  }

  async function authorizeUrl(body: Record<string, string>): Promise<string> {
    const res = await fetch(`${h.broker.url}/oauth/authorize-url`, {
      method: 'POST',
      headers: { authorization: auth.service, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { url: string }).url;
  }

  function token(account: string, product: string): Promise<Response> {
    return fetch(`${h.broker.url}/tokens/${account}?product=${product}`, {
      headers: { authorization: auth.service },
    });
  }

  /** Opens the consent URL, checks it is the fake RD page, clicks `button`; the landing answer. */
  async function decide(url: string, productName: string, button: 'Authorize' | 'Deny') {
    const page = currentPage();
    const consent = await page.goto(url);
    expect(consent?.status()).toBe(200);
    expect(new URL(page.url()).origin).toBe(h.rd.url);
    await expect(page.title()).resolves.toContain('Authorize');
    await page.getByRole('heading', { name: `${productName} (fake)` }).waitFor();

    const callback = page.waitForResponse((response) =>
      response.url().startsWith(`${h.broker.url}/oauth/callback?`),
    );
    await page.getByRole('button', { name: button }).click();
    const answer = await callback;
    await page.waitForLoadState('load');
    return answer;
  }

  it('Authorize: lands on the broker’s success page, and the token is then served', async () => {
    const page = currentPage();
    const url = await authorizeUrl({ account: 'browser-acme', product: 'crm' });

    const callback = await decide(url, 'RD Station CRM', 'Authorize');
    expect(callback.status()).toBe(200);
    expect(page.url()).toMatch(new RegExp(`^${h.broker.url}/oauth/callback\\?code=`));
    await expect(page.title()).resolves.toBe('Connected');
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Connected');
    // The outcome is announced to assistive technology (role=status) and says what happened.
    await expect(page.getByRole('status').innerText()).resolves.toContain(
      'RD Station CRM is now connected for account browser-acme',
    );

    const res = await token('browser-acme', 'crm');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      account: 'browser-acme',
      product: 'crm',
      tokenType: 'Bearer',
    });
  });

  it('Authorize with returnTo: the browser ends on the app with status=connected', async () => {
    const page = currentPage();
    const returnTo = `${app.url}/app/rd/done?tab=integrations`;
    const url = await authorizeUrl({ account: 'browser-beta', product: 'marketing', returnTo });

    const callback = await decide(url, 'RD Station Marketing', 'Authorize');
    expect(callback.status()).toBe(302);
    await page.getByRole('heading', { name: 'Back in the app' }).waitFor();

    const landed = new URL(page.url());
    expect(landed.origin + landed.pathname).toBe(`${app.url}/app/rd/done`);
    expect(Object.fromEntries(landed.searchParams)).toEqual({
      tab: 'integrations',
      status: 'connected',
      account: 'browser-beta',
      product: 'marketing',
    });
    // The app's server saw exactly that request.
    expect(app.hits.map((hit) => hit.pathname + hit.search)).toEqual([
      landed.pathname + landed.search,
    ]);

    expect((await token('browser-beta', 'marketing')).status).toBe(200);
  });

  it('Deny: shows the error page with a clear message, and nothing is connected', async () => {
    const page = currentPage();
    const url = await authorizeUrl({ account: 'browser-gamma', product: 'crm' });

    const callback = await decide(url, 'RD Station CRM', 'Deny');
    expect(callback.status()).toBe(400);
    expect(new URL(page.url()).searchParams.get('error')).toBe('access_denied');
    await expect(page.title()).resolves.toBe('Connection failed');
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe(
      'Connection failed',
    );
    // role=alert: announced immediately.
    await expect(page.getByRole('alert').innerText()).resolves.toContain(
      'The authorization was declined at RD Station. Nothing was connected.',
    );

    const res = await token('browser-gamma', 'crm');
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: 'not_connected' });
  });

  it('Deny with returnTo: the browser ends on the app with status=error', async () => {
    const page = currentPage();
    const returnTo = `${app.url}/app/rd/done`;
    const url = await authorizeUrl({ account: 'browser-delta', product: 'crm', returnTo });

    const callback = await decide(url, 'RD Station CRM', 'Deny');
    expect(callback.status()).toBe(302);
    await page.getByRole('heading', { name: 'Back in the app' }).waitFor();
    expect(Object.fromEntries(new URL(page.url()).searchParams)).toEqual({
      status: 'error',
      reason: 'access_denied',
      account: 'browser-delta',
      product: 'crm',
    });
    expect(app.hits).toHaveLength(1);
    expect((await token('browser-delta', 'crm')).status).toBe(404);
  });

  it('the Swagger UI at /docs renders the API from this machine alone', async () => {
    const page = currentPage();
    const res = await page.goto(`${h.broker.url}/docs`);
    expect(res?.status()).toBe(200);
    await page.getByText('/tokens/{account}', { exact: true }).first().waitFor();
    await page.getByText('/oauth/authorize-url', { exact: true }).first().waitFor();
  });
});
