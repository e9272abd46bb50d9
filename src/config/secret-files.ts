import { readFileSync } from 'node:fs';

/**
 * The secrets that may come from a file instead (`<VAR>_FILE`), as Docker and Kubernetes mount
 * them and as the official database images read them.
 */
export const SECRET_VARIABLES = [
  'DATABASE_URL',
  'TOKEN_ENCRYPTION_KEY',
  'TOKEN_ENCRYPTION_PREVIOUS_KEYS',
  'API_KEYS',
  'ADMIN_API_KEYS',
  'RD_CRM_CLIENT_SECRET',
  'RD_MARKETING_CLIENT_SECRET',
  'EVENTS_WEBHOOK_SECRET',
] as const;

/**
 * The environment with every `<VAR>_FILE` read into `<VAR>` (one trailing newline trimmed, as
 * `echo secret > file` leaves one), and the problems found, each naming the variable: both forms
 * set, or a file that cannot be read. A problem never carries the file's content.
 */
export function readSecretFiles(env: Record<string, string | undefined>): {
  env: Record<string, string | undefined>;
  problems: string[];
} {
  const resolved = { ...env };
  const problems: string[] = [];
  for (const name of SECRET_VARIABLES) {
    const file = env[`${name}_FILE`];
    if (file === undefined || file === '') continue;
    delete resolved[`${name}_FILE`];
    if (env[name] !== undefined && env[name] !== '') {
      problems.push(`${name}: both ${name} and ${name}_FILE are set; keep one`);
      continue;
    }
    try {
      resolved[name] = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
      problems.push(`${name}_FILE: cannot read ${JSON.stringify(file)} (${code})`);
    }
  }
  return { env: resolved, problems };
}
