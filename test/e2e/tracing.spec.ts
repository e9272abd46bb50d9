/**
 * OpenTelemetry end to end: a broker PROCESS (tracing starts before node:http, pg and undici load,
 * as in production) with OTEL_EXPORTER_OTLP_ENDPOINT at a local OTLP/HTTP receiver, the fake RD
 * and a real database. A caller's trace must run caller → broker → RD for /proxy and for a
 * refresh, the spans must reach the receiver, and no token, secret or query value may be in them.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { FakeRdStation } from '../fake-rd/fake-rd';
import { ADMIN_KEY, SERVICE_KEY } from '../support/broker';
import { startBrokerProcess } from '../support/broker-process';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { auth, connect } from '../support/harness';
import { attribute, CLIENT, SERVER, spansOf } from '../support/otlp';
import { freePort, waitFor, type BrokerProcess } from '../support/process';
import { startTinyServer, type TinyServer } from '../support/tiny-server';

jest.setTimeout(120_000);

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const random = (label: string) => `${label}-${randomBytes(24).toString('base64url')}`;

/** `00-<trace id>-<parent span id>-<flags>`. */
function parseTraceparent(value: unknown): { traceId: string; parentId: string } {
  expect(typeof value).toBe('string');
  const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/.exec(value as string);
  expect(match).not.toBeNull();
  return { traceId: match![1], parentId: match![2] };
}

describe('tracing (broker process with OTEL_EXPORTER_OTLP_ENDPOINT)', () => {
  const crmSecret = random('crm-secret');
  const queryValue = random('query-value');
  let db: TestDatabase;
  let rd: FakeRdStation;
  let receiver: TinyServer;
  let broker: BrokerProcess;

  beforeAll(async () => {
    const port = String(await freePort());
    rd = new FakeRdStation({
      clients: {
        crm: {
          clientId: 'crm-client',
          clientSecrets: [crmSecret],
          redirectUris: [`http://127.0.0.1:${port}/oauth/callback`],
        },
      },
    });
    await rd.start();
    receiver = await startTinyServer((_request, response) => {
      response.setHeader('content-type', 'application/json');
      response.end('{}');
    });
    db = await createTestDatabase();
    broker = await startBrokerProcess({
      PORT: port,
      DATABASE_URL: db.url,
      RD_API_URL: rd.url,
      RD_ACCOUNTS_URL: rd.url,
      RD_CRM_CLIENT_SECRET: crmSecret,
      RD_MARKETING_CLIENT_ID: '',
      RD_MARKETING_CLIENT_SECRET: '',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_SERVICE_NAME: 'broker-under-test',
    });
    expect((await connect({ broker }, 'acme', 'crm')).status).toBe(200);
  });

  afterAll(async () => {
    broker?.child.kill('SIGKILL');
    await rd?.stop();
    await receiver?.close();
    await db?.drop();
  });

  it("continues a caller's trace through /proxy to RD: RD receives a child traceparent of the broker's RD call span", async () => {
    const traceId = hex(16);
    const callerSpan = hex(8);
    const res = await fetch(`${broker.url}/proxy/crm/v2/contacts?email=${queryValue}`, {
      headers: {
        authorization: auth.service,
        'x-account': 'acme',
        traceparent: `00-${traceId}-${callerSpan}-01`,
        tracestate: 'caller=1',
      },
    });
    expect(res.status).toBe(200);
    const atRd = rd.apiCalls('/crm/v2/contacts').at(-1)!;
    // One traceparent: the broker's own, replacing the caller's.
    const sent = parseTraceparent(atRd.headers.traceparent);
    expect(sent.traceId).toBe(traceId);
    expect(sent.parentId).not.toBe(callerSpan);

    const spans = await waitFor(
      async () => {
        const inTrace = spansOf(receiver).filter((s) => s.traceId === traceId);
        return inTrace.some((s) => s.kind === SERVER) && inTrace.some((s) => s.kind === CLIENT)
          ? inTrace
          : undefined;
      },
      { timeoutMs: 10_000, what: 'the /proxy spans at the OTLP receiver' },
    );
    const server = spans.find((s) => s.kind === SERVER)!;
    expect(server.parentSpanId).toBe(callerSpan);
    expect(server.name).toBe('GET /proxy/*');
    expect(attribute(server, 'http.route')).toBe('/proxy/*');
    // The RD call is the broker's span under the request, and the parent RD was told of.
    const rdCall = spans.find((s) => s.kind === CLIENT && s.spanId === sent.parentId);
    expect(rdCall).toBeDefined();
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    let ancestor = rdCall;
    while (ancestor && ancestor.spanId !== server.spanId)
      ancestor = byId.get(ancestor.parentSpanId!);
    expect(ancestor).toBe(server);
    // The rate budget's statement is a database span of the same trace.
    const budget = spans.find((s) =>
      String(attribute(s, 'db.query.text')).includes('rate_budgets'),
    );
    expect(budget && attribute(budget, 'db.system.name')).toBe('postgresql');
  });

  it("continues a caller's trace through a request with a body (PATCH /connections, POST /proxy)", async () => {
    const patchTrace = hex(16);
    const patched = await fetch(`${broker.url}/connections/acme?product=crm`, {
      method: 'PATCH',
      headers: {
        authorization: auth.admin,
        'content-type': 'application/json',
        traceparent: `00-${patchTrace}-${hex(8)}-01`,
      },
      body: JSON.stringify({ rateLimitPerMinute: 500 }),
    });
    expect(patched.status).toBe(200);
    const proxyTrace = hex(16);
    const posted = await fetch(`${broker.url}/proxy/crm/v2/contacts`, {
      method: 'POST',
      headers: {
        authorization: auth.service,
        'x-account': 'acme',
        'content-type': 'application/json',
        traceparent: `00-${proxyTrace}-${hex(8)}-01`,
      },
      body: JSON.stringify({ name: 'Someone' }),
    });
    expect(posted.status).toBeLessThan(300);
    const atRd = rd.apiCalls('/crm/v2/contacts').at(-1)!;
    expect(atRd.method).toBe('POST');
    expect(parseTraceparent(atRd.headers.traceparent).traceId).toBe(proxyTrace);
    // The database work after the body was read belongs to the request's trace.
    await waitFor(
      async () => {
        const spans = spansOf(receiver);
        const update = spans.find(
          (s) =>
            s.traceId === patchTrace &&
            String(attribute(s, 'db.query.text')).includes('rate_limit_per_minute'),
        );
        return update && spans.some((s) => s.traceId === proxyTrace && s.kind === CLIENT)
          ? true
          : undefined;
      },
      { timeoutMs: 10_000, what: 'the PATCH and POST spans' },
    );
  });

  it("continues a caller's trace into a refresh: a `token refresh` span, and RD's token call carries the trace", async () => {
    const traceId = hex(16);
    const res = await fetch(`${broker.url}/connections/acme/refresh?product=crm`, {
      method: 'POST',
      headers: { authorization: auth.admin, traceparent: `00-${traceId}-${hex(8)}-01` },
    });
    expect(res.status).toBe(200);
    const refreshCall = rd.calls.filter((c) => c.grantType === 'refresh_token').at(-1)!;
    const sent = parseTraceparent(refreshCall.traceparent);
    expect(sent.traceId).toBe(traceId);

    const spans = await waitFor(
      async () => {
        const inTrace = spansOf(receiver).filter((s) => s.traceId === traceId);
        return inTrace.some((s) => s.spanId === sent.parentId) &&
          inTrace.some((s) => s.name === 'token refresh')
          ? inTrace
          : undefined;
      },
      { timeoutMs: 10_000, what: 'the refresh spans at the OTLP receiver' },
    );
    const refresh = spans.find((s) => s.name === 'token refresh')!;
    expect(attribute(refresh, 'broker.refresh.trigger')).toBe('forced');
    expect(attribute(refresh, 'broker.refresh.outcome')).toBe('refreshed');
    const rdCall = spans.find((s) => s.spanId === sent.parentId)!;
    expect(rdCall.kind).toBe(CLIENT);
    expect(rdCall.parentSpanId).toBe(refresh.spanId);
    expect(spans.find((s) => s.kind === SERVER)?.name).toBe('POST /connections/:account/refresh');
  });

  it('exports no token, secret, code or query value in any span', async () => {
    // A read (on its own trace), so the served token is one the spans could have seen.
    const read = await fetch(`${broker.url}/tokens/acme?product=crm&minValidity=60`, {
      headers: { authorization: auth.service },
    });
    expect(read.status).toBe(200);
    const { accessToken } = (await read.json()) as { accessToken: string };
    await waitFor(
      async () =>
        spansOf(receiver).some((s) => s.name === 'GET /tokens/:account') ? true : undefined,
      { timeoutMs: 10_000, what: 'the read span' },
    );
    const secrets = new Set([
      SERVICE_KEY,
      ADMIN_KEY,
      crmSecret,
      queryValue,
      accessToken,
      rd.grantOf(accessToken)!.refreshToken,
    ]);
    for (const call of rd.calls) {
      for (const value of [call.code, call.refreshToken, call.clientSecret])
        if (value) secrets.add(value);
    }
    // Keys, client secret, query value, and every token generation (connect's code, refreshes).
    expect(secrets.size).toBeGreaterThanOrEqual(7);
    const exported = receiver.requests.filter((r) => r.path === '/v1/traces');
    expect(exported.length).toBeGreaterThan(0);
    for (const request of exported) {
      // OTLP/HTTP protobuf, the default encoding: strings are in it as UTF-8.
      expect(request.headers['content-type']).toBe('application/x-protobuf');
      for (const secret of secrets) expect(request.bytes.includes(secret)).toBe(false);
    }
    // No query string of an incoming request, and no URL of one (its route stands for it).
    for (const span of spansOf(receiver)) {
      for (const { key, value } of span.attributes ?? []) {
        const text = JSON.stringify(value);
        expect({ span: span.name, key, hasQuery: /\?[^"]*=/.test(text) }).toEqual({
          span: span.name,
          key,
          hasQuery: false,
        });
      }
      if (span.kind === SERVER) {
        for (const key of ['http.target', 'http.url', 'url.full', 'url.path', 'url.query'])
          expect(attribute(span, key)).toBeUndefined();
      }
    }
    // The resource names the service as OTEL_SERVICE_NAME says (the SDK reads OTEL_* itself).
    expect(exported[0].bytes.includes('broker-under-test')).toBe(true);
  });
});

describe('tracing off (no OTEL_EXPORTER_OTLP_ENDPOINT)', () => {
  /** Whether loading the broker as main.ts does loads any OpenTelemetry SDK or instrumentation. */
  function sdkLoaded(env: Record<string, string>): boolean {
    const dist = join(__dirname, '..', '..', 'dist');
    const script = `
      require(${JSON.stringify(join(dist, 'tracing', 'preload.js'))});
      require(${JSON.stringify(join(dist, 'app.js'))});
      const loaded = Object.keys(require.cache).filter((file) =>
        /@opentelemetry[\\\\/](sdk-|instrumentation|exporter|resources)/.test(file));
      process.stdout.write(String(loaded.length > 0));`;
    return (
      execFileSync(process.execPath, ['-e', script], {
        env: { PATH: process.env.PATH ?? '', ...env },
        encoding: 'utf8',
      }) === 'true'
    );
  }

  it('warns at start where AsyncLocalStorage runs a hook per promise (Node 22 without AsyncContextFrame), and only there', () => {
    const tracing = join(__dirname, '..', '..', 'dist', 'tracing', 'tracing.js');
    const warningWith = (flags: string[]) =>
      execFileSync(
        process.execPath,
        [
          ...flags,
          '-e',
          `process.stdout.write(require(${JSON.stringify(tracing)}).contextCostWarning() ?? '')`,
        ],
        { env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8' },
      );
    const major = Number(process.versions.node.split('.')[0]);
    if (major >= 24) {
      expect(warningWith([])).toBe('');
      expect(warningWith(['--no-async-context-frame'])).toContain(
        '--experimental-async-context-frame',
      );
    } else {
      expect(warningWith([])).toContain('--experimental-async-context-frame');
      // The flag exists from Node 22 (the tools' Node 20 refuses it; the broker needs >= 22.13).
      if (major >= 22) expect(warningWith(['--experimental-async-context-frame'])).toBe('');
    }
  });

  it('loads no OpenTelemetry SDK, exporter or instrumentation; with the endpoint it does', () => {
    expect(sdkLoaded({})).toBe(false);
    expect(sdkLoaded({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' })).toBe(true);
  });
});
