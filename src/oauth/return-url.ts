/**
 * Whether `returnTo` may receive the browser after the callback: an absolute http(s) URL whose
 * origin equals an allowlisted prefix's origin and whose path continues the prefix's path. The
 * comparison is on parsed URLs, so `https://app.example.com.evil.test`, `//evil.test`,
 * `https://app.example.com@evil.test` and encoded tricks do not pass a string prefix test.
 *
 * The path is compared as the application behind it will read it: decoded. So anything that
 * decodes or normalises into another path is refused outright: encoded slashes and backslashes
 * (`..%2F..%2Flogout`), `;` path parameters (`..;/admin`, which Java servers strip), and `.`/`..`
 * segments left after decoding (including double-encoded ones).
 */
export function isAllowedReturnUrl(returnTo: string, allowlist: readonly string[]): boolean {
  // Printable ASCII only (IDNs and other characters come percent- or puny-encoded): no spaces,
  // CR/LF or other control characters; backslashes are refused because browsers read them as '/'.
  if (returnTo.length > 2048 || !/^[\x21-\x7e]+$/.test(returnTo) || returnTo.includes('\\'))
    return false;
  let url: URL;
  try {
    url = new URL(returnTo);
  } catch {
    return false;
  }
  if (!['http:', 'https:'].includes(url.protocol) || hasUserinfo(returnTo)) return false;
  const path = decodedPath(url.pathname);
  if (path === undefined) return false;
  return allowlist.some((entry) => {
    const prefix = new URL(entry);
    if (prefix.origin !== url.origin) return false;
    if (prefix.pathname === '/') return true;
    const base = prefix.pathname.endsWith('/') ? prefix.pathname : `${prefix.pathname}/`;
    const continues = (candidate: string) =>
      candidate === prefix.pathname || candidate.startsWith(base);
    return continues(url.pathname) && continues(path);
  });
}

/**
 * Userinfo of any kind, even empty (`https://:@host`, `https://@host`): the URL parser reports an
 * empty one as no userinfo at all, so the authority is read from the text itself.
 */
function hasUserinfo(text: string): boolean {
  const afterScheme = text.slice(text.indexOf(':') + 1).replace(/^\/\//, '');
  const authority = afterScheme.split(/[/?#]/, 1)[0];
  return authority.includes('@');
}

/**
 * The path decoded once, or undefined when it may mean another path to the application: a
 * decoding error, an encoded or decoded backslash, an encoded slash, a `;` parameter, a `%` left
 * after decoding (double encoding), or a `.`/`..` segment.
 */
function decodedPath(pathname: string): string | undefined {
  if (/%(2f|5c)/i.test(pathname) || pathname.includes(';')) return undefined;
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return undefined;
  }
  if (/[\\;%]|\p{Cc}/u.test(decoded)) return undefined;
  if (decoded.split('/').some((segment) => segment === '.' || segment === '..')) return undefined;
  return decoded;
}

/** `returnTo` with the outcome appended as query parameters. */
export function withOutcome(returnTo: string, params: Record<string, string>): string {
  const url = new URL(returnTo);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  return url.toString();
}
