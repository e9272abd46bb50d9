export { freePort } from '../../src/common/free-port';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export const MAIN = join(__dirname, '..', '..', 'dist', 'main.js');
/** What `npm start` runs: main.js with ./.env when there is one. */
export const START = join(__dirname, '..', '..', 'dist', 'start.js');

export interface BrokerProcess {
  child: ChildProcess;
  url: string;
  output(): string;
  /** Resolves with the exit code once the process has ended. */
  exited: Promise<number | null>;
}

/** Runs the built broker (`node dist/main.js`) as a separate process, as production does. */
export function spawnBroker(
  env: Record<string, string>,
  args: string[] = [],
  main = MAIN,
  cwd?: string,
): BrokerProcess {
  const port = env.PORT ?? '0';
  const child = spawn(process.execPath, [main, ...args], {
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd,
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, url: `http://127.0.0.1:${port}`, output: () => output, exited };
}

export async function waitFor<T>(
  probe: () => Promise<T | undefined>,
  { timeoutMs = 30_000, what = 'condition' } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function waitReady(url: string, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    async () => ((await fetch(`${url}/health/ready`)).status === 200 ? true : undefined),
    { timeoutMs, what: `${url}/health/ready` },
  );
}
