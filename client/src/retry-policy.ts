/**
 * When a broker call is tried again, as pure functions (client/src/broker-client.ts does the IO):
 *
 *  - 503 and 429: after `Retry-After` (1 s when absent) plus jitter, while the waits of this call
 *    add up to no more than `maxRetryWaitMs`; a wait that would pass it is not started, and the
 *    error is thrown at once with its `retryAfter`.
 *  - No HTTP answer (refused, reset, timed out): at most `networkRetries` more times, after a
 *    short exponential backoff.
 *  - Anything else, every other 4xx included, never: trying again would get the same answer.
 */
export interface RetryLimits {
  maxRetryWaitMs: number;
  networkRetries: number;
}

export type RetryDecision = { retry: true; waitMs: number } | { retry: false };

const NETWORK_BACKOFF_BASE_MS = 100;

/** The shortest wait, even after `Retry-After: 0`: a broker that refuses is not asked again at once. */
const MIN_WAIT_MS = 100;

/**
 * `Retry-After` (1 s when absent; at least 100 ms) plus up to 20% (at least 100 ms) of jitter,
 * so callers refused together do not come back together.
 */
export function retryAfterWaitMs(
  retryAfterSeconds: number | undefined,
  random = Math.random,
): number {
  const baseMs = Math.max(MIN_WAIT_MS, (retryAfterSeconds ?? 1) * 1000);
  return Math.round(baseMs + random() * Math.max(MIN_WAIT_MS, baseMs * 0.2));
}

export function decideRetry(
  failure: { kind: 'status'; status: number; retryAfter?: number } | { kind: 'network' },
  state: { waitedMs: number; networkFailures: number },
  limits: RetryLimits,
  random = Math.random,
): RetryDecision {
  if (failure.kind === 'network') {
    if (state.networkFailures > limits.networkRetries) return { retry: false };
    const stepMs = NETWORK_BACKOFF_BASE_MS * 2 ** (state.networkFailures - 1);
    return { retry: true, waitMs: Math.round(stepMs * (0.5 + random() / 2)) };
  }
  if (failure.status !== 503 && failure.status !== 429) return { retry: false };
  const waitMs = retryAfterWaitMs(failure.retryAfter, random);
  if (state.waitedMs + waitMs > limits.maxRetryWaitMs) return { retry: false };
  return { retry: true, waitMs };
}
