/**
 * `npx tsx bench/idle-cpu.ts [--seconds=10]`
 *
 * CPU a started broker (this checkout's build, scheduler off as in proxy-compare) and L3 spend
 * with no request at all, from /proc over `seconds`: what the broker's background work (timers,
 * polls, sweeps) costs whatever the calls. Then the same right after 2 s of proxied calls at one
 * connection, when the budget's leases and the read counter have something to do.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { cleanupAll, cpuSeconds, installSignalHandlers, type Child } from './lib/processes';
import { brokerProxyCall, proxyLoad } from './lib/proxy';
import { proxyStage } from './lib/proxy-stage';
import { setUpStage } from './lib/stage';
import { step } from './lib/step';

async function idleMillisPerSecond(child: Child, seconds: number): Promise<number> {
  const before = cpuSeconds(child.pid);
  await sleep(seconds * 1000);
  return Math.round(((cpuSeconds(child.pid) - before) * 1000 * 10) / seconds) / 10;
}

async function main(): Promise<void> {
  const seconds = Number(/--seconds=(\d+)/.exec(process.argv.join(' '))?.[1] ?? 10);
  installSignalHandlers();
  const stage = await setUpStage();
  const { secrets } = stage;
  const { broker, l3, accounts } = await proxyStage(stage, 'idle-cpu');
  await sleep(2000);
  step(
    `idle: broker ${await idleMillisPerSecond(broker, seconds)} ms CPU/s, L3 ${await idleMillisPerSecond(l3, seconds)} ms CPU/s`,
  );
  await proxyLoad(broker.url, 1, 2, brokerProxyCall(accounts, secrets.apiKey), broker);
  await proxyLoad(l3.url, 1, 2, brokerProxyCall(accounts, secrets.apiKey), l3);
  step(
    `after load: broker ${await idleMillisPerSecond(broker, seconds)} ms CPU/s, L3 ${await idleMillisPerSecond(l3, seconds)} ms CPU/s`,
  );
}

main()
  .catch((error: unknown) => {
    console.error(`idle-cpu failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  })
  .finally(() => cleanupAll());
