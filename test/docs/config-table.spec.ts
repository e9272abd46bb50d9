import { readFileSync } from 'node:fs';
import { z } from 'zod';
import {
  README_FILE,
  configTable,
  envValue,
  inspectVariable,
  readmeRegion,
  variables,
  withTable,
  type DefaultOf,
} from '../../scripts/config-table';
import { envSchema } from '../../src/config/config.schema';
import { SECRET_VARIABLES } from '../../src/config/secret-files';

const REGENERATE =
  'the configuration table in README.md is out of date: run `npm run docs:config` and commit the result';

/**
 * The configuration table of the broker's contract (kept outside the repository, so copied here):
 * each variable and what leaving it unset means.
 */
const CONTRACT: Record<string, DefaultOf> = {
  PORT: { kind: 'default', value: 3000 },
  HOST: { kind: 'default', value: '0.0.0.0' },
  NODE_ENV: { kind: 'optional' },
  PUBLIC_URL: { kind: 'optional' }, // then http://localhost:$PORT, computed by loadConfig
  DATABASE_URL: { kind: 'optional' }, // unset = embedded
  DATA_DIR: { kind: 'default', value: './.data' },
  TOKEN_ENCRYPTION_KEY: { kind: 'optional' }, // required when NODE_ENV=production (loadConfig)
  TOKEN_ENCRYPTION_PREVIOUS_KEYS: { kind: 'default', value: '' },
  API_KEYS: { kind: 'optional' }, // required when NODE_ENV=production, else a generated dev key
  ADMIN_API_KEYS: { kind: 'default', value: '' },
  RD_CRM_CLIENT_ID: { kind: 'optional' },
  RD_CRM_CLIENT_SECRET: { kind: 'optional' },
  RD_MARKETING_CLIENT_ID: { kind: 'optional' },
  RD_MARKETING_CLIENT_SECRET: { kind: 'optional' },
  RD_API_URL: { kind: 'default', value: 'https://api.rd.services' },
  RD_ACCOUNTS_URL: { kind: 'default', value: 'https://accounts.rdstation.com' },
  RD_TIMEOUT_MS: { kind: 'default', value: 10000 },
  REFRESH_CRON: { kind: 'default', value: '*/1 * * * *' },
  REFRESH_AHEAD_SECONDS: { kind: 'default', value: 600 },
  REFRESH_CONCURRENCY: { kind: 'default', value: 8 },
  OAUTH_RETURN_URL_ALLOWLIST: { kind: 'default', value: '' },
  SCHEDULER_ENABLED: { kind: 'default', value: true },
  TOKEN_CACHE_MAX: { kind: 'default', value: 10000 },
  EVENTS_WEBHOOK_URL: { kind: 'optional' },
  LOG_LEVEL: { kind: 'default', value: 'info' },
};

/** A default compared as the environment would spell it (3000 and '3000', [] and ''). */
function asEnv(of: DefaultOf): DefaultOf {
  return of.kind === 'default' ? { kind: 'default', value: envValue(of.value) } : of;
}

describe('README configuration table', () => {
  const table = configTable();

  it('matches the table generated from src/config/config.schema.ts', () => {
    const readme = readFileSync(README_FILE, 'utf8');
    let region: string;
    try {
      region = readmeRegion(readme);
    } catch (error) {
      throw new Error(`${REGENERATE}: ${(error as Error).message}`, { cause: error });
    }
    const expected = readmeRegion(withTable(readme, table));
    expect({ [REGENERATE]: region }).toEqual({ [REGENERATE]: expected });
  });

  it('has a row, with a meaning, for every variable of the schema', () => {
    const rows = table.split('\n').filter((line) => /^\| `\w+`/.test(line));
    expect(rows.map((row) => /^\| `(\w+)`/.exec(row)![1])).toEqual(Object.keys(envSchema.shape));
    for (const row of rows) {
      const cells = row.split(/(?<!\\)\|/).map((c) => c.trim());
      expect(cells).toHaveLength(5); // '', variable, default, meaning, ''
      expect(cells[2]).not.toBe('');
      expect(cells[3].length).toBeGreaterThan(5);
    }
  });

  it('has a row for `<VAR>_FILE` naming every secret that may come from a file', () => {
    const row = table.split('\n').find((line) => line.startsWith('| `<VAR>_FILE`'));
    for (const name of SECRET_VARIABLES) expect(row).toContain(`\`${name}\``);
  });

  it('has every variable of the contract in the schema, with the contract’s default', () => {
    const schema = Object.fromEntries(variables().map((v) => [v.name, asEnv(v.default)]));
    const contract = Object.fromEntries(
      Object.entries(CONTRACT).map(([name, of]) => [name, asEnv(of)]),
    );
    expect(Object.keys(schema)).toEqual(expect.arrayContaining(Object.keys(contract)));
    for (const name of Object.keys(contract)) {
      expect({ [name]: schema[name] }).toEqual({ [name]: contract[name] });
    }
  });

  it.each(variables().map((v) => [v.name, v] as const))(
    '%s: the default in the table means the same as leaving the variable unset',
    (name, variable) => {
      const field = envSchema.shape[name as keyof typeof envSchema.shape] as z.ZodType;
      const unset = field.safeParse(undefined);
      switch (variable.default.kind) {
        case 'required':
          expect(unset.success).toBe(false);
          break;
        case 'optional':
          expect(unset).toEqual({ success: true, data: undefined });
          break;
        case 'default': {
          expect(unset.success).toBe(true);
          const written = field.safeParse(envValue(variable.default.value));
          expect(written).toEqual(unset);
        }
      }
    },
  );

  it('reads defaults and descriptions through zod wrappers', () => {
    const list = z.string().transform((value) => value.split(','));
    const cases: [z.ZodType, DefaultOf, string][] = [
      [z.coerce.number().int().default(5).describe('d'), { kind: 'default', value: 5 }, 'd'],
      [
        z
          .string()
          .default('a,b')
          .transform((v) => v)
          .describe('d'),
        { kind: 'default', value: 'a,b' },
        'd',
      ],
      [list.default([]).describe('d'), { kind: 'default', value: [] }, 'd'],
      [list.optional().describe('d'), { kind: 'optional' }, 'd'],
      [z.string().describe('inner').optional(), { kind: 'optional' }, 'inner'],
      [z.string().prefault('x').describe('d'), { kind: 'default', value: 'x' }, 'd'],
      [z.string().nullable().describe('d'), { kind: 'required' }, 'd'],
      [list.describe('d'), { kind: 'required' }, 'd'],
    ];
    for (const [schema, expected, description] of cases) {
      expect(inspectVariable('X', schema)).toEqual({ name: 'X', default: expected, description });
    }
    expect(() => inspectVariable('X', z.string())).toThrow('X: the schema has no describe() text');
  });
});
