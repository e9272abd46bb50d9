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

const SECRET_PARAMETERS = new Set([
  'code',
  'state',
  'token',
  'access_token',
  'refresh_token',
  'client_secret',
]);

/**
 * Paths whose last segment is a bearer secret: a connect or reconnect link's token. Matched in any
 * case and with any escapes, as a lenient router might; everything after the prefix is masked.
 */
const SECRET_PATH = /^(\/+(?:connect|oauth\/+reconnect)\/)[^?]*/i;

/**
 * The URL with the token of a link path and the value of every secret-bearing query parameter
 * replaced. Names are compared as the query parser reads them (percent- and `+`-decoded, any
 * case, with or without a `[…]` suffix), so `?%73tate=…&%63ode=…`, which the callback accepts as
 * state and code, is masked too.
 */
export function redactUrl(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  url = url.replace(SECRET_PATH, '$1[Redacted]');
  const queryStart = url.indexOf('?');
  if (queryStart < 0) return url;
  const pairs = url
    .slice(queryStart + 1)
    .split('&')
    .map((pair) => {
      const separator = pair.indexOf('=');
      const name = separator < 0 ? pair : pair.slice(0, separator);
      return separator >= 0 && isSecretParameter(name) ? `${name}=[Redacted]` : pair;
    });
  return `${url.slice(0, queryStart)}?${pairs.join('&')}`;
}

function isSecretParameter(rawName: string): boolean {
  let name = rawName.replace(/\+/g, ' ');
  try {
    name = decodeURIComponent(name);
  } catch {
    // A broken escape: compare the text as it is (and mask when in doubt below).
  }
  return SECRET_PARAMETERS.has(name.toLowerCase().replace(/\[.*$/, '').trim());
}
