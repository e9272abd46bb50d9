import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Pool } from 'pg';
import type { Counter } from 'prom-client';
import { DataSource } from 'typeorm';
import type { ConnectionKey } from '../common/connection-key';
import type { ConfigType } from '@nestjs/config';
import type { Product } from '../config/config';
import { proxyConfig } from '../config/slices';
import { BrokerMetrics } from '../metrics/broker-metrics';
import { msUntilAllowed, WINDOW_MS, type BudgetState } from './rate-budget.policy';
import { LEASE_SQL, PAUSE_SQL, PRUNE_SQL, RETURN_SQL, STATE_SQL } from './rate-budget.sql';

export type BudgetDecision =
  { allowed: true } | { allowed: false; reason: 'budget' | 'rd_pause'; retryAfterSeconds: number };

type Child = ReturnType<Counter['labels']>;

const ALLOWED: BudgetDecision = Object.freeze({ allowed: true });

/** Most units one lease asks for. */
export const MAX_BLOCK = 10;
/**
 * How long leased units may be spent (never past their minute): long enough for an account at
 * RD's own pace (120 a minute, 2 a second) to fill a block, short enough that a lowered budget
 * or another replica's RD 429 meets at most one block per replica.
 */
export const LEASE_MS = 5_000;
/** How long a refusal is remembered without asking PostgreSQL: a raised budget shows within it. */
export const REFUSAL_MEMORY_MS = 1_000;
/**
 * Units are spent at least this long before their minute ends by the database's clock, so a
 * call leaves the broker in time to reach RD within the minute it was counted in; a lease asked
 * for later waits for the next minute (at most this long, once a minute).
 */
export const WINDOW_MARGIN_MS = 100;
const SWEEP_EVERY_MS = 1_000;
/** Leases one call may ask for before it is refused (they normally take one, or two at most). */
const MAX_LEASES_PER_CALL = 5;
const PRUNE_EVERY_MS = 10 * 60_000;
/** Local state of an account with no lease, refusal or call for this long is dropped. */
const FORGET_AFTER_MS = 2 * 60_000;

/** What this replica holds of one product × account's budget. */
interface Holding {
  /** Leased units not spent yet, spendable until `expiresAt` (performance.now() clock). */
  units: number;
  expiresAt: number;
  /** The minute (by the database's clock, epoch ms) the units were counted in. */
  windowStart: number;
  /** When the last lease was sent, and calls spent since: the next block's size (the pace). */
  leasedAt: number;
  spentSinceLease: number;
  /** Calls waiting for the lease in flight. */
  waiting: number;
  pending: Promise<BudgetDecision | null> | null;
  /** A refusal, remembered until `refusedUntil`, answered with Retry-After to `allowedAt`. */
  refusal: 'budget' | 'rd_pause' | null;
  refusedUntil: number;
  allowedAt: number;
}

interface StateRow {
  window_start: Date;
  used: number;
  previous_used: number;
  paused_until: Date | null;
  now: Date;
  limit: number;
}

/**
 * RD_RATE_LIMIT_PER_MINUTE per product × account (or the connection's own budget, read by the
 * lease statement itself: rate-budget.sql.ts), shared by every replica through PostgreSQL
 * without a round trip per call.
 *
 * **Why blocks.** One statement per proxied call cost a PostgreSQL round trip and ~85 µs of the
 * broker's CPU on every call, more than the rest of the proxy's own work. A replica instead
 * leases a block of units (one atomic upsert adds the block to the minute's count, so replicas
 * can never together take more than the limit) and spends it in memory: one statement per block.
 * The block follows the account's pace on this replica (1 + the calls spent from the previous
 * lease if it was taken less than LEASE_MS ago + the calls waiting, at most MAX_BLOCK), and the
 * statement grants at most a quarter of what is left, so a small budget is not stranded on one
 * replica (a budget of 3 is leased one unit at a time) and a rare caller leases one unit per call.
 *
 * **The window boundary.** Units count in the minute they were leased in (the database's clock,
 * one for all replicas) and are spendable only until WINDOW_MARGIN_MS before that minute ends
 * (and at most LEASE_MS), measured on this process's monotonic clock from the moment the lease
 * was *sent*, so the local deadline is never later than the database's, whatever the clocks say.
 * A lease asked for in that last margin waits for the next minute. Hence the calls sent in any
 * minute never exceed what that minute counted: the limit, across all replicas. The sliding
 * estimate (rate-budget.policy.ts) still weighs the previous minute on the next, as before.
 *
 * **Unspent units** are given back by a sweep every second once their lease lapsed, in one
 * statement for every account (to the minute's count, or to the previous minute's if it has
 * turned), and at shutdown. A crashed replica's unspent units are not given back: they stay
 * counted as spent in their minute (at most MAX_BLOCK per account per replica) and weigh on the
 * next minute through the sliding estimate; nothing else is lost.
 *
 * **Changes and RD's 429.** A refusal is remembered at most REFUSAL_MEMORY_MS, so a raised budget
 * (PATCH /connections/:account) holds on every replica within a second; a lowered one holds for
 * every lease at once, while units already leased (at most a block per replica) may still be
 * spent within their LEASE_MS. RD's 429 writes a pause into the account's row (every replica's
 * next lease is refused) and drops this replica's units at once; another replica may still
 * spend the block it holds before its next lease is refused, and RD answers those with its own
 * 429, which goes back to the caller.
 *
 * **No session state**: single unnamed statements on a small pool of its own, so PgBouncer in
 * transaction mode is fine. With the database down or read-only, units already leased are spent
 * (for at most LEASE_MS), then the lease fails and the call is answered 503 like any other
 * database failure. Rows of accounts idle for two minutes are pruned by each replica.
 */
@Injectable()
export class RateBudget implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(RateBudget.name);
  private readonly limit: number;
  private sweepTimer: NodeJS.Timeout | null = null;
  private pruneTimer: NodeJS.Timeout | null = null;
  /** By product, then account: no key string built per call. */
  private readonly holdings = new Map<Product, Map<string, Holding>>();
  private readonly statements: Record<'lease' | 'state' | 'return' | 'pause' | 'prune', Child>;
  private readonly leased: Child;
  private readonly returned: Child;
  /**
   * A small pool of its own, on node-postgres directly: no TypeORM query runner per statement,
   * and never queued behind the refresh transactions of the main pool.
   */
  private readonly pool: Pool;

  constructor(
    @Inject(proxyConfig.KEY) config: ConfigType<typeof proxyConfig>,
    @InjectDataSource() dataSource: DataSource,
    metrics: BrokerMetrics,
  ) {
    this.limit = config.rateLimitPerMinute;
    this.pool = new Pool({
      connectionString: (dataSource.options as { url?: string }).url,
      max: 10,
      connectionTimeoutMillis: 5_000,
      application_name: 'rdstation-token-broker:budget',
    });
    // An idle session that dies (a database restart) must not crash the process: the next query
    // opens a new one, and a query that fails is answered 503 by errorAnswer.
    this.pool.on('error', (error) => this.logger.warn({ err: error }, 'rate budget session lost'));
    // Label children made once: no label object per call.
    const statement = (name: string) => metrics.proxyBudgetStatements.labels(name);
    this.statements = {
      lease: statement('lease'),
      state: statement('state'),
      return: statement('return'),
      pause: statement('pause'),
      prune: statement('prune'),
    };
    this.leased = metrics.proxyBudgetUnits.labels('leased');
    this.returned = metrics.proxyBudgetUnits.labels('returned');
  }

  onApplicationBootstrap(): void {
    this.sweepTimer = setInterval(() => {
      this.sweep().catch((error: unknown) =>
        this.logger.warn({ err: error }, 'giving back unspent rate budget failed'),
      );
    }, SWEEP_EVERY_MS);
    this.sweepTimer.unref();
    this.pruneTimer = setInterval(() => {
      this.prune().catch((error: unknown) =>
        this.logger.warn({ err: error }, 'pruning rate budgets failed'),
      );
    }, PRUNE_EVERY_MS);
    this.pruneTimer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    await this.sweep(true).catch(() => undefined);
    await this.pool.end();
  }

  /**
   * Takes one call from the budget of `key`, or says why not and for how long. From units this
   * replica holds, synchronously; a promise only when a lease is needed.
   */
  take(key: ConnectionKey): BudgetDecision | Promise<BudgetDecision> {
    const holding = this.holding(key);
    return spendHeld(holding, performance.now()) ?? this.takeLeasing(key, holding);
  }

  private async takeLeasing(key: ConnectionKey, holding: Holding): Promise<BudgetDecision> {
    for (let leases = 0; ;) {
      const held = spendHeld(holding, performance.now());
      if (held) return held;
      if (holding.pending) {
        holding.waiting++;
        try {
          await holding.pending;
        } finally {
          holding.waiting--;
        }
        continue;
      }
      // The lease and the state disagreeing again and again (a moment apart, at a boundary of
      // the sliding estimate): refused for a second rather than asking in a loop.
      if (++leases > MAX_LEASES_PER_CALL) return this.remember(holding, 'budget', 1_000);
      holding.pending = this.lease(key, holding);
      try {
        const refused = await holding.pending;
        if (refused) return refused;
      } finally {
        holding.pending = null;
      }
    }
  }

  /** One lease statement; null when units were granted (or it is worth asking again). */
  private async lease(key: ConnectionKey, holding: Holding): Promise<BudgetDecision | null> {
    const sent = performance.now();
    const recent = sent - holding.leasedAt < LEASE_MS ? holding.spentSinceLease : 0;
    const wanted = Math.min(MAX_BLOCK, 1 + holding.waiting + recent);
    this.statements.lease.inc();
    const { rows } = await this.pool.query<{
      granted: number;
      window_start: Date;
      ms_left: number;
    }>(LEASE_SQL, [key.product, key.account, this.limit, wanted, WINDOW_MARGIN_MS]);
    const granted = rows[0]?.granted ?? 0;
    if (granted > 0) {
      this.giveBackLater(key, holding); // what an older lease left, if anything
      holding.units = granted;
      holding.windowStart = rows[0].window_start.getTime();
      holding.expiresAt = sent + Math.min(LEASE_MS, rows[0].ms_left - WINDOW_MARGIN_MS);
      holding.leasedAt = sent;
      holding.spentSinceLease = 0;
      this.leased.inc(granted);
      return null;
    }
    return this.explainRefusal(key, holding);
  }

  /** Nothing granted: paused, spent, or in the last moments of the minute (then wait for it). */
  private async explainRefusal(
    key: ConnectionKey,
    holding: Holding,
  ): Promise<BudgetDecision | null> {
    this.statements.state.inc();
    const { rows } = await this.pool.query<StateRow>(STATE_SQL, [
      key.product,
      key.account,
      this.limit,
    ]);
    // Pruned between the two statements: there is room again.
    if (rows.length === 0) return null;
    const row = rows[0];
    const now = row.now.getTime();
    const state: BudgetState = {
      windowStart: row.window_start,
      used: row.used,
      previousUsed: row.previous_used,
      pausedUntil: row.paused_until,
    };
    const paused = !!row.paused_until && row.paused_until.getTime() > now;
    const waitMs = msUntilAllowed(state, row.limit, now);
    if (!paused && waitMs === 0) {
      // It fits: the minute is about to turn (or another replica gave units back meanwhile).
      const msLeft = WINDOW_MS - (now % WINDOW_MS);
      if (msLeft <= WINDOW_MARGIN_MS) await sleep(msLeft + 1);
      return null;
    }
    return this.remember(holding, paused ? 'rd_pause' : 'budget', waitMs);
  }

  private remember(holding: Holding, reason: 'budget' | 'rd_pause', waitMs: number) {
    const now = performance.now();
    holding.refusal = reason;
    holding.allowedAt = now + waitMs;
    // Remembered at most REFUSAL_MEMORY_MS: a raised budget or a unit given back shows within it.
    holding.refusedUntil = now + Math.min(REFUSAL_MEMORY_MS, waitMs);
    return refusal(holding, now);
  }

  /** RD answered 429: no replica calls RD for this account for `seconds`. */
  async pause(key: ConnectionKey, seconds: number): Promise<void> {
    const holding = this.holding(key);
    holding.units = 0; // RD refuses them anyway; spent, not given back
    const now = performance.now();
    const longer = holding.refusal === 'rd_pause' ? holding.allowedAt - now : 0;
    this.remember(holding, 'rd_pause', Math.max(seconds * 1000, longer));
    this.statements.pause.inc();
    await this.pool.query(PAUSE_SQL, [key.product, key.account, seconds]);
  }

  /** Forgets accounts with no call for two minutes and no pause running. */
  async prune(): Promise<number> {
    this.statements.prune.inc();
    return (await this.pool.query(PRUNE_SQL)).rowCount ?? 0;
  }

  /** Units whose lease lapsed, by product × account, waiting for the next sweep. */
  private readonly toGiveBack = new Map<
    Product,
    Map<string, { units: number; windowStart: number }>
  >();

  private giveBackLater(key: ConnectionKey, holding: Holding): void {
    if (holding.units <= 0) return;
    let byAccount = this.toGiveBack.get(key.product);
    if (!byAccount) this.toGiveBack.set(key.product, (byAccount = new Map()));
    const queued = byAccount.get(key.account);
    // Two lapsed leases of different minutes: the newer one's units (the older ones stay spent).
    if (queued && queued.windowStart === holding.windowStart) queued.units += holding.units;
    else if (!queued || queued.windowStart < holding.windowStart)
      byAccount.set(key.account, { units: holding.units, windowStart: holding.windowStart });
    holding.units = 0;
  }

  /**
   * Every second: units of lapsed leases given back in one statement, and local state of idle
   * accounts dropped. `all` (shutdown) gives back every unit held.
   */
  async sweep(all = false): Promise<void> {
    const now = performance.now();
    for (const [product, byAccount] of this.holdings) {
      for (const [account, holding] of byAccount) {
        if (holding.units > 0 && (all || now >= holding.expiresAt))
          this.giveBackLater({ product, account }, holding);
        const idle =
          holding.units === 0 &&
          !holding.pending &&
          now - holding.leasedAt > FORGET_AFTER_MS &&
          now > holding.refusedUntil;
        if (idle) byAccount.delete(account);
      }
    }
    const products: string[] = [];
    const accounts: string[] = [];
    const units: number[] = [];
    const windows: Date[] = [];
    for (const [product, byAccount] of this.toGiveBack) {
      for (const [account, queued] of byAccount) {
        products.push(product);
        accounts.push(account);
        units.push(queued.units);
        windows.push(new Date(queued.windowStart));
      }
    }
    this.toGiveBack.clear();
    if (products.length === 0) return;
    this.statements.return.inc();
    // A failure leaves them counted as spent: never more than the limit, only less.
    await this.pool.query(RETURN_SQL, [products, accounts, units, windows]);
    this.returned.inc(units.reduce((a, b) => a + b, 0));
  }

  private holding({ product, account }: ConnectionKey): Holding {
    let byAccount = this.holdings.get(product);
    if (!byAccount) this.holdings.set(product, (byAccount = new Map()));
    let holding = byAccount.get(account);
    if (!holding) {
      holding = {
        units: 0,
        expiresAt: 0,
        windowStart: 0,
        leasedAt: -Infinity,
        spentSinceLease: 0,
        waiting: 0,
        pending: null,
        refusal: null,
        refusedUntil: 0,
        allowedAt: 0,
      };
      byAccount.set(account, holding);
    }
    return holding;
  }
}

/** A unit this replica holds, or the refusal it remembers; undefined when a lease is needed. */
function spendHeld(holding: Holding, now: number): BudgetDecision | undefined {
  if (holding.units > 0 && now < holding.expiresAt) {
    holding.units--;
    holding.spentSinceLease++;
    return ALLOWED;
  }
  if (holding.refusedUntil > now) return refusal(holding, now);
  return undefined;
}

function refusal(holding: Holding, now: number): BudgetDecision {
  return {
    allowed: false,
    reason: holding.refusal ?? 'budget',
    retryAfterSeconds: Math.max(1, Math.ceil((holding.allowedAt - now) / 1000)),
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
