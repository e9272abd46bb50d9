export { freePort } from '../../src/common/free-port';
/**
 * Child processes of the benchmark: spawning, readiness, peak memory, and the guarantee that none
 * outlives the run (normal end, error, Ctrl-C). Cleanups run in reverse order of registration.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(__dirname, '..', '..');
export const RESULTS_DIR = join(ROOT, 'bench', 'results');
export const LOG_DIR = join(RESULTS_DIR, 'logs');

export interface Child {
  name: string;
  pid: number;
  url: string;
  logFile: string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  /** Rejects as soon as the process exits on its own (not through stop()). */
  crashed: Promise<never>;
  stop(): Promise<void>;
}

type Cleanup = () => Promise<void> | void;
const cleanups: Cleanup[] = [];
const live = new Set<ChildProcess>();

/** Registers work to undo at the end (drop a database, stop a server). */
export function onCleanup(cleanup: Cleanup): void {
  cleanups.push(cleanup);
}

/** Runs every registered cleanup once, newest first; errors are reported, not thrown. */
export async function cleanupAll(): Promise<void> {
  while (cleanups.length > 0) {
    const cleanup = cleanups.pop()!;
    try {
      await cleanup();
    } catch (error) {
      console.error(`cleanup failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  killAllNow();
}

function killAllNow(): void {
  for (const child of live) child.kill('SIGKILL');
  live.clear();
}

/** Ctrl-C / SIGTERM: clean up, then exit; a second signal kills children at once. */
export function installSignalHandlers(): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      killAllNow();
      process.exit(130);
    }
    stopping = true;
    console.error(`\n${signal}: stopping child processes…`);
    void cleanupAll().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', killAllNow);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Starts `node <args>` (never through npx/npm, so the pid is the server's and signals reach it),
 * output to bench/results/logs/<name>.log. `url` is where it will listen.
 */
export function startNode(
  name: string,
  args: string[],
  env: Record<string, string>,
  url: string,
): Child {
  mkdirSync(LOG_DIR, { recursive: true });
  const logFile = join(LOG_DIR, `${name}.log`);
  const out = openSync(logFile, 'w');
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  live.add(child);
  let how = '';
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      how = signal ? `signal ${signal}` : `code ${code}`;
      resolve(code ?? (signal ? 128 : null));
    });
  });
  let stopping = false;
  const crashed = exited.then(() => {
    // Code 0 here means something outside the bench stopped it (a signal it handled).
    if (!stopping) {
      throw new Error(`${name} exited unexpectedly (${how}); see ${logFile}\n${tail(logFile)}`);
    }
    return new Promise<never>(() => undefined);
  });
  crashed.catch(() => undefined); // observed by whoever races it
  const stop = async () => {
    stopping = true;
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
  };
  onCleanup(stop);
  return { name, pid: child.pid!, url, logFile, exited, crashed, stop };
}

/** Runs `node <args>` to completion (e.g. migrations); throws with its output on failure. */
export async function runNode(name: string, args: string[], env: Record<string, string>) {
  const child = startNode(name, args, env, '');
  const code = await child.exited;
  if (code !== 0) throw new Error(`${name} failed (code ${code}):\n${tail(child.logFile)}`);
}

export function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Polls `url` until it answers 2xx, failing early if the child dies. */
export async function waitForHttp(child: Child, path: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const probe = async () => {
    for (;;) {
      try {
        const response = await fetch(child.url + path);
        await response.arrayBuffer();
        if (response.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline)
        throw new Error(`${child.name}: ${path} not ready in ${timeoutMs} ms`);
      await sleep(100);
    }
  };
  await Promise.race([probe(), child.crashed]);
}

/** Peak resident set size (VmHWM) of a live process, in MB. */
export function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
  if (!match) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Math.round(Number(match[1]) / 1024);
}

/** CPU time (user + system) a live process has used so far, in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at field 3; utime/stime are 14/15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const CLOCK_TICKS = 100; // `getconf CLK_TCK` on Linux
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

export interface CpuSample {
  busy: number;
  total: number;
}

/** Machine-wide CPU counters (/proc/stat), to tell how busy the whole machine was. */
export function machineCpu(): CpuSample {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1);
  const values = fields.map(Number);
  const idle = values[3] + (values[4] ?? 0); // idle + iowait
  const total = values.slice(0, 8).reduce((a, b) => a + b, 0); // without guest time
  return { busy: total - idle, total };
}

/** CPU the whole machine used since `since`, in % of one core (200 = both cores of two). */
export function machineCpuPercent(since: CpuSample, cores: number): number {
  const now = machineCpu();
  const total = now.total - since.total;
  return total > 0 ? Math.round((100 * cores * (now.busy - since.busy)) / total) : 0;
}
