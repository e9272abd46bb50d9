/** Progress lines of a bench run, stamped with the seconds since it started. */
let started = Date.now();

export function restartClock(): void {
  started = Date.now();
}

export function step(message: string): void {
  const seconds = ((Date.now() - started) / 1000).toFixed(1).padStart(6);
  console.log(`[${seconds} s] ${message}`);
}
