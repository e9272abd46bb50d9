/**
 * The statements of the rate budget (rate-budget.ts), in a module of their own so the benchmark
 * (bench/lib/proxy.ts) measures exactly what the broker runs. `$1` product, `$2` account.
 */

// The window rolls over inside the statement, on the database's clock (one clock for every
// replica). The WHERE is the sliding-window rule of rate-budget.policy.ts (`estimate` < limit): when it
// fails, nothing is written and no row comes back. The limit is the connection's own
// (PATCH /connections/:account), read by the statement itself so a change holds from the next
// call on every replica without any cache to expire; `$3` (RD_RATE_LIMIT_PER_MINUTE) otherwise.
const LIMIT = `COALESCE((SELECT c.rate_limit_per_minute FROM connections c
                          WHERE c.account = $2 AND c.product = $1), $3)`;
const ROLLED_USED = `CASE WHEN b.window_start = EXCLUDED.window_start THEN b.used ELSE 0 END`;
const ROLLED_PREVIOUS = `CASE WHEN b.window_start = EXCLUDED.window_start THEN b.previous_used
       WHEN b.window_start = EXCLUDED.window_start - interval '1 minute' THEN b.used
       ELSE 0 END`;
export const TAKE_SQL = `
  INSERT INTO rate_budgets AS b (product, account, window_start, used, previous_used)
  VALUES ($1, $2, date_trunc('minute', now()), 1, 0)
  ON CONFLICT (product, account) DO UPDATE SET
    previous_used = ${ROLLED_PREVIOUS},
    used = ${ROLLED_USED} + 1,
    window_start = EXCLUDED.window_start
  WHERE (b.paused_until IS NULL OR b.paused_until <= now())
    AND ${ROLLED_USED} + (${ROLLED_PREVIOUS})
        * (1 - extract(epoch FROM now() - EXCLUDED.window_start) / 60) < ${LIMIT}
  RETURNING used`;

/** One row as stored, the limit it was held to, and the database's clock, to explain a refusal. */
export const STATE_SQL = `
  SELECT window_start, used, previous_used, paused_until, now() AS now, ${LIMIT} AS "limit"
    FROM rate_budgets WHERE product = $1 AND account = $2`;

/** RD answered 429: hold the account for `$3` seconds (never shortening a longer hold). */
export const PAUSE_SQL = `
  INSERT INTO rate_budgets AS b (product, account, window_start, used, previous_used, paused_until)
  VALUES ($1, $2, date_trunc('minute', now()), 0, 0, now() + make_interval(secs => $3))
  ON CONFLICT (product, account) DO UPDATE
    SET paused_until = GREATEST(b.paused_until, EXCLUDED.paused_until)`;

/** Accounts with no call for two minutes and no hold running. */
export const PRUNE_SQL = `
  DELETE FROM rate_budgets
   WHERE window_start < now() - interval '2 minutes'
     AND (paused_until IS NULL OR paused_until < now())`;
