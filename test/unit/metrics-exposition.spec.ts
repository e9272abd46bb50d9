import { collectDefaultMetrics, Histogram, Counter, Registry } from 'prom-client';
import { BrokerMetrics, HTTP_DURATION_BUCKETS } from '../../src/metrics/broker-metrics';
import { CellCounter, CellHistogram } from '../../src/metrics/cells';

/**
 * The naming rules of `promtool check metrics` (Prometheus' own linter, promlint) that a metric's
 * TYPE and name can break: run here on the text /metrics serves, so the suite needs no promtool.
 * Messages are promtool's.
 */
function lint(exposition: string): string[] {
  const problems: string[] = [];
  const types = new Map<string, string>();
  const helps = new Set<string>();
  for (const line of exposition.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1], type[2]);
    const help = /^# HELP (\S+) (.*)$/.exec(line);
    if (help && help[2].trim() !== '') helps.add(help[1]);
  }
  for (const [name, type] of types) {
    if (type !== 'counter' && name.endsWith('_total'))
      problems.push(`${name} non-counter metrics should not have "_total" suffix`);
    if (type === 'counter' && !name.endsWith('_total'))
      problems.push(`${name} counter metrics should have "_total" suffix`);
    if (!helps.has(name)) problems.push(`${name} no help text`);
    if (/[a-z][A-Z]/.test(name))
      problems.push(`${name} metric names should be written in 'snake_case' not 'camelCase'`);
    if (
      /_(?:milliseconds|microseconds|nanoseconds|minutes|hours|days|weeks|kilobytes|megabytes|gigabytes)(?:_|$)/.test(
        name,
      )
    )
      problems.push(`${name} use base unit "seconds"/"bytes" instead`);
    if (/(?:^|_)(?:counter|gauge|histogram|summary)(?:_|$)/.test(name))
      problems.push(`${name} metric name should not include type`);
  }
  return problems;
}

/** Every sample line: a name, labels, a number. */
const SAMPLE =
  /^[a-zA-Z_:][a-zA-Z0-9_:]*(?:\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (?:-?[0-9.e+-]+|NaN|[+-]Inf)$/i;

describe('/metrics exposition', () => {
  it('breaks none of promtool check metrics’ naming rules, with every hot-path metric counted', async () => {
    const metrics = new BrokerMetrics();
    metrics.httpDurationOf('/tokens/:account', 'GET', 200).observe(0.0003);
    metrics.httpDurationOf('unmatched', 'GET', 404).observe(0.002);
    metrics.countTokenRead('crm', 'cache_hit');
    metrics.connections.set({ product: 'crm', status: 'active' }, 3);
    const text = await metrics.registry.metrics();
    expect(lint(text)).toEqual([]);
    for (const line of text.split('\n'))
      if (line && !line.startsWith('#')) expect(line).toMatch(SAMPLE);
    // The figures the removed gauges gave are still there, by type.
    expect(text).toMatch(/^# TYPE nodejs_active_handles gauge$/m);
    expect(text).not.toMatch(/nodejs_active_\w+_total/);
  });

  it('would catch prom-client’s default `_total` gauges (the rule can fail)', async () => {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    expect(lint(await registry.metrics())).toEqual(
      expect.arrayContaining([
        'nodejs_active_handles_total non-counter metrics should not have "_total" suffix',
      ]),
    );
  });

  it('has buckets below 1 ms for request durations', () => {
    expect(HTTP_DURATION_BUCKETS.filter((le) => le < 0.001).length).toBeGreaterThanOrEqual(4);
    expect(HTTP_DURATION_BUCKETS[0]).toBeLessThanOrEqual(0.0001);
  });

  it('cells print exactly what prom-client’s own histogram and counter print for the same counts', async () => {
    const values = [0, 0.0001, 0.00011, 0.0004, 0.0009, 0.003, 0.2, 7, 12];
    const labels = { method: 'GET', route: '/tokens/:account', status: 200 };
    const theirs = new Registry();
    const histogram = new Histogram({
      name: 'h_seconds',
      help: 'h',
      labelNames: ['method', 'route', 'status'],
      buckets: HTTP_DURATION_BUCKETS,
      registers: [theirs],
    });
    const counter = new Counter({
      name: 'c_total',
      help: 'c',
      labelNames: ['product', 'outcome'],
      registers: [theirs],
    });
    const ours = new Registry();
    const cells = new CellHistogram<'method' | 'route' | 'status'>(
      'h_seconds',
      'h',
      HTTP_DURATION_BUCKETS,
      ours,
    );
    const counterCells = new CellCounter<'product' | 'outcome'>('c_total', 'c', ours);
    const cell = cells.cell(labels);
    const hit = counterCells.cell({ product: 'crm', outcome: 'cache_hit' });
    const miss = counterCells.cell({ product: 'crm', outcome: 'db' });
    for (const value of values) {
      histogram.observe(labels, value);
      cell.observe(value);
    }
    counter.inc({ product: 'crm', outcome: 'cache_hit' }, 3);
    counter.inc({ product: 'crm', outcome: 'db' });
    hit.inc();
    hit.inc(2);
    miss.inc();
    expect(await ours.metrics()).toBe(await theirs.metrics());

    cells.reset();
    counterCells.reset();
    histogram.reset();
    counter.reset();
    // prom-client forgets label sets on reset; cells keep theirs at zero.
    expect(await ours.metrics()).toMatch(
      /^h_seconds_count\{method="GET",route="\/tokens\/:account",status="200"\} 0$/m,
    );
    expect(await ours.metrics()).toMatch(/^c_total\{product="crm",outcome="db"\} 0$/m);
  });
});
