import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { serializeDocument } from '../../scripts/openapi';
import { ERROR_CODES, isErrorCode } from '../../src/common/error-codes';
import { ADMIN_KEY, SERVICE_KEY, startBroker, type TestBroker } from '../support/broker';
import { createTestDatabase, type TestDatabase } from '../support/database';

const OPENAPI_FILE = join(__dirname, '../../openapi.json');
const REGENERATE = 'openapi.json is out of date: run `npm run docs:openapi` and commit the result';

interface Operation {
  summary?: string;
  responses?: Record<string, unknown>;
  security?: Record<string, string[]>[];
}
interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { securitySchemes?: Record<string, Record<string, string>> };
}

/** Every HTTP route of the broker's contract but /docs and /docs-json (which serve the document itself). */
const CONTRACT_ROUTES: [method: string, path: string, access: 'api key' | 'admin' | 'public'][] = [
  ['post', '/oauth/authorize-url', 'api key'],
  ['get', '/oauth/callback', 'public'],
  ['get', '/tokens/{account}', 'api key'],
  ['get', '/connections', 'admin'],
  ['get', '/connections/{account}', 'admin'],
  ['put', '/connections/{account}', 'admin'],
  ['post', '/connections/{account}/refresh', 'admin'],
  ['delete', '/connections/{account}', 'admin'],
  ['get', '/health/live', 'public'],
  ['get', '/health/ready', 'public'],
  ['get', '/metrics', 'public'],
];

interface MediaType {
  schema?: {
    example?: unknown;
    enum?: unknown[];
    properties?: Record<string, { enum?: unknown[] }>;
  };
  example?: unknown;
  examples?: Record<string, { value?: unknown }>;
}

/** The example bodies of a media type: its `example`, or the values of its `examples`. */
function examplesOf(media: MediaType | undefined): unknown[] {
  if (!media) return [];
  if (media.example !== undefined) return [media.example];
  return Object.values(media.examples ?? {}).map((example) => example.value);
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

function operations(doc: OpenApiDocument): [string, string, Operation][] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, operation]): [string, string, Operation] => [method, path, operation]),
  );
}

/** Every string under an `example`, `examples` or `default` key, with where it was found. */
function exampleStrings(value: unknown, at = '', inExample = false): [string, string][] {
  if (typeof value === 'string') return inExample ? [[at, value]] : [];
  if (Array.isArray(value))
    return value.flatMap((v, i) => exampleStrings(v, `${at}[${i}]`, inExample));
  if (value && typeof value === 'object') {
    return Object.entries(value).flatMap(([key, v]) =>
      exampleStrings(
        v,
        `${at}.${key}`,
        inExample || ['example', 'examples', 'default'].includes(key),
      ),
    );
  }
  return [];
}

/** Words that mark a value as an obvious placeholder. */
const FAKE_MARKER = /example|not-real|fake|dummy|placeholder|sample|…/i;

/** Why `text` looks like a real credential, or undefined when it plainly does not. */
function secretLike(text: string): string | undefined {
  if (text.includes(SERVICE_KEY) || text.includes(ADMIN_KEY)) return 'is a test API key';
  if (/eyJ[\w-]{8,}\.[\w-]{8,}/.test(text)) return 'contains a JWT';
  if (/\bBearer\s+\S{12,}/i.test(text)) return 'contains a bearer credential';
  if (/[a-z]+:\/\/[^/\s:@]+:[^/\s@]+@/i.test(text)) return 'contains a URL with a password';
  for (const word of text.match(/[A-Za-z0-9+/=_-]{20,}/g) ?? []) {
    if (FAKE_MARKER.test(word)) continue;
    if (/^[0-9a-f]{24,}$/i.test(word)) return `contains a hex blob (${word})`;
    const classes = [/[a-z]/, /[A-Z]/, /[0-9]/].filter((re) => re.test(word)).length;
    if (classes >= 2 && /[0-9]/.test(word)) return `contains an opaque token-like string (${word})`;
  }
  return undefined;
}

describe('OpenAPI document', () => {
  let db: TestDatabase;
  let broker: TestBroker;
  let served: OpenApiDocument;

  beforeAll(async () => {
    db = await createTestDatabase();
    broker = await startBroker(db.url);
    const res = await fetch(`${broker.url}/docs-json`);
    expect(res.status).toBe(200);
    served = (await res.json()) as OpenApiDocument;
  });
  afterAll(async () => {
    await broker?.close();
    await db?.drop();
  });

  it('is committed as openapi.json, identical to what the broker serves', () => {
    let committed: unknown;
    try {
      committed = JSON.parse(readFileSync(OPENAPI_FILE, 'utf8'));
    } catch (error) {
      throw new Error(`${REGENERATE} (${(error as Error).message})`, { cause: error });
    }
    const same = serializeDocument(committed) === serializeDocument(served);
    if (!same) {
      // The deep-equality diff shows what drifted; the message says how to fix it.
      expect({ [REGENERATE]: committed }).toEqual({ [REGENERATE]: served });
    }
    expect(same).toBe(true);
  });

  it('is pretty-printed with sorted keys and a trailing newline (as scripts/openapi.ts writes it)', () => {
    const text = readFileSync(OPENAPI_FILE, 'utf8');
    expect({ [REGENERATE]: text }).toEqual({
      [REGENERATE]: serializeDocument(JSON.parse(text)),
    });
  });

  it("gives the TypeScript client's types (client/src/openapi.ts), generated from it", () => {
    // openapi-typescript loads ES modules that jest's module system cannot: run it in a process.
    const generated = execFileSync(
      process.execPath,
      [require.resolve('tsx/cli'), join(__dirname, '../../scripts/client-types.ts'), '--print'],
      { encoding: 'utf8' },
    );
    const committed = readFileSync(join(__dirname, '../../client/src/openapi.ts'), 'utf8');
    const REGENERATE_CLIENT =
      'client/src/openapi.ts is out of date: run `npm run docs:openapi` and commit the result';
    if (committed !== generated)
      expect({ [REGENERATE_CLIENT]: committed }).toEqual({ [REGENERATE_CLIENT]: generated });
    expect(committed).toContain("'/tokens/{account}'");
    expect(committed).toContain('rejected?: string');
  });

  it('serves the Swagger UI at /docs', async () => {
    const res = await fetch(`${broker.url}/docs`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
  });

  it.each(CONTRACT_ROUTES)('documents %s %s with a summary and responses', (method, path) => {
    const operation = served.paths[path]?.[method];
    expect(operation).toBeDefined();
    expect(operation.summary?.trim()).toBeTruthy();
    expect(Object.keys(operation.responses ?? {}).length).toBeGreaterThan(0);
  });

  it('gives every operation a summary and at least one documented response', () => {
    for (const [method, path, operation] of operations(served)) {
      expect({ [`${method} ${path}`]: Boolean(operation.summary?.trim()) }).toEqual({
        [`${method} ${path}`]: true,
      });
      expect({ [`${method} ${path}`]: Object.keys(operation.responses ?? {}) }).toEqual({
        [`${method} ${path}`]: expect.arrayContaining([expect.stringMatching(/^(\d{3}|default)$/)]),
      });
    }
  });

  it('declares the bearer scheme on protected routes, and only there', () => {
    const scheme = served.components.securitySchemes?.bearer;
    expect(scheme).toMatchObject({ type: 'http', scheme: 'bearer' });
    // API keys are opaque secrets, not JWTs.
    expect(scheme?.bearerFormat).not.toBe('JWT');
    for (const [method, path, access] of CONTRACT_ROUTES) {
      const security = served.paths[path][method].security ?? [];
      const label = `${method} ${path}`;
      if (access === 'public') expect({ [label]: security }).toEqual({ [label]: [] });
      else expect({ [label]: security }).toEqual({ [label]: [{ bearer: [] }] });
    }
  });

  it('documents 401 on every protected route and 403 on admin routes', () => {
    for (const [method, path, access] of CONTRACT_ROUTES) {
      const codes = Object.keys(served.paths[path][method].responses ?? {});
      const label = `${method} ${path}`;
      if (access !== 'public')
        expect({ [label]: codes }).toEqual({ [label]: expect.arrayContaining(['401']) });
      if (access === 'admin')
        expect({ [label]: codes }).toEqual({ [label]: expect.arrayContaining(['403']) });
    }
  });

  /** Error responses whose body is not the broker's error JSON, each with why. */
  const OWN_ERROR_BODIES: Record<string, string> = {
    'get /health/ready 503': "the readiness probe's report, naming what is down",
  };

  it('gives every error response a body schema and an example', () => {
    const missing: string[] = [];
    for (const [method, path, operation] of operations(served)) {
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        if (!/^[45]\d\d$/.test(status)) continue;
        const content = (response as { content?: Record<string, MediaType> }).content ?? {};
        const media = Object.values(content);
        const label = `${method} ${path} ${status}`;
        if (media.length === 0) missing.push(`${label}: no body`);
        for (const m of media) {
          if (!m.schema) missing.push(`${label}: no schema`);
          if (examplesOf(m).length === 0 && m.schema?.example === undefined)
            missing.push(`${label}: no example`);
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it('shows, for every route and error status, examples whose statusCode and error match it', () => {
    const wrong: string[] = [];
    let checked = 0;
    for (const [method, path, operation] of operations(served)) {
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        const label = `${method} ${path} ${status}`;
        if (!/^[45]\d\d$/.test(status) || OWN_ERROR_BODIES[label]) continue;
        const json = (response as { content?: Record<string, MediaType> }).content?.[
          'application/json'
        ];
        if (!json) continue; // an HTML page (checked above for a body and an example)
        const codes = (json.schema?.properties?.error?.enum ?? []) as string[];
        if (codes.length === 0) wrong.push(`${label}: the schema names no error code`);
        for (const code of codes) {
          if (!isErrorCode(code) || ERROR_CODES[code].status !== Number(status))
            wrong.push(`${label}: the schema allows ${code}`);
        }
        for (const example of examplesOf(json)) {
          checked++;
          const body = example as { statusCode?: unknown; error?: unknown; message?: unknown };
          if (body.statusCode !== Number(status))
            wrong.push(`${label}: example statusCode ${String(body.statusCode)}`);
          if (
            typeof body.error !== 'string' ||
            !isErrorCode(body.error) ||
            ERROR_CODES[body.error].status !== Number(status) ||
            !codes.includes(body.error)
          )
            wrong.push(`${label}: example error ${String(body.error)}`);
          if (typeof body.message !== 'string' || body.message === '')
            wrong.push(`${label}: example without a message`);
        }
      }
    }
    expect(wrong).toEqual([]);
    expect(checked).toBeGreaterThan(50);
  });

  it('documents GET /tokens/{account} with one example per code of each error status', () => {
    const responses = served.paths['/tokens/{account}'].get.responses as Record<
      string,
      { content?: Record<string, MediaType> }
    >;
    const shown = Object.fromEntries(
      Object.entries(responses)
        .filter(([status]) => Number(status) >= 400)
        .map(([status, response]) => [
          status,
          examplesOf(response.content!['application/json']).map(
            (example) => (example as { error: string }).error,
          ),
        ]),
    );
    expect(shown).toEqual({
      '400': ['invalid_request'],
      '401': ['unauthorized'],
      '403': ['forbidden'],
      '404': ['not_connected'],
      '409': ['reauthorization_required'],
      '429': ['rate_limited'],
      '503': ['provider_unavailable', 'service_unavailable'],
    });
  });

  it('documents /proxy errors the same way, with their X-Broker-Error header', () => {
    for (const method of ['get', 'post', 'put', 'patch', 'delete']) {
      const responses = served.paths['/proxy/{rdPath}'][method].responses as Record<
        string,
        { content?: Record<string, MediaType>; headers?: Record<string, MediaType> }
      >;
      for (const [status, response] of Object.entries(responses)) {
        if (status === 'default') continue;
        const codes = examplesOf(response.content!['application/json']).map(
          (example) => (example as { error: string }).error,
        );
        expect(codes.length).toBeGreaterThan(0);
        expect(response.headers?.['X-Broker-Error'].schema?.enum).toEqual(codes);
      }
    }
  });

  it('has only fake values as examples', () => {
    const examples = exampleStrings(served);
    expect(examples.length).toBeGreaterThan(0);
    const suspicious = examples
      .map(([at, text]) => [at, secretLike(text)])
      .filter(([, why]) => why !== undefined);
    expect(suspicious).toEqual([]);
  });

  it('recognises secret-looking values (self-check of the example scan)', () => {
    expect(secretLike('example-access-token-not-real')).toBeUndefined();
    expect(secretLike('2026-11-26T12:00:00.000Z')).toBeUndefined();
    expect(secretLike('https://app.example.com/integrations/rd')).toBeUndefined();
    expect(
      secretLike('RD rejected the refresh token (invalid_grant): token revoked'),
    ).toBeUndefined();
    expect(secretLike(SERVICE_KEY)).toBeDefined();
    expect(secretLike('d2f1c0a9b8e7d6c5b4a39281706f5e4d')).toBeDefined();
    expect(secretLike('eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abc')).toBeDefined();
    expect(secretLike('Bearer 8f3kD92LmQp0zX7vB1nR')).toBeDefined();
    expect(secretLike('postgres://broker:s3cr3t@db:5432/broker')).toBeDefined();
    expect(secretLike('3kD92LmQp0zX7vB1nRtY5wA8')).toBeDefined();
  });
});
