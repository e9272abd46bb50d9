import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { memoByTwo } from '../common/memo';
import { CellCounter, CellHistogram, type HistogramCell } from './cells';

/**
 * Node's default metrics that promtool rejects: gauges named `_total`, a suffix Prometheus keeps
 * for counters. The same figures by type are in `nodejs_active_handles` / `_requests` /
 * `_resources` (`sum()` them for the total).
 */
const MISNAMED_DEFAULT_METRICS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

/**
 * Request durations: fine steps below 1 ms, where a cached token read answers (its p99 sat in
 * the lowest bucket, 0.5 ms, before they were added), up to 10 s.
 */
export const HTTP_DURATION_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
  10,
];

/**
 * Every metric the broker exposes on /metrics, in one registry per application instance (tests
 * run several in one process). Names follow Prometheus conventions: `_total` counters, base units.
 */
@Injectable()
export class BrokerMetrics {
  readonly registry = new Registry();

  // The two metrics counted on every read are cells (cells.ts): no label object per request.
  readonly httpDuration = new CellHistogram<'method' | 'route' | 'status'>(
    'broker_http_request_duration_seconds',
    'HTTP request duration by route pattern and status',
    HTTP_DURATION_BUCKETS,
    this.registry,
  );

  /** Per route, method, then status: `httpDurations(route, method).get(status)`. */
  private readonly httpDurations = memoByTwo<string, string, Map<number, HistogramCell>>(
    () => new Map(),
  );

  /** The duration cell of a route (its pattern, or 'unmatched'), method and status. */
  httpDurationOf(route: string, method: string, status: number): HistogramCell {
    const byStatus = this.httpDurations(route, method);
    let cell = byStatus.get(status);
    if (!cell) byStatus.set(status, (cell = this.httpDuration.cell({ method, route, status })));
    return cell;
  }

  readonly tokenReads = new CellCounter<'product' | 'outcome'>(
    'broker_token_reads_total',
    'GET /tokens/:account answers by outcome: cache_hit, db, refreshed, or the error code',
    this.registry,
  );

  private readonly tokenReadCells = memoByTwo((product: string, outcome: string) =>
    this.tokenReads.cell({ product, outcome }),
  );

  /** Counts one `GET /tokens` answer of this product and outcome. */
  countTokenRead(product: string, outcome: string): void {
    this.tokenReadCells(product, outcome).inc();
  }

  readonly tokenReadsByCaller = new Counter({
    name: 'broker_token_reads_by_caller_total',
    help: 'Tokens handed out by calling key (API key name) and product; advanced at each read-count flush (READ_FLUSH_SECONDS)',
    labelNames: ['caller', 'product'],
    registers: [this.registry],
  });

  readonly refreshes = new Counter({
    name: 'broker_refreshes_total',
    help: 'Refresh calls to RD by product and outcome (ok, transient, suspect, client_rejected, permanent, held)',
    labelNames: ['product', 'outcome'],
    registers: [this.registry],
  });

  readonly refreshesHeld = new Counter({
    name: 'broker_refresh_held_total',
    help: 'Grant rejections held by the blast-radius guard instead of condemning the grant, by product',
    labelNames: ['product'],
    registers: [this.registry],
  });

  readonly rdUnknownShapes = new Counter({
    name: 'broker_rd_unknown_answers_total',
    help: 'RD answers to refreshes in a shape the broker does not recognise (kept as suspect), by product and status',
    labelNames: ['product', 'status'],
    registers: [this.registry],
  });

  readonly tokenCacheChannelLosses = new Counter({
    name: 'broker_token_cache_channel_losses_total',
    help: "Times the token cache's invalidation channel was lost (cache emptied and bypassed), by reason: connection (an error or end) or heartbeat (a silent loss)",
    labelNames: ['reason'],
    registers: [this.registry],
  });

  readonly rdDuration = new Histogram({
    name: 'broker_rd_request_duration_seconds',
    help: 'Latency of calls to RD Station by call (e.g. "crm refresh") and outcome',
    labelNames: ['call', 'outcome'],
    buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly connections = new Gauge({
    name: 'broker_connections',
    // The database's count: every replica reports the same figure (README, "Metrics").
    help: 'Stored connections by product and status, counted in the shared database: every replica reports the same whole count, so aggregate over replicas with max(), not sum()',
    labelNames: ['product', 'status'],
    registers: [this.registry],
  });

  readonly dueQueueDepth = new Gauge({
    name: 'broker_refresh_due_queue_depth',
    help: 'Connections due for a refresh now (next_refresh_at passed), counted in the shared database: the same on every replica, aggregate with max()',
    registers: [this.registry],
  });

  readonly schedulerRunDuration = new Histogram({
    name: 'broker_scheduler_run_duration_seconds',
    help: 'Duration of scheduler runs',
    buckets: [0.01, 0.1, 0.5, 1, 5, 15, 30, 60],
    registers: [this.registry],
  });

  readonly schedulerRefreshes = new Counter({
    name: 'broker_scheduler_connections_total',
    help: 'Connections handled by scheduler runs by result (refreshed, failed_transient, failed_permanent, skipped)',
    labelNames: ['result'],
    registers: [this.registry],
  });

  readonly webhookDeliveries = new Counter({
    name: 'broker_webhook_deliveries_total',
    help: 'Webhook event deliveries by outcome (delivered, failed)',
    labelNames: ['outcome'],
    registers: [this.registry],
  });

  readonly proxyRequests = new Counter({
    name: 'broker_proxy_requests_total',
    help:
      'Calls through /proxy by product, method, RD status class (2xx..5xx, or none when RD was not ' +
      'called or did not answer) and outcome (proxied, retried after a 401, or the broker error code)',
    labelNames: ['product', 'method', 'rd_status', 'outcome'],
    registers: [this.registry],
  });

  readonly proxyRdDuration = new Histogram({
    name: 'broker_proxy_rd_duration_seconds',
    help: 'Time from sending a proxied call to RD until its answer headers, by product and status class',
    labelNames: ['product', 'rd_status'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly proxyBudgetRefusals = new Counter({
    name: 'broker_proxy_budget_refusals_total',
    help: 'Proxied calls refused before RD by reason: budget (RD_RATE_LIMIT_PER_MINUTE spent) or rd_pause (after an RD 429)',
    labelNames: ['product', 'reason'],
    registers: [this.registry],
  });

  readonly proxyBudgetStatements = new Counter({
    name: 'broker_proxy_budget_statements_total',
    help:
      'Statements the /proxy rate budget sent PostgreSQL, by statement: lease (a block of units), ' +
      'state (explaining a refusal), return (unspent units given back), pause (after an RD 429), prune',
    labelNames: ['statement'],
    registers: [this.registry],
  });

  readonly proxyBudgetUnits = new Counter({
    name: 'broker_proxy_budget_units_total',
    help: 'Units of the /proxy rate budget this replica leased from PostgreSQL (leased) and gave back unspent (returned)',
    labelNames: ['outcome'],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    for (const name of MISNAMED_DEFAULT_METRICS) this.registry.removeSingleMetric(name);
  }
}
