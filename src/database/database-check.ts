import { Client } from 'pg';

const CONNECT_TIMEOUT_MS = 5_000;

/** The one line an operator reads when the database cannot be used at start (no password in it). */
export class DatabaseUnavailableError extends Error {}

/**
 * Connects once, before anything else starts, so a wrong DATABASE_URL is reported in one line
 * that says where (host, port, database, user) and why, instead of ten identical framework
 * retries and a stack. pg parses the URL itself, so the place named is the place it tried.
 */
export async function checkDatabase(url: string): Promise<{ warnings: string[] }> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  const where = `PostgreSQL at ${client.host}:${client.port}, database "${client.database}", user "${client.user}"`;
  let role: { recovery: boolean; standbys: number; sync_names: string };
  try {
    await client.connect();
    [role] = (await client.query(ROLE_SQL)).rows as Array<typeof role>;
  } catch (error) {
    throw new DatabaseUnavailableError(`cannot use ${where}: ${reason(error, client)}`);
  } finally {
    await client.end().catch(() => undefined);
  }
  if (role.recovery)
    throw new DatabaseUnavailableError(
      `cannot use ${where}: it is a standby (pg_is_in_recovery() is true); DATABASE_URL must point at the primary`,
    );
  const warnings: string[] = [];
  if (role.standbys > 0 && role.sync_names.trim() === '')
    warnings.push(
      `${where} streams to ${role.standbys} asynchronous standby(s) and synchronous_standby_names is empty: a failover to one of them loses the CRM grants rotated since its last replayed commit; use synchronous replication (README, "Running on PostgreSQL in production")`,
    );
  return { warnings };
}

/** One round trip: primary or standby, and whether its standbys are asynchronous. */
const ROLE_SQL = `
  SELECT pg_is_in_recovery() AS recovery,
         (SELECT count(*)::int FROM pg_stat_replication) AS standbys,
         current_setting('synchronous_standby_names') AS sync_names`;

function reason(error: unknown, client: Client): string {
  const { code, message } = error as { code?: string; message?: string };
  const text = withoutPassword(String(message ?? error), client);
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused: nothing listens there (ECONNREFUSED)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `the host name does not resolve (${code})`;
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `the host cannot be reached (${code})`;
    case '28P01':
      return 'password authentication failed (28P01)';
    case '28000':
      return `authentication refused: ${text} (28000)`;
    case '3D000':
      return `the database does not exist (3D000)`;
    case '57P03':
      return 'the server is starting up (57P03)';
    case '53300':
      return 'the server has no connection slot left (53300)';
  }
  if (/timeout/i.test(text)) return `no answer within ${CONNECT_TIMEOUT_MS / 1000} s`;
  return code ? `${text} (${code})` : text;
}

/** Server messages never carry the password; this makes sure of it for any other message. */
function withoutPassword(text: string, client: Client): string {
  const password = typeof client.password === 'string' ? client.password : '';
  return password.length > 0 ? text.split(password).join('[Redacted]') : text;
}
