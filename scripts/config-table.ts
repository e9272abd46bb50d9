/**
 * `npm run docs:config`: the README's configuration table, generated from `envSchema`
 * (src/config/config.schema.ts): one row per variable, its default and its `describe()` text.
 *
 *   tsx scripts/config-table.ts           prints the table
 *   tsx scripts/config-table.ts --write   replaces the README region between the markers
 *
 * The table goes through prettier (the repository's settings, as for README.md), so
 * `npm run format` and `prettier --check` agree with what this script writes.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { envSchema } from '../src/config/config.schema';
import { SECRET_VARIABLES } from '../src/config/secret-files';

export const README_FILE = join(__dirname, '..', 'README.md');
export const START_MARKER = '<!-- config-table:start -->';
export const END_MARKER = '<!-- config-table:end -->';

export type DefaultOf =
  { kind: 'default'; value: unknown } | { kind: 'optional' } | { kind: 'required' };

export interface Variable {
  name: string;
  default: DefaultOf;
  description: string;
}

/** What JSON Schema says about one property: its default and its description. */
interface PropertySchema {
  default?: unknown;
  description?: string;
}

/** The schema of `{ [name]: schema }` as zod's own JSON Schema export sees it, in one direction. */
function jsonSchemaOf(name: string, schema: z.ZodType, io: 'input' | 'output') {
  // Transforms have no JSON Schema; `any` stands in for them (only defaults and texts are read).
  const json = z.toJSONSchema(z.object({ [name]: schema }), { io, unrepresentable: 'any' }) as {
    properties: Record<string, PropertySchema>;
    required?: string[];
  };
  return { property: json.properties[name], required: (json.required ?? []).includes(name) };
}

/**
 * What an unset variable becomes, read from zod's JSON Schema export: the default as written in
 * the environment (the input side's `default`, or, for a default given after a transform such as
 * `list.default([])`, the output side's); with none, required or optional as the input side says.
 */
export function inspectVariable(name: string, schema: z.ZodType): Variable {
  const input = jsonSchemaOf(name, schema, 'input');
  const output = jsonSchemaOf(name, schema, 'output');
  const description = (input.property.description ?? output.property.description)?.trim();
  if (!description) throw new Error(`${name}: the schema has no describe() text`);
  let found: DefaultOf;
  if (input.property.default !== undefined) {
    found = { kind: 'default', value: input.property.default };
  } else if (output.property.default !== undefined) {
    found = { kind: 'default', value: output.property.default };
  } else {
    found = input.required ? { kind: 'required' } : { kind: 'optional' };
  }
  return { name, default: found, description };
}

export function variables(): Variable[] {
  return Object.entries(envSchema.shape).map(([name, schema]) =>
    inspectVariable(name, schema as z.ZodType),
  );
}

/** A default as it would be written in the environment ('' for an empty list). */
export function envValue(value: unknown): string {
  if (Array.isArray(value)) {
    if (value.some((item) => typeof item === 'object' && item !== null)) {
      throw new Error(`cannot write the default ${JSON.stringify(value)} as an env value`);
    }
    return value.join(',');
  }
  if (['string', 'number', 'boolean'].includes(typeof value)) return String(value);
  throw new Error(`cannot write the default ${JSON.stringify(value)} as an env value`);
}

function code(text: string): string {
  return text.includes('`') ? `\`\` ${text} \`\`` : `\`${text}\``;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}

function defaultCell(variable: Variable): string {
  switch (variable.default.kind) {
    case 'required':
      return '**required**';
    case 'optional':
      return 'unset';
    case 'default': {
      const value = envValue(variable.default.value);
      return value === '' ? 'empty' : code(value);
    }
  }
}

/** Markdown as prettier formats it inside README.md (through its CLI: works under jest too). */
export function formatMarkdown(markdown: string): string {
  const cli = join(dirname(require.resolve('prettier/package.json')), 'bin', 'prettier.cjs');
  const result = spawnSync(process.execPath, [cli, '--stdin-filepath', README_FILE], {
    input: markdown,
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`prettier failed: ${result.stderr || result.error}`);
  return result.stdout;
}

/** The markdown table, one line per row, ending with a newline. */
export function configTable(): string {
  const rows = variables().map(
    (v) => `| ${code(v.name)} | ${cell(defaultCell(v))} | ${cell(v.description)} |`,
  );
  rows.push(
    `| \`<VAR>_FILE\` | unset | ${SECRET_VARIABLES.map(code).join(', ')} may each come from a file ` +
      'instead (Docker and Kubernetes secrets): `API_KEYS_FILE=/run/secrets/api_keys`; one ' +
      'trailing newline is trimmed. Setting both forms, or a file that cannot be read, is a ' +
      'configuration error |',
  );
  return formatMarkdown(
    ['| variable | default | meaning |', '| --- | --- | --- |', ...rows, ''].join('\n'),
  );
}

/** The text between the README markers (without them). */
export function readmeRegion(readme: string): string {
  const start = readme.indexOf(START_MARKER);
  const end = readme.indexOf(END_MARKER);
  if (start < 0 || end < start) {
    throw new Error(`README.md must contain ${START_MARKER} followed by ${END_MARKER}`);
  }
  return readme.slice(start + START_MARKER.length, end);
}

/** The README with the region replaced by the table (a blank line on either side). */
export function withTable(readme: string, table: string): string {
  const region = readmeRegion(readme);
  const start = readme.indexOf(START_MARKER) + START_MARKER.length;
  return `${readme.slice(0, start)}\n\n${table}\n${readme.slice(start + region.length)}`;
}

function main(): void {
  const table = configTable();
  if (!process.argv.includes('--write')) {
    process.stdout.write(table);
    return;
  }
  const readme = readFileSync(README_FILE, 'utf8');
  const updated = withTable(readme, table);
  if (updated === readme) {
    console.log('config-table: README.md is up to date');
    return;
  }
  writeFileSync(README_FILE, updated);
  console.log('config-table: wrote the configuration table into README.md');
}

if (require.main === module) main();
