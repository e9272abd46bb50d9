import { Agent } from 'undici';

/**
 * The connection pool for calls to RD (its OAuth servers and, through /proxy, its API): idle
 * sockets kept a while for the next call. The per-call AbortSignal is the hard deadline; these
 * timeouts only fail a stuck phase (connect, headers, body) sooner.
 */
export function rdAgent(timeoutMs: number): Agent {
  return new Agent({
    keepAliveTimeout: 10_000,
    keepAliveMaxTimeout: 60_000,
    connect: { timeout: timeoutMs },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
}
