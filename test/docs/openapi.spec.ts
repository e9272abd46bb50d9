import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { serializeDocument } from '../../scripts/openapi';
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
