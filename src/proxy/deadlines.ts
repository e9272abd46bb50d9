/** Why a proxied call's controller was aborted by its deadline (the caller leaving gives none). */
export const RD_DEADLINE = Symbol('RD_TIMEOUT_MS or RD_STREAM_TIMEOUT_MS passed');

/**
 * The deadlines of every proxied call in flight, served by one timer: a call registers its
 * AbortController with the moment it must end, and a sweep every `tickMs` aborts those past it
 * (reason RD_DEADLINE). No timer, timeout signal or `AbortSignal.any` per call: a Map entry
 * added and removed. A deadline fires up to `tickMs` late; the timer runs only while calls are
 * in flight and never keeps the process alive.
 */
export class Deadlines {
  private readonly due = new Map<AbortController, number>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly tickMs = 50) {}

  /** `controller` is aborted once `at` (performance.now() clock) has passed; replaces an earlier one. */
  set(controller: AbortController, at: number): void {
    this.due.set(controller, at);
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), this.tickMs);
      this.timer.unref();
    }
  }

  delete(controller: AbortController): void {
    this.due.delete(controller);
  }

  private sweep(): void {
    const now = performance.now();
    for (const [controller, at] of this.due) {
      if (at > now) continue;
      this.due.delete(controller);
      controller.abort(RD_DEADLINE);
    }
    if (this.due.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}
