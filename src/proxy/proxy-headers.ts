import type { IncomingHttpHeaders } from 'node:http';

/** RFC 9110 §7.6.1: meaningful for one connection only, never forwarded by a proxy. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/**
 * What the caller sent that RD must never see: the caller's own credentials (its broker API key
 * rides in Authorization), cookies, the routing headers of the broker itself, and anything that
 * describes the caller's network. `content-length` and `host` are set again for RD's request.
 */
const NOT_TO_RD = new Set([
  'authorization',
  'cookie',
  'host',
  'content-length',
  'expect',
  'x-account',
  'x-product',
  'forwarded',
  'x-real-ip',
]);

/**
 * What RD sent that the caller must never see; X-Broker-Error and X-Request-Id are the broker's
 * to set (the broker's request id names its own log lines: RD's goes back as X-RD-Request-Id).
 */
const NOT_TO_CALLER = new Set(['set-cookie', 'set-cookie2', 'x-broker-error', 'x-request-id']);

/** Headers a `Connection` header names are hop-by-hop too (RFC 9110 §7.6.1). */
function namedByConnection(headers: IncomingHttpHeaders): Set<string> {
  const value = headers.connection;
  const list = Array.isArray(value) ? value.join(',') : (value ?? '');
  return new Set(
    list
      .split(',')
      .map((name) => name.trim().toLowerCase())
      .filter(Boolean),
  );
}

function dropped(name: string, extra: Set<string>, connectionNamed: Set<string>): boolean {
  return (
    HOP_BY_HOP.has(name) ||
    extra.has(name) ||
    connectionNamed.has(name) ||
    name.startsWith('proxy-') ||
    name.startsWith('x-forwarded-')
  );
}

/**
 * The caller's W3C trace context. A traced broker sends RD its own child `traceparent` (undici's
 * instrumentation adds it), which replaces the caller's; untraced, the caller's goes through.
 */
const TRACE_CONTEXT = new Set(['traceparent', 'tracestate']);

/** The caller's headers as RD receives them, with the connection's token as the only credential. */
export function headersForRd(
  incoming: IncomingHttpHeaders,
  accessToken: string,
  { traced = false }: { traced?: boolean } = {},
): Record<string, string | string[]> {
  const connectionNamed = namedByConnection(incoming);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || dropped(name, NOT_TO_RD, connectionNamed)) continue;
    if (traced && TRACE_CONTEXT.has(name)) continue;
    out[name] = value;
  }
  out.authorization = `Bearer ${accessToken}`;
  return out;
}

/** RD's answer headers as the caller receives them. */
export function headersForCaller(fromRd: IncomingHttpHeaders): Record<string, string | string[]> {
  const connectionNamed = namedByConnection(fromRd);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(fromRd)) {
    if (value === undefined || dropped(name, NOT_TO_CALLER, connectionNamed)) continue;
    out[name] = value;
  }
  const rdRequestId = fromRd['x-request-id'];
  if (rdRequestId !== undefined && !connectionNamed.has('x-request-id'))
    out['x-rd-request-id'] = rdRequestId;
  return out;
}
