/**
 * Errors that mean "PostgreSQL cannot be reached right now": socket errors of the pool, SQLSTATE
 * class 08 (connection exception), 57P01-57P03 (shutdown, crash, starting up), 53300 (too many
 * connections), and node-postgres's own wording for a cut or timed-out connection; and 25006,
 * a write refused by a read-only database or a standby.
 */
const DATABASE_UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  '57P01',
  '57P02',
  '57P03',
  '53300',
]);
const DATABASE_UNAVAILABLE_MESSAGE =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i;

export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** 25006 read_only_sql_transaction: a read-only database, or a standby (in recovery). */
const READ_ONLY = '25006';

export type DatabaseFailure = 'unreachable' | 'read_only';

/** What kind of "the database cannot do this now" `error` is, or null for any other error. */
export function databaseFailure(error: unknown, depth = 0): DatabaseFailure | null {
  if (!(error instanceof Error) || depth > 4) return null;
  const code = errorCode(error);
  if (code === READ_ONLY) return 'read_only';
  if (code && (DATABASE_UNAVAILABLE_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code)))
    return 'unreachable';
  if (DATABASE_UNAVAILABLE_MESSAGE.test(error.message)) return 'unreachable';
  const nested = [
    (error as { driverError?: unknown }).driverError,
    error.cause,
    ...(error instanceof AggregateError ? error.errors : []),
  ];
  for (const inner of nested) {
    const kind = databaseFailure(inner, depth + 1);
    if (kind) return kind;
  }
  return null;
}

/** Unreachable, or unable to write (read-only, in recovery): answered 503, never 500. */
export function isDatabaseUnavailable(error: unknown): boolean {
  return databaseFailure(error) !== null;
}
