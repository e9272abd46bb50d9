import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { BrokerMetrics } from './broker-metrics';

const MIN_INTERVAL_MS = 15_000;

/**
 * Sets the connection gauges from one grouped count, at most every 15 s however often
 * Prometheus scrapes, so scraping never loads the database.
 */
@Injectable()
export class ConnectionGauges {
  private updatedAt = 0;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly metrics: BrokerMetrics,
  ) {}

  async update(): Promise<void> {
    if (Date.now() - this.updatedAt < MIN_INTERVAL_MS) return;
    this.updatedAt = Date.now();
    const rows: Array<{ product: string; status: string; count: number; due: number }> =
      await this.dataSource.query(
        `SELECT product, status, count(*)::int AS count,
              count(*) FILTER (WHERE next_refresh_at <= now() AND status <> 'reauthorization_required')::int AS due
         FROM connections GROUP BY product, status`,
      );
    this.metrics.connections.reset();
    for (const row of rows)
      this.metrics.connections.set({ product: row.product, status: row.status }, row.count);
    this.metrics.dueQueueDepth.set(rows.reduce((sum, row) => sum + row.due, 0));
  }
}
