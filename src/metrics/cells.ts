import type { Registry } from 'prom-client';

/**
 * Counters and histograms for the hot path, read by a prom-client Registry like its own metrics
 * (`get()`), but counted in "cells": one object per label set, created once and kept by the
 * caller, so counting is a few additions. prom-client's `inc`/`observe` (and the children of its
 * `labels()`, which do the same) validate the labels and build a hash string from them on every
 * call. Label sets here are few and fixed (route × method × status, product × outcome).
 */
abstract class CellMetric<L extends string, C> {
  readonly aggregator = 'sum';
  protected readonly cells: Array<{ labels: Record<L, string | number>; cell: C }> = [];

  constructor(
    readonly name: string,
    readonly help: string,
    registry: Registry,
  ) {
    // The Registry needs only `name` and `get()` (and `reset()`, `aggregator` for its helpers).
    registry.registerMetric(this as never);
  }

  /** A new cell for these labels; keep it (a second cell for the same labels would print twice). */
  cell(labels: Record<L, string | number>): C {
    const cell = this.newCell();
    this.cells.push({ labels: { ...labels }, cell });
    return cell;
  }

  protected abstract newCell(): C;
  abstract reset(): void;
}

export class CounterCell {
  value = 0;

  inc(by = 1): void {
    this.value += by;
  }
}

export class CellCounter<L extends string> extends CellMetric<L, CounterCell> {
  readonly type = 'counter';

  protected newCell(): CounterCell {
    return new CounterCell();
  }

  reset(): void {
    for (const { cell } of this.cells) cell.value = 0;
  }

  get() {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values: this.cells.map(({ labels, cell }) => ({ labels, value: cell.value })),
    };
  }
}

export class HistogramCell {
  /** Observations per bucket, not cumulative; the last is above the highest bound (+Inf). */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]) i++;
    this.counts[i]++;
    this.sum += value;
    this.count++;
  }
}

export class CellHistogram<L extends string> extends CellMetric<L, HistogramCell> {
  readonly type = 'histogram';

  constructor(
    name: string,
    help: string,
    readonly buckets: readonly number[],
    registry: Registry,
  ) {
    super(name, help, registry);
  }

  protected newCell(): HistogramCell {
    return new HistogramCell(this.buckets);
  }

  reset(): void {
    for (const { cell } of this.cells) {
      cell.counts.fill(0);
      cell.sum = 0;
      cell.count = 0;
    }
  }

  /** The exposition prom-client's own Histogram gives: cumulative `_bucket`s, `_sum`, `_count`. */
  get() {
    const values: Array<{
      metricName: string;
      labels: Record<string, string | number>;
      value: number;
    }> = [];
    for (const { labels, cell } of this.cells) {
      let cumulative = 0;
      this.buckets.forEach((le, i) => {
        cumulative += cell.counts[i];
        values.push({
          metricName: `${this.name}_bucket`,
          labels: { le, ...labels },
          value: cumulative,
        });
      });
      values.push({
        metricName: `${this.name}_bucket`,
        labels: { le: '+Inf', ...labels },
        value: cell.count,
      });
      values.push({ metricName: `${this.name}_sum`, labels, value: cell.sum });
      values.push({ metricName: `${this.name}_count`, labels, value: cell.count });
    }
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    };
  }
}
