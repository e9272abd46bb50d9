/**
 * The targets of the read path and the drain (issues 17 and 24), each printed beside its figure.
 * Reported, never asserted: the machine is shared and the figures are as good as its quiet.
 */
import type { DrainResult } from './drain';
import type { LoadResult } from './load';

export const READ_TARGETS = {
  /** Broker CPU per answer ÷ L1's, at most. */
  cpuPerAnswerToL1: 2.0,
  /** Broker req/s ÷ L2's, at least. */
  reqPerSecToL2: 1.0,
  /** Peak RSS of the broker over the read benchmark, MB, at most. */
  peakRssMb: 150,
};

/** limit/drain with 1 and 2 replicas, at least: the figures of the 2026-11-30 full run. */
export const DRAIN_TARGETS: Record<number, number> = { 1: 0.86, 2: 0.69 };

const mark = (met: boolean) => (met ? '✔' : '✘');

export function readRatios(l1: LoadResult, l2: LoadResult, broker: LoadResult) {
  const ratio = (a: number, b: number) => Math.round((100 * a) / b) / 100;
  return {
    brokerToL1: ratio(broker.reqPerSec, l1.reqPerSec),
    brokerToL2: ratio(broker.reqPerSec, l2.reqPerSec),
    cpuPerAnswerToL1: ratio(broker.serverCpuMicrosPerRequest, l1.serverCpuMicrosPerRequest),
  };
}

export function readTargetLines(read: {
  l1: LoadResult;
  l2: LoadResult;
  broker: LoadResult;
}): string[] {
  const { l1, l2, broker } = read;
  const r = readRatios(l1, l2, broker);
  const t = READ_TARGETS;
  return [
    `broker/L1 = ${r.brokerToL1.toFixed(2)}   broker/L2 = ${r.brokerToL2.toFixed(2)}  (req/s)`,
    'targets:',
    `  CPU per answer ${broker.serverCpuMicrosPerRequest} µs = ${r.cpuPerAnswerToL1.toFixed(2)} × L1's ${l1.serverCpuMicrosPerRequest} µs` +
      `   target ≤ ${t.cpuPerAnswerToL1.toFixed(1)} × ${mark(r.cpuPerAnswerToL1 <= t.cpuPerAnswerToL1)}`,
    `  req/s ${broker.reqPerSec} = ${r.brokerToL2.toFixed(2)} × L2's ${l2.reqPerSec}` +
      `   target ≥ ${t.reqPerSecToL2.toFixed(1)} × ${mark(r.brokerToL2 >= t.reqPerSecToL2)}`,
    `  peak RSS ${broker.peakRssMb} MB   target ≤ ${t.peakRssMb} MB ${mark(broker.peakRssMb <= t.peakRssMb)}`,
  ];
}

export function drainTargetLine(drains: DrainResult[]): string {
  const each = drains.map((d) => {
    const target = DRAIN_TARGETS[d.replicas];
    return target === undefined
      ? `${d.replicas} replicas ${d.ratio.toFixed(2)}`
      : `${d.replicas} replica(s) ${d.ratio.toFixed(2)} (target ≥ ${target} ${mark(d.ratio >= target)})`;
  });
  return `drain limit/drain: ${each.join(', ')}`;
}
