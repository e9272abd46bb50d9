/** The proxy section of the summary: L3 and the broker at 1 and 50 connections, the targets. */
import type { ProxyAgainstL3, ProxyLoad, ProxyResult } from './proxy';
import { table } from './report';

/** Issue 24's targets, reported beside the figures, never asserted. */
export const PROXY_TARGETS = { cpuRatio: 2.0, addedP50MsAtOne: 1 };

const mark = (ok: boolean) => (ok ? '✔' : '✘');
const signed = (ms: number) => `${ms < 0 ? '−' : '+'}${Math.abs(ms).toFixed(2)}`;

function row(name: string, r: ProxyLoad): Array<string | number> {
  return [
    name,
    r.connections,
    r.reqPerSec,
    r.p50Ms.toFixed(2),
    r.p99Ms.toFixed(2),
    r.non2xx + r.errors,
    r.serverCpuMicrosPerRequest,
  ];
}

/** One line per number of connections: the ratios and whether the targets hold. */
export function againstL3Line(pair: ProxyAgainstL3): string {
  const cpu = `CPU/call ${pair.cpuRatio.toFixed(2)} × L3 (target ≤ ${PROXY_TARGETS.cpuRatio.toFixed(1)} ${mark(pair.cpuRatio <= PROXY_TARGETS.cpuRatio)})`;
  const p50 =
    pair.connections === 1
      ? `p50 ${signed(pair.addedP50Ms)} ms over L3 (target ≤ +${PROXY_TARGETS.addedP50MsAtOne} ms ${mark(pair.addedP50Ms <= PROXY_TARGETS.addedP50MsAtOne)})`
      : `p50 ${signed(pair.addedP50Ms)} ms over L3`;
  const statements =
    pair.budgetStatementsPerCall === null
      ? ''
      : `, ${pair.budgetStatementsPerCall} budget statements per call`;
  return `${pair.connections} connection(s): ${cpu}, req/s ${pair.reqPerSecRatio.toFixed(2)} × L3, ${p50}${statements}`;
}

export function formatProxy(proxy: ProxyResult): string {
  const b = proxy.budget;
  const rows = [row('direct to the fake RD', proxy.direct)];
  for (const pair of proxy.againstL3)
    rows.push(row('L3 fastify + undici Pool.request', pair.l3), row('broker /proxy', pair.broker));
  return [
    `Proxy: GET /proxy/crm/v2/contacts?page=1 over ${proxy.accounts} accounts; L3 (bare fastify + ` +
      `undici to the same fake RD) and the fake's endpoint called directly with their tokens; ` +
      `${proxy.seconds} s each after 3 s of JIT warm-up at 50 connections and 1 s at their own`,
    table(
      ['path', 'conn.', 'req/s', 'p50 ms', 'p99 ms', 'non-2xx/errors', 'server CPU µs/call'],
      rows,
    ),
    ...proxy.againstL3.map(againstL3Line),
    `proxy/direct = ${proxy.ratio.toFixed(2)} req/s at ${proxy.connections} connections, added p50 ${proxy.addedP50Ms.toFixed(2)} ms`,
    `rate budget statement alone: ${b.sequentialMicros} µs per call sequential (SELECT 1: ${b.roundTripMicros} µs); ` +
      `${b.hotAccountPerSec}/s on one hot account, ${b.spreadPerSec}/s over 1,000 accounts (50 in flight, pool of 20)`,
  ].join('\n');
}
