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

/** Every name dropped on the way to RD / to the caller, in one set each: one lookup per header. */
const DROPPED_TO_RD = new Set([...HOP_BY_HOP, ...NOT_TO_RD]);
const DROPPED_TO_CALLER = new Set([...HOP_BY_HOP, ...NOT_TO_CALLER]);

/** Headers a `Connection` header names are hop-by-hop too (RFC 9110 §7.6.1); rarely any. */
function namedByConnection(headers: IncomingHttpHeaders): Set<string> | undefined {
  const value = headers.connection;
  // What nearly every client and RD send: it names only `keep-alive`, dropped anyway.
  if (value === undefined || value === 'keep-alive') return undefined;
  const list = Array.isArray(value) ? value.join(',') : value;
  const named = new Set<string>();
  for (const name of list.split(',')) {
    const trimmed = name.trim().toLowerCase();
    if (trimmed) named.add(trimmed);
  }
  return named;
}

/** `proxy-*` and `x-forwarded-*`: the first character rules out almost every other name. */
function droppedByPrefix(name: string): boolean {
  const first = name.charCodeAt(0);
  return (
    (first === 112 /* p */ && name.startsWith('proxy-')) ||
    (first === 120 /* x */ && name.startsWith('x-forwarded-'))
  );
}

/**
 * The caller's W3C trace context. A traced broker sends RD its own child `traceparent` (undici's
 * instrumentation adds it), which replaces the caller's; untraced, the caller's goes through.
 */
function isTraceContext(name: string): boolean {
  return name === 'traceparent' || name === 'tracestate';
}

/**
 * The caller's headers as RD receives them, with the connection's token as the only credential.
 * One pass over the headers, no intermediate arrays (this runs on every proxied call).
 */
export function headersForRd(
  incoming: IncomingHttpHeaders,
  accessToken: string,
  options?: { traced?: boolean },
): Record<string, string | string[]> {
  const traced = options?.traced === true;
  const connectionNamed = namedByConnection(incoming);
  const out: Record<string, string | string[]> = {};
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined || DROPPED_TO_RD.has(name) || droppedByPrefix(name)) continue;
    if (connectionNamed?.has(name) || (traced && isTraceContext(name))) continue;
    out[name] = value;
  }
  out.authorization = `Bearer ${accessToken}`;
  return out;
}

/** RD's answer headers as the caller receives them, in one pass. */
export function headersForCaller(fromRd: IncomingHttpHeaders): Record<string, string | string[]> {
  const connectionNamed = namedByConnection(fromRd);
  const out: Record<string, string | string[]> = {};
  for (const name in fromRd) {
    const value = fromRd[name];
    if (value === undefined || DROPPED_TO_CALLER.has(name) || droppedByPrefix(name)) continue;
    if (connectionNamed?.has(name)) continue;
    out[name] = value;
  }
  const rdRequestId = fromRd['x-request-id'];
  if (rdRequestId !== undefined && !connectionNamed?.has('x-request-id'))
    out['x-rd-request-id'] = rdRequestId;
  return out;
}
