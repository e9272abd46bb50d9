import { InvalidRequestError } from '../common/errors';

/** Where a proxied call goes: RD's own path and query, still percent-encoded as received. */
export interface ProxyTarget {
  /** Starts with `/`, e.g. `/crm/v2/contacts` or `/platform/contacts/email:x%40y.com`. */
  path: string;
  /** Without the `?`; empty when there is none. */
  query: string;
}

export const PROXY_PREFIX = '/proxy';

// A printable ASCII request target only: raw controls, spaces and bytes past 0x7e are refused.
const NOT_PRINTABLE = /[^\x21-\x7e]/;
// CR, LF and NUL, percent-encoded: a header or request-line injection further down the line.
const ENCODED_CONTROL = /%(0[0ad])/i;
// Slashes or backslashes hidden from a router, and double-encoded dots, slashes, backslashes.
const ENCODED_SEPARATOR = /%(2f|5c)|%25(2e|2f|5c)/i;
// `http:`, `https:`, `javascript:`... as the first segment: an absolute URL pasted after /proxy/.
const SCHEME = /^[a-z][a-z0-9+.-]*:$/i;

function refuse(message: string): never {
  throw new InvalidRequestError(`the RD path ${message}`);
}

/**
 * RD's path and query from the raw request target of `/proxy/<RD path>?<query>`, or a 400. This
 * is what keeps RD_API_URL the only host the proxy contacts: the result is appended to it, and
 * everything that could move a URL parser (or RD's own router) elsewhere — an absolute URL,
 * `//host`, `.` and `..` segments (also encoded), encoded slashes and backslashes, CR/LF — is
 * refused before any call. Messages never echo the URL (it may carry a customer's data).
 */
export function parseProxyTarget(rawUrl: string): ProxyTarget {
  if (!rawUrl.startsWith(`${PROXY_PREFIX}/`)) refuse('must follow /proxy/');
  if (NOT_PRINTABLE.test(rawUrl))
    refuse('and query must be printable ASCII (percent-encode the rest)');
  if (ENCODED_CONTROL.test(rawUrl)) refuse('and query must not contain CR, LF or NUL');
  if (rawUrl.includes('#')) refuse('must not contain a fragment');

  const queryAt = rawUrl.indexOf('?');
  const path = rawUrl.slice(PROXY_PREFIX.length, queryAt < 0 ? undefined : queryAt);
  const query = queryAt < 0 ? '' : rawUrl.slice(queryAt + 1);

  if (path.includes('\\')) refuse('must not contain a backslash');
  if (ENCODED_SEPARATOR.test(path)) refuse('must not contain encoded slashes or backslashes');
  const segments = path.slice(1).split('/');
  if (segments[0] === '') refuse('must not be empty or start with //');
  if (SCHEME.test(segments[0])) refuse('must be a path on RD, not an absolute URL');
  for (const [index, segment] of segments.entries()) {
    // A trailing slash is RD's business; an empty segment elsewhere is `//`.
    if (segment === '' && index !== segments.length - 1) refuse('must not contain //');
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      refuse('has malformed percent-encoding');
    }
    if (decoded === '.' || decoded === '..') refuse('must not contain . or .. segments');
  }
  return { path, query };
}

/**
 * The URL RD is called on. A last check that the result still names RD_API_URL's origin and
 * path prefix, whatever `parseProxyTarget` let through.
 */
export function rdUrl(apiUrl: string, target: ProxyTarget): string {
  const url = `${apiUrl}${target.path}${target.query ? `?${target.query}` : ''}`;
  const base = new URL(apiUrl);
  const parsed = new URL(url);
  const prefix = base.pathname.replace(/\/$/, '');
  if (parsed.origin !== base.origin || !parsed.pathname.startsWith(`${prefix}/`))
    refuse('does not stay on RD_API_URL');
  return url;
}

/** RD_API_URL split once: the origin undici connects to, and the path every RD path goes under. */
export function rdBase(apiUrl: string): { origin: string; prefix: string } {
  const base = new URL(apiUrl);
  return { origin: base.origin, prefix: base.pathname.replace(/\/$/, '') };
}

/**
 * The request target sent to RD's origin (rdBase) for a target parseProxyTarget let through: no
 * URL parsed per call. The origin is fixed by the dispatcher, so no path can leave it; a path
 * not starting with `/` (never from parseProxyTarget) is refused as rdUrl refuses it.
 */
export function rdRequestPath(prefix: string, target: ProxyTarget): string {
  if (target.path.charCodeAt(0) !== 47 /* / */) refuse('does not stay on RD_API_URL');
  return target.query ? `${prefix}${target.path}?${target.query}` : prefix + target.path;
}
