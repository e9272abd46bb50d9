/**
 * The client's request and response types (client/src/openapi.ts), generated from openapi.json
 * by openapi-typescript and formatted by prettier, so the client cannot silently disagree with
 * the broker's document. Run by `npm run docs:openapi` whenever it writes openapi.json.
 *
 *   tsx scripts/client-types.ts            rewrite client/src/openapi.ts when it differs
 *   tsx scripts/client-types.ts --check    write nothing; exit 1 when it differs
 *   tsx scripts/client-types.ts --print    write nothing; print what the file should hold
 *
 * test/docs/openapi.spec.ts fails when the committed file differs from what this generates.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..');
const OPENAPI_FILE = join(ROOT, 'openapi.json');
export const CLIENT_TYPES_FILE = join(ROOT, 'client', 'src', 'openapi.ts');

const HEADER = `/**
 * Generated from openapi.json by scripts/client-types.ts (openapi-typescript + prettier): do not
 * edit. \`npm run docs:openapi\` regenerates it; test/docs/openapi.spec.ts fails when it drifts.
 */
`;

/** What client/src/openapi.ts should hold for this OpenAPI document (JSON text). */
export async function generateClientTypes(openapiJson: string): Promise<string> {
  // The package ships CommonJS typed as `export =`, but its runtime object has `default`.
  const { default: openapiTS, astToString } = require('openapi-typescript') as {
    default: typeof import('openapi-typescript');
    astToString: (ast: Awaited<ReturnType<typeof import('openapi-typescript')>>) => string;
  };
  const prettier = require('prettier') as typeof import('prettier');
  const ast = await openapiTS(JSON.parse(openapiJson) as Parameters<typeof openapiTS>[0], {
    exportType: false,
  });
  const body = astToString(ast);
  const options = (await prettier.resolveConfig(CLIENT_TYPES_FILE)) ?? {};
  return prettier.format(HEADER + body, { ...options, filepath: CLIENT_TYPES_FILE });
}

/** Regenerates (or, with `check`, compares) the file; true when it was already up to date. */
export async function syncClientTypes({ check }: { check: boolean }): Promise<boolean> {
  const generated = await generateClientTypes(readFileSync(OPENAPI_FILE, 'utf8'));
  const committed = existsSync(CLIENT_TYPES_FILE)
    ? readFileSync(CLIENT_TYPES_FILE, 'utf8')
    : undefined;
  if (committed === generated) return true;
  if (!check) {
    writeFileSync(CLIENT_TYPES_FILE, generated);
    console.log(`client-types: wrote ${CLIENT_TYPES_FILE}`);
  }
  return false;
}

if (require.main === module && process.argv.includes('--print')) {
  generateClientTypes(readFileSync(OPENAPI_FILE, 'utf8')).then(
    (generated) => process.stdout.write(generated),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
} else if (require.main === module) {
  const check = process.argv.includes('--check');
  syncClientTypes({ check }).then(
    (upToDate) => {
      if (upToDate) console.log('client-types: client/src/openapi.ts is up to date');
      else if (check) {
        console.error(
          'client-types: client/src/openapi.ts differs from openapi.json: run `npm run docs:openapi` and commit it',
        );
        process.exitCode = 1;
      }
    },
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
