/**
 * The statements of the rate budget (rate-budget.ts), in a module of their own so the benchmark
 * (bench/lib/proxy.ts) measures exactly what the broker runs. `$1` product, `$2` account.
 * Each is one statement, unnamed, with no session state: safe behind a transaction pooler.
 */

// The window rolls over inside the statement, on the database's clock (one clock for every
// replica). The limit is the connection's own (PATCH /connections/:account), read by the
// statement itself, so every lease is held to the value of the moment; `$3`
// (RD_RATE_LIMIT_PER_MINUTE) otherwise.
const LIMIT = `COALESCE((SELECT c.rate_limit_per_minute FROM connections c
                          WHERE c.account = $2 AND c.product = $1), $3)`;
const ROLLED_USED = `CASE WHEN b.window_start = EXCLUDED.window_start THEN b.used ELSE 0 END`;
const ROLLED_PREVIOUS = `CASE WHEN b.window_start = EXCLUDED.window_start THEN b.previous_used
       WHEN b.window_start = EXCLUDED.window_start - interval '1 minute' THEN b.used
       ELSE 0 END`;
/** The sliding estimate of rate-budget.policy.ts: this minute + the previous one, weighed. */
const ESTIMATE = `${ROLLED_USED} + (${ROLLED_PREVIOUS})
        * (1 - extract(epoch FROM now() - EXCLUDED.window_start) / 60)`;
/** Milliseconds left in this minute, by the database's clock. */
const MS_LEFT = `extract(epoch FROM date_trunc('minute', now()) + interval '1 minute' - now()) * 1000`;
/**
 * The block: what was asked for (`$4`), at most a quarter of what is left (a replica never takes
 * a small budget's last units from the others), at least one; never past the limit, because
 * `ceil(limit − estimate)` ≥ that and `used` + it ≤ the limit.
 */
const GRANT = `LEAST($4::int, GREATEST(1, floor((${LIMIT} - (${ESTIMATE})) / 4)))::int`;

/**
 * Leases a block of units: adds it to this minute's `used` and returns how many (`granted`), the
 * minute it belongs to and the milliseconds left in it. No row (or `granted` 0) when nothing
 * fits, the account is paused after RD's 429, or less than `$5` ms are left in the minute (units
 * are spent before their minute ends, and a call leaves them time to reach RD within it).
 */
export const LEASE_SQL = `
  INSERT INTO rate_budgets AS b (product, account, window_start, used, previous_used, granted)
  SELECT $1, $2, date_trunc('minute', now()), g, 0, g
    FROM (SELECT CASE WHEN ${MS_LEFT} > $5 THEN LEAST($4::int, GREATEST(1, floor(${LIMIT} / 4)))::int
                      ELSE 0 END AS g) AS first
  ON CONFLICT (product, account) DO UPDATE SET
    previous_used = ${ROLLED_PREVIOUS},
    granted = ${GRANT},
    used = ${ROLLED_USED} + ${GRANT},
    window_start = EXCLUDED.window_start
  WHERE (b.paused_until IS NULL OR b.paused_until <= now())
    AND ${MS_LEFT} > $5
    AND ${ESTIMATE} < ${LIMIT}
  RETURNING granted, window_start, (${MS_LEFT})::float8 AS ms_left`;

/** One row as stored, the limit it was held to, and the database's clock, to explain a refusal. */
export const STATE_SQL = `
  SELECT window_start, used, previous_used, paused_until, now() AS now, ${LIMIT} AS "limit"
    FROM rate_budgets WHERE product = $1 AND account = $2`;

/**
 * Units leased and not spent, given back (`$1` products, `$2` accounts, `$3` units, `$4` the
 * minute each was leased in): to this minute's count if it has not turned, to the previous
 * minute's (which still weighs on this one) if it has turned once, else nowhere.
 */
export const RETURN_SQL = `
  UPDATE rate_budgets b SET
    used = CASE WHEN b.window_start = r.window_start THEN GREATEST(0, b.used - r.units)
                ELSE b.used END,
    previous_used = CASE WHEN b.window_start = r.window_start + interval '1 minute'
                         THEN GREATEST(0, b.previous_used - r.units) ELSE b.previous_used END
    FROM unnest($1::text[], $2::text[], $3::int[], $4::timestamptz[])
      AS r(product, account, units, window_start)
   WHERE b.product = r.product AND b.account = r.account
     AND b.window_start IN (r.window_start, r.window_start + interval '1 minute')`;

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
