import { parseRetryAfter } from '../rdstation/rdstation.errors';

/**
 * The proxy's rate budget as pure functions; rate-budget.sql.ts runs the same rule atomically in
 * PostgreSQL when a replica leases a block of units, and rate-budget.ts asks these only to
 * explain a refusal. test/unit/rate-budget-policy.spec.ts.
 *
 * The rule is a sliding-window counter (the approximation Cloudflare and nginx-style limiters
 * use): calls are counted per clock minute, and a call is allowed while
 *
 *     used(this minute) + used(previous minute) × (share of this minute still to come) < limit
 *
 * A fixed window alone would let a burst of `limit` calls at 12:00:59 be followed by another
 * `limit` at 12:01:00: twice RD's limit within two seconds, which RD answers with 429s. The
 * sliding estimate keeps any burst within `limit`, and it needs two counters in one row, so it
 * costs the same single upsert as a fixed window.
 */

export const WINDOW_MS = 60_000;

/** One row of `rate_budgets`, as last written. */
export interface BudgetState {
  windowStart: Date;
  used: number;
  previousUsed: number;
  pausedUntil: Date | null;
}

/** The counters as they stand at `now` (a row written in an older minute has rolled over). */
export function currentCounters(
  state: Pick<BudgetState, 'windowStart' | 'used' | 'previousUsed'>,
  now: number,
): { windowStart: number; used: number; previousUsed: number } {
  const windowStart = Math.floor(now / WINDOW_MS) * WINDOW_MS;
  const written = state.windowStart.getTime();
  if (written === windowStart)
    return { windowStart, used: state.used, previousUsed: state.previousUsed };
  if (written === windowStart - WINDOW_MS)
    return { windowStart, used: 0, previousUsed: state.used };
  return { windowStart, used: 0, previousUsed: 0 };
}

/** The sliding estimate of calls in the last minute. */
export function estimate(used: number, previousUsed: number, windowStart: number, now: number) {
  const elapsed = (now - windowStart) / WINDOW_MS;
  return used + previousUsed * (1 - elapsed);
}

/** Milliseconds until one more call fits, if nobody calls meanwhile (0: it fits now). */
export function msUntilAllowed(state: BudgetState, limit: number, now: number): number {
  const paused = state.pausedUntil ? state.pausedUntil.getTime() - now : 0;
  const { windowStart, used, previousUsed } = currentCounters(state, now);
  let waitMs: number;
  if (used >= limit) {
    // Nothing fits before the next minute; then this minute's calls weigh as the previous ones.
    const next = windowStart + WINDOW_MS;
    waitMs = next - now + WINDOW_MS * Math.max(0, 1 - limit / used);
  } else if (previousUsed > 0) {
    // used + previousUsed × (1 − f) < limit  ⇔  f > 1 − (limit − used) / previousUsed
    const f = 1 - (limit - used) / previousUsed;
    waitMs = windowStart + WINDOW_MS * f - now;
  } else {
    waitMs = 0;
  }
  // The rule is strict (`< limit`): the boundary itself is still refused, a moment after is not.
  if (waitMs > 0) waitMs += 1;
  return Math.max(0, waitMs, paused);
}

/**
 * Whole seconds until one more call fits, if nobody calls meanwhile (the `Retry-After` of a
 * refusal); at least 1.
 */
export function secondsUntilAllowed(state: BudgetState, limit: number, now: number): number {
  return Math.max(1, Math.ceil(msUntilAllowed(state, limit, now) / 1000));
}

/** RD's own pause when its 429 names none: the rest of a minute, as RD's limits are per minute. */
export const DEFAULT_RD_PAUSE_SECONDS = 60;

/**
 * Seconds of RD's `Retry-After` (read by the one parser, rdstation.errors.ts, which bounds it to
 * an hour so a gateway's bug cannot stop an account for days), at least 1; a default if absent.
 */
export function rdPauseSeconds(retryAfter: string | string[] | undefined, now: number): number {
  return Math.max(1, parseRetryAfter(retryAfter, now) ?? DEFAULT_RD_PAUSE_SECONDS);
}
