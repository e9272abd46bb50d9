import {
  currentCounters,
  estimate,
  rdPauseSeconds,
  secondsUntilAllowed,
  type BudgetState,
} from '../../src/proxy/rate-budget.policy';

const MINUTE = 60_000;
const W = Date.parse('2026-11-30T12:00:00Z');

/**
 * Whether one more call fits: the upsert's WHERE (rate-budget.sql.ts), stated over the policy's
 * own counters and estimate so the rule can be read and checked here.
 */
function allows(state: BudgetState, limit: number, now: number): boolean {
  if (state.pausedUntil && state.pausedUntil.getTime() > now) return false;
  const c = currentCounters(state, now);
  return estimate(c.used, c.previousUsed, c.windowStart, now) < limit;
}

function state(overrides: Partial<BudgetState> = {}): BudgetState {
  return { windowStart: new Date(W), used: 0, previousUsed: 0, pausedUntil: null, ...overrides };
}

describe('the sliding-window budget', () => {
  it('allows up to the limit in a fresh minute, then refuses until the next', () => {
    expect(allows(state({ used: 119 }), 120, W + 30_000)).toBe(true);
    expect(allows(state({ used: 120 }), 120, W + 30_000)).toBe(false);
    // 120 at 12:00:30, none since: at 12:01:00 the estimate is still 120, at 12:01:01 just under.
    expect(secondsUntilAllowed(state({ used: 120 }), 120, W + 30_000)).toBe(31);
    expect(allows(state({ used: 120 }), 120, W + MINUTE)).toBe(false);
    expect(allows(state({ used: 120 }), 120, W + MINUTE + 1_000)).toBe(true);
  });

  it("weighs the previous minute's calls by the share of this minute still to come", () => {
    expect(estimate(30, 120, W, W + 45_000)).toBe(60);
    // A burst at 12:00:59 cannot be followed by a second full burst at 12:01:00.
    const burst = state({ used: 120 });
    const rolled = { ...burst, windowStart: new Date(W) };
    expect(allows(rolled, 120, W + MINUTE + 1)).toBe(true); // 119.99…: one call
    expect(
      allows(
        { ...rolled, windowStart: new Date(W + MINUTE), used: 1, previousUsed: 120 },
        120,
        W + MINUTE + 1,
      ),
    ).toBe(false);
  });

  it('forgets a minute older than the previous one', () => {
    expect(allows(state({ used: 500 }), 120, W + 2 * MINUTE)).toBe(true);
  });

  it('says how long until the estimate drops under the limit', () => {
    // this minute 60, previous 120, at 12:00:15: 60 + 120 × 0.75 = 150 ≥ 120; fits when
    // 120 × (1 − f) < 60, f > 0.5: just after 12:00:30
    expect(secondsUntilAllowed(state({ used: 60, previousUsed: 120 }), 120, W + 15_000)).toBe(16);
    // over the limit in this minute: the rest of it plus the share of the next needed
    expect(secondsUntilAllowed(state({ used: 240 }), 120, W + 50_000)).toBe(41);
    expect(secondsUntilAllowed(state({ used: 10 }), 120, W + 10_000)).toBe(1);
  });

  it("refuses during RD's pause and says when it ends", () => {
    const paused = state({ used: 1, pausedUntil: new Date(W + 42_000) });
    expect(allows(paused, 120, W + 10_000)).toBe(false);
    expect(secondsUntilAllowed(paused, 120, W + 10_000)).toBe(32);
    expect(allows(paused, 120, W + 42_000)).toBe(true);
  });
});

describe('rdPauseSeconds', () => {
  it('reads delta-seconds and HTTP dates, defaults to a minute, and is bounded', () => {
    expect(rdPauseSeconds('30', W)).toBe(30);
    expect(rdPauseSeconds(['7'], W)).toBe(7);
    expect(rdPauseSeconds(new Date(W + 90_000).toUTCString(), W)).toBe(90);
    expect(rdPauseSeconds(undefined, W)).toBe(60);
    expect(rdPauseSeconds('soon', W)).toBe(60);
    expect(rdPauseSeconds('0', W)).toBe(1);
    expect(rdPauseSeconds('999999', W)).toBe(3600);
  });
});
