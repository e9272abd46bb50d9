/**
 * At most one log line per second per kind of failure, carrying how many happened since the
 * previous line: a database outage under load is one line a second, not one per request.
 */
export class LogThrottle {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(private readonly intervalMs = 1_000) {}

  /** Calls `log` with the number of occurrences it stands for, or not at all (counted). */
  hit(kind: string, log: (occurrences: number) => void): void {
    const now = Date.now();
    const entry = this.last.get(kind);
    if (entry && now - entry.at < this.intervalMs) {
      entry.suppressed += 1;
      return;
    }
    this.last.set(kind, { at: now, suppressed: 0 });
    log(1 + (entry?.suppressed ?? 0));
  }
}
