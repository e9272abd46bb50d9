/**
 * `npm run docs:openapi` (also a step of `npm run build`): writes the OpenAPI document the
 * broker serves at /docs-json to `openapi.json`, pretty-printed, keys sorted, trailing newline,
 * and the TypeScript client's types generated from it (client/src/openapi.ts).
 *
 * The document is built from the compiled app in dist/ (tsc emits the decorator metadata that
 * @nestjs/swagger reads; tsx's esbuild does not), in Nest's preview mode: modules and routes are
 * scanned but no provider is instantiated, so no database is needed. When dist/ is not a build
 * of the current sources (scripts/build-state.ts), the script runs `npm run build` instead (which
 * ends by running this script again).
 *
 *   --built   called by `npm run build`: dist/ is fresh, skip the staleness check
 *   --check   write nothing; exit 1 when openapi.json differs from the generated document
 *   --write   write even when CI is set
 *
 * With CI set (and no --write), the committed file is never rewritten: a difference is reported
 * and left for test/docs/openapi.spec.ts to fail on, so CI checks what was committed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { syncClientTypes } from './client-types';
import type * as AppModuleFile from '../src/app.module';
import type * as ConfigFile from '../src/config/config';
import type * as SwaggerFile from '../src/swagger';
import { staleReason } from './build-state';

const ROOT = join(__dirname, '..');
export const OPENAPI_FILE = join(ROOT, 'openapi.json');
const DIST = join(ROOT, 'dist');
const BUILT_APP_MODULE = join(DIST, 'app.module.js');

/** The document as `openapi.json` holds it: object keys sorted at every level, arrays kept. */
export function serializeDocument(document: unknown): string {
  const sorted = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(sorted);
    if (value && typeof value === 'object') {
      return Object.fromEntries(
        Object.keys(value)
          .sort()
          .map((key) => [key, sorted((value as Record<string, unknown>)[key])]),
      );
    }
    return value;
  };
  return `${JSON.stringify(sorted(document), null, 2)}\n`;
}

/** Fixed, fake configuration: the routes and schemas do not depend on it (both products on). */
const DOCUMENT_ENV = {
  API_KEYS: 'openapi:openapi-generator-not-a-real-secret-0000',
  TOKEN_ENCRYPTION_KEY: Buffer.alloc(32).toString('base64'),
  RD_CRM_CLIENT_ID: 'openapi',
  RD_CRM_CLIENT_SECRET: 'openapi',
  RD_MARKETING_CLIENT_ID: 'openapi',
  RD_MARKETING_CLIENT_SECRET: 'openapi',
  DATABASE_URL: 'postgres://openapi@127.0.0.1:1/never-connected',
  SCHEDULER_ENABLED: 'false',
  LOG_LEVEL: 'silent',
};

/** Builds the document from dist/ without a database (Nest preview mode). */
async function generateDocument(): Promise<unknown> {
  if (!existsSync(BUILT_APP_MODULE)) {
    throw new Error(
      `${BUILT_APP_MODULE} is missing: run \`npm run build\` (is another build running?)`,
    );
  }
  const { AppModule } = require(BUILT_APP_MODULE) as typeof AppModuleFile;
  const { loadConfig } = require(join(DIST, 'config/config.js')) as typeof ConfigFile;
  const { buildOpenApiDocument } = require(join(DIST, 'swagger.js')) as typeof SwaggerFile;
  const { NestFactory } = require('@nestjs/core') as typeof import('@nestjs/core');
  const { FastifyAdapter } =
    require('@nestjs/platform-fastify') as typeof import('@nestjs/platform-fastify');

  const config = loadConfig(DOCUMENT_ENV);
  const app: INestApplication = await NestFactory.create(
    AppModule.register({
      ...config,
      database: { ...config.database, url: DOCUMENT_ENV.DATABASE_URL },
    }),
    new FastifyAdapter(),
    { preview: true, logger: false, abortOnError: false },
  );
  try {
    return buildOpenApiDocument(app);
  } finally {
    await app.close();
  }
}

async function main(): Promise<void> {
  const args = new Set(process.argv.slice(2));
  const check = args.has('--check') || (Boolean(process.env.CI) && !args.has('--write'));

  // `npm run build` ends with `--built`: dist/ was just compiled. Run alone, the script makes sure
  // dist/ is a build of the current sources (else the document would describe yesterday's routes).
  const stale = args.has('--built') ? undefined : staleReason();
  if (stale) {
    if (check) throw new Error(`${stale}: run \`npm run build\` first`);
    console.log(`openapi: ${stale}; running \`npm run build\`, which ends here`);
    const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
    process.exitCode = build.status ?? 1;
    return;
  }

  const generated = serializeDocument(await generateDocument());
  const committed = existsSync(OPENAPI_FILE) ? readFileSync(OPENAPI_FILE, 'utf8') : undefined;
  if (committed === generated) {
    console.log('openapi: openapi.json is up to date');
  } else if (check) {
    console.error(
      'openapi: openapi.json differs from the document the code generates: run `npm run docs:openapi` and commit it',
    );
    if (args.has('--check')) process.exitCode = 1;
  } else {
    writeFileSync(OPENAPI_FILE, generated);
    console.log(`openapi: wrote ${OPENAPI_FILE}`);
  }

  // The TypeScript client's types follow the document (scripts/client-types.ts).
  if (!(await syncClientTypes({ check })) && check) {
    console.error(
      'openapi: client/src/openapi.ts differs from openapi.json: run `npm run docs:openapi` and commit it',
    );
    if (args.has('--check')) process.exitCode = 1;
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
