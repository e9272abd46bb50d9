/**
 * What never reaches a log line. Paths are pino redact paths; query parameters are masked in
 * every logged URL (the OAuth callback carries the code and the state in its query string).
 */
const SECRET_FIELDS = [
  'accessToken',
  'access_token',
  'refreshToken',
  'refresh_token',
  'token',
  'code',
  'state',
  'secret',
  'clientSecret',
  'client_secret',
  'password',
  'authorization',
];

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  // A failed SQL statement (TypeORM QueryFailedError) carries its parameters: ciphertexts, hashes.
  'err.parameters',
  ...SECRET_FIELDS.flatMap((field) => [field, `*.${field}`, `*.*.${field}`]),
];

const SECRET_QUERY = /([?&](?:code|state|token|access_token|refresh_token|client_secret)=)[^&#]*/gi;

export function redactUrl(url: string | undefined): string | undefined {
  return url?.replace(SECRET_QUERY, '$1[Redacted]');
}
