/**
 * Whether `returnTo` may receive the browser after the callback: an absolute http(s) URL whose
 * origin equals an allowlisted prefix's origin and whose path continues the prefix's path. The
 * comparison is on parsed URLs, so `https://app.example.com.evil.test`, `//evil.test`,
 * `https://app.example.com@evil.test` and encoded tricks do not pass a string prefix test.
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
  if (!['http:', 'https:'].includes(url.protocol) || url.username || url.password) return false;
  return allowlist.some((entry) => {
    const prefix = new URL(entry);
    if (prefix.origin !== url.origin) return false;
    const base = prefix.pathname.endsWith('/') ? prefix.pathname : `${prefix.pathname}/`;
    return (
      url.pathname === prefix.pathname || url.pathname.startsWith(base) || prefix.pathname === '/'
    );
  });
}

/** `returnTo` with the outcome appended as query parameters. */
export function withOutcome(returnTo: string, params: Record<string, string>): string {
  const url = new URL(returnTo);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  return url.toString();
}
