export interface BackoffOptions {
  /** The first step, in seconds. */
  baseSeconds?: number;
  /** No step is longer than this. */
  capSeconds?: number;
  /** The other side's Retry-After, in seconds: never retry before it. */
  retryAfter?: number | null;
  random?: () => number;
}

/**
 * The one backoff formula (refreshes and webhook deliveries): exponential from `baseSeconds`,
 * jittered to 50-100 % of the step so replicas do not retry in lockstep, capped, and never
 * before the other side's Retry-After.
 */
export function backoffSeconds(
  failures: number,
  {
    baseSeconds = 2,
    capSeconds = 300,
    retryAfter = null,
    random = Math.random,
  }: BackoffOptions = {},
): number {
  const step = Math.min(capSeconds, baseSeconds * 2 ** Math.max(0, failures - 1));
  return Math.max(Math.ceil(step * (0.5 + random() / 2)), retryAfter ?? 0);
}
