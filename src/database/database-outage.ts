/**
 * Errors that mean "PostgreSQL cannot be reached right now": socket errors of the pool, SQLSTATE
 * class 08 (connection exception), 57P01-57P03 (shutdown, crash, starting up), 53300 (too many
 * connections), and node-postgres's own wording for a cut or timed-out connection.
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

export function isDatabaseUnavailable(error: unknown, depth = 0): boolean {
  if (!(error instanceof Error) || depth > 4) return false;
  const code = errorCode(error);
  if (code && (DATABASE_UNAVAILABLE_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code))) return true;
  if (DATABASE_UNAVAILABLE_MESSAGE.test(error.message)) return true;
  const nested = [
    (error as { driverError?: unknown }).driverError,
    error.cause,
    ...(error instanceof AggregateError ? error.errors : []),
  ];
  return nested.some((inner) => isDatabaseUnavailable(inner, depth + 1));
}
