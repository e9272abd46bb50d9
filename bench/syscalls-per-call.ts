/**
 * `npx tsx bench/syscalls-per-call.ts [--connections=1] [--seconds=3]`
 *
 * System calls per proxied call of the broker (this checkout's build) and of L3, counted by
 * `strace -c -f` attached to each server during a load at `connections`: at one connection no
 * call shares an event-loop turn with another, so every wake-up, read and write is paid per call.
 * strace slows the servers; the counts, not the times, are the figure.
 */
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { cleanupAll, installSignalHandlers, type Child } from './lib/processes';
import { brokerProxyCall, proxyLoad } from './lib/proxy';
import { proxyStage } from './lib/proxy-stage';
import { setUpStage } from './lib/stage';
import { step } from './lib/step';

const arg = (name: string, fallback: number) =>
  Number(new RegExp(`--${name}=(\\d+)`).exec(process.argv.join(' '))?.[1] ?? fallback);

async function traced(child: Child, load: () => Promise<{ requests: number }>) {
  const strace = spawn('strace', ['-c', '-f', '-p', String(child.pid)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let out = '';
  strace.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
  await sleep(500);
  const { requests } = await load();
  strace.kill('SIGINT');
  await new Promise((resolve) => strace.once('close', resolve));
  const lines = out.split('\n').filter((line) => /^\s*[\d.]+\s+[\d.]+\s+\d+\s+\d+/.test(line));
  const rows = lines
    .map((line) => line.trim().split(/\s+/))
    .map((f) => ({ name: f[f.length - 1], calls: Number(f[3]) }))
    .filter((row) => row.name !== 'total')
    .sort((a, b) => b.calls - a.calls);
  const total = rows.reduce((sum, r) => sum + r.calls, 0);
  return {
    requests,
    perCall: total / requests,
    rows: rows.slice(0, 12).map((r) => `${r.name} ${(r.calls / requests).toFixed(2)}`),
  };
}

async function main(): Promise<void> {
  const connections = arg('connections', 1);
  const seconds = arg('seconds', 3);
  installSignalHandlers();
  const stage = await setUpStage();
  const { secrets } = stage;
  const { broker, l3, accounts } = await proxyStage(stage, 'syscalls');
  const setup = brokerProxyCall(accounts, secrets.apiKey);
  for (const [name, server] of [
    ['L3', l3],
    ['broker', broker],
  ] as const) {
    const result = await traced(server, () =>
      proxyLoad(server.url, connections, seconds, setup, server),
    );
    step(
      `${name} at ${connections} conn.: ${result.perCall.toFixed(2)} system calls per call (${result.requests} calls): ${result.rows.join(', ')}`,
    );
  }
}

main()
  .catch((error: unknown) => {
    console.error(
      `syscalls-per-call failed: ${error instanceof Error ? error.message : String(error)}`,
    );
    process.exitCode = 1;
  })
  .finally(() => cleanupAll());
