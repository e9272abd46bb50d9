/** `--scale`: the printed tables (one block per size, then the curve), the JSON, the checks. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RESULTS_DIR } from './processes';
import {
  DRAIN_HEADERS,
  autovacuumLine,
  LOAD_HEADERS,
  drainProblems,
  drainRow,
  loadProblems,
  loadRow,
  machineLine,
  table,
} from './report';
import type { ScaleRead, ScaleStep, ScaleSummary } from './scale';

const count = (n: number) => n.toLocaleString('en');

function outcomes(read: ScaleRead): string {
  const reads = read.result.tokenReads ?? {};
  const total = Object.values(reads).reduce((a, b) => a + b, 0);
  if (total === 0) return '?';
  return Object.entries(reads)
    .sort((a, b) => b[1] - a[1])
    .map(([outcome, n]) => `${outcome} ${((100 * n) / total).toFixed(1)}%`)
    .join(', ');
}

function planLines(s: ScaleStep): string[] {
  const p = s.plan;
  const verdict = p.seqScanOfConnections
    ? '✘ sequential scan of connections'
    : `✔ no sequential scan of connections (indexes: ${p.connectionsIndexes.join(', ')})`;
  return [
    `Claim query (${count(p.dueRows)} of ${count(p.rows)} due, LIMIT ${p.limit}, EXPLAIN ANALYZE ` +
      `rolled back): ${verdict}; ${p.executionMs} ms execution, ${p.planningMs} ms planning, ` +
      `${p.buffers} buffers`,
    ...p.text.map((line) => `  ${line}`),
  ];
}

function sizesLine(s: ScaleStep): string {
  const { table: t, indexes, total } = s.sizes;
  const perRow = Math.round(t.bytes / s.size);
  return (
    `Sizes: table ${t.pretty} (${perRow} B/row); ` +
    indexes.map((i) => `${i.name} ${i.pretty}`).join(', ') +
    `; total ${total.pretty}`
  );
}

function stepBlock(s: ScaleStep, summary: ScaleSummary): string[] {
  const c = summary.config;
  return [
    `== ${count(s.size)} connections (load average ${s.loadAtStart} at start; seeded in ${s.seedSeconds} s) ==`,
    ...planLines(s),
    sizesLine(s),
    `Reads: GET /tokens/:account over all ${count(s.size)} accounts, ${c.connections} connections, ` +
      `${c.seconds} s after a warm-up (each account the cache can hold read once, then ` +
      `${c.warmupSeconds} s of random reads)`,
    table(
      ['cache', 'TOKEN_CACHE_MAX', ...LOAD_HEADERS, 'heap used/total MB', 'answered from'],
      s.reads.map((r) => [
        r.cache,
        r.tokenCacheMax,
        ...loadRow(r.result),
        r.heap ? `${r.heap.usedMb} / ${r.heap.totalMb}` : '?',
        outcomes(r),
      ]),
    ),
    `Drain: ${count(c.drainConnections)} due, spread over the table, fake RD ${c.rdLatencyMs} ms, ` +
      `REFRESH_CONCURRENCY ${c.refreshConcurrency}`,
    table(DRAIN_HEADERS, s.drain.map(drainRow)),
    autovacuumLine(s.drain),
  ];
}

function curve(summary: ScaleSummary): string {
  const both = (s: ScaleStep, pick: (r: ScaleRead) => string | number) =>
    s.reads.map(pick).join(' / ');
  return table(
    [
      'connections',
      'req/s large / small cache',
      'p99 ms large / small',
      'server µs/req large / small',
      'peak RSS MB large / small',
      `drain s per ${count(summary.config.drainConnections)} (${summary.config.replicas.join(' / ')} replicas)`,
      'limit/drain',
      'drain peak RSS MB',
      'claim ms',
      'table + indexes',
    ],
    summary.steps.map((s) => [
      count(s.size),
      both(s, (r) => r.result.reqPerSec),
      both(s, (r) => r.result.p99Ms.toFixed(2)),
      both(s, (r) => r.result.serverCpuMicrosPerRequest),
      both(s, (r) => r.result.peakRssMb),
      s.drain.map((d) => d.drainS.toFixed(2)).join(' / '),
      s.drain.map((d) => d.ratio.toFixed(2)).join(' / '),
      s.drain.map((d) => Math.max(...d.peakRssMb)).join(' / '),
      s.plan.executionMs.toFixed(2),
      s.sizes.total.pretty,
    ]),
  );
}

export function formatScale(summary: ScaleSummary): string {
  return [
    machineLine(summary.machine),
    '',
    ...summary.steps.flatMap((s) => [...stepBlock(s, summary), '']),
    'Scale curve (reads should stay flat, the drain per 1,000 constant):',
    curve(summary),
  ].join('\n');
}

export function scaleProblems(summary: ScaleSummary): string[] {
  return summary.steps.flatMap((s) => [
    ...s.reads.flatMap((r) => loadProblems(`${count(s.size)}: reads, ${r.cache} cache`, r.result)),
    ...s.drain.flatMap((d) =>
      drainProblems(d, `${count(s.size)}: drain with ${d.replicas} replica(s)`),
    ),
  ]);
}

export function writeScaleJson(summary: ScaleSummary): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, 'latest-scale.json');
  writeFileSync(file, JSON.stringify(summary, null, 2) + '\n');
  return file;
}
