/**
 * Reading the broker's own Prometheus counters after a run. The figures never depend on them;
 * they only explain them (cache hits, how long RD calls took as the broker saw them). Absent or
 * renamed metrics give undefined.
 */
import type { Child } from './processes';

export async function scrape(server: Child): Promise<string | undefined> {
  const response = await fetch(`${server.url}/metrics`).catch(() => undefined);
  if (!response?.ok) return undefined;
  return response.text();
}

/** Sums the samples of `metric`, grouped by the value of `label`, where `match` accepts the labels. */
export function sumBy(
  text: string,
  metric: string,
  label: string,
  match: (labels: string) => boolean = () => true,
): Record<string, number> {
  const sums: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}{`)) continue;
    const close = line.lastIndexOf('}');
    const labels = line.slice(metric.length + 1, close);
    if (!match(labels)) continue;
    const key = new RegExp(`${label}="([^"]*)"`).exec(labels)?.[1] ?? '';
    sums[key] = (sums[key] ?? 0) + Number(line.slice(close + 1).trim());
  }
  return sums;
}

/** `broker_token_reads_total` by outcome (cache_hit, db, refreshed, error codes). */
export async function tokenReads(server: Child): Promise<Record<string, number> | undefined> {
  const text = await scrape(server);
  if (!text) return undefined;
  const reads = sumBy(text, 'broker_token_reads_total', 'outcome');
  return Object.keys(reads).length > 0 ? reads : undefined;
}

/** Sum and count of the RD refresh call durations a broker observed. */
export async function rdRefreshCalls(
  server: Child,
): Promise<{ seconds: number; count: number } | undefined> {
  const text = await scrape(server);
  if (!text) return undefined;
  const refresh = (labels: string) => /call="[^"]*refresh[^"]*"/.test(labels);
  const total = (metric: string) =>
    Object.values(sumBy(text, metric, 'call', refresh)).reduce((a, b) => a + b, 0);
  const count = total('broker_rd_request_duration_seconds_count');
  return count > 0
    ? { seconds: total('broker_rd_request_duration_seconds_sum'), count }
    : undefined;
}

/** The V8 heap in use and its size (prom-client's default metrics), in MB: data vs slack in RSS. */
export async function heapMb(
  server: Child,
): Promise<{ usedMb: number; totalMb: number } | undefined> {
  const text = await scrape(server);
  if (!text) return undefined;
  const value = (metric: string) =>
    Number(new RegExp(`^${metric} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  const used = value('nodejs_heap_size_used_bytes');
  const total = value('nodejs_heap_size_total_bytes');
  if (!(used >= 0 && total >= 0)) return undefined;
  return { usedMb: Math.round(used / 2 ** 20), totalMb: Math.round(total / 2 ** 20) };
}
