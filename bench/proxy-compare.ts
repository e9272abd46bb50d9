/**
 * `npx tsx bench/proxy-compare.ts [<other build's dist/>] [--rounds=N --seconds=S --accounts=N --connections=1,50]`
 *
 * The proxy of this checkout's build (dist/) against L3 (bare fastify + undici to the same fake
 * RD, bench/servers/undici-proxy.mjs) at 1 and 50 connections, and, given another build, that
 * build's proxy too, alternately (other, this, other, this, …) on the same database, fake RD and
 * seeded connections: before/after figures from the same machine state. Each measurement of a
 * broker is preceded by one of L3, and the figures are ratios to that L3 (CPU per call from
 * /proc, req/s, p50). Prints each round and each build's medians.
 *
 * `BENCH_BROKER_NODE_ARGS='--cpu-prof --cpu-prof-dir=bench/results/profiles'` profiles the
 * brokers (bench/README.md, "Proxy: where a call's CPU goes").
 */
import { join } from 'node:path';
import { cleanupAll, installSignalHandlers, ROOT } from './lib/processes';
import { median } from './lib/load';
import { againstL3, metricSum, readTokens, type ProxyAgainstL3 } from './lib/proxy';
import { againstL3Line } from './lib/proxy-report';
import { accountNames, seedConnections, verifySeed } from './lib/seed';
import {
  fakeControl,
  snapshotBrokerBuild,
  startBroker,
  startUndiciProxy,
  type BrokerOptions,
} from './lib/services';
import { setUpStage } from './lib/stage';
import { step } from './lib/step';

const OTHER_DIST = join(ROOT, 'node_modules', '.cache', 'broker-bench', 'proxy-other');

function parseArgs(argv: string[]) {
  const options = { other: '', rounds: 3, seconds: 5, accounts: 100, connections: [1, 50] };
  for (const arg of argv) {
    if (!arg.startsWith('--')) {
      options.other = arg;
      continue;
    }
    const [name, value] = arg.replace(/^--/, '').split('=');
    if (name === 'connections') {
      options.connections = value.split(',').map(Number);
      continue;
    }
    if (!(name in options) || name === 'other' || !(Number(value) > 0))
      throw new Error(`unknown argument ${arg}`);
    (options as Record<string, unknown>)[name] = Number(value);
  }
  return options;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  installSignalHandlers();
  const { database, fake, secrets } = await setUpStage();
  if (options.other) snapshotBrokerBuild(options.other, OTHER_DIST);
  const accounts = accountNames(options.accounts);
  const seeder = await startBroker(database.url, fake, secrets, {
    name: 'proxy-compare-seed',
    scheduler: false,
  });
  step(`seeding ${accounts.length} connections`);
  await seedConnections(fake, seeder, secrets.adminKey, accounts);
  await verifySeed(database.url, accounts);
  const tokens = await readTokens(seeder, secrets.apiKey, accounts);
  await seeder.stop();
  await fakeControl(fake, '/_fake/config', { apiRateLimitPerMinute: 1e12 });
  const l3 = await startUndiciProxy(fake.url, tokens);

  const builds: Array<{ name: string; broker: Partial<BrokerOptions> }> = [
    ...(options.other ? [{ name: 'other', broker: { main: join(OTHER_DIST, 'main.js') } }] : []),
    { name: 'this', broker: {} },
  ];
  const results = new Map<string, ProxyAgainstL3[][]>(builds.map((b) => [b.name, []]));
  for (let round = 1; round <= options.rounds; round++) {
    for (const build of builds) {
      const broker = await startBroker(database.url, fake, secrets, {
        name: `proxy-compare-${build.name}-${round}`,
        scheduler: false,
        ...build.broker,
        env: { RD_RATE_LIMIT_PER_MINUTE: '100000' },
      });
      try {
        const pairs = await againstL3(
          l3,
          broker,
          accounts,
          secrets.apiKey,
          options.seconds,
          options.connections,
        );
        const calls = await metricSum(broker, 'broker_proxy_requests_total');
        step(
          `round ${round} ${build.name}: ${calls} proxied calls since start (--calls for profile-pieces)`,
        );
        for (const p of pairs) {
          if (p.broker.non2xx + p.broker.errors + p.l3.non2xx + p.l3.errors > 0)
            throw new Error(`${build.name}: non-2xx or errors at ${p.connections} connection(s)`);
          step(
            `round ${round} ${build.name.padEnd(5)} ${p.connections} conn.: broker ${p.broker.serverCpuMicrosPerRequest} µs/call, ${p.broker.reqPerSec} req/s, p50 ${p.broker.p50Ms} ms; ` +
              `L3 ${p.l3.serverCpuMicrosPerRequest} µs/call, ${p.l3.reqPerSec} req/s, p50 ${p.l3.p50Ms} ms`,
          );
          step(`  ${againstL3Line(p)}`);
        }
        results.get(build.name)!.push(pairs);
      } finally {
        await broker.stop();
      }
    }
  }
  console.log('');
  for (const build of builds) {
    const rounds = results.get(build.name)!;
    for (let i = 0; i < rounds[0].length; i++) {
      const at = rounds.map((pairs) => pairs[i]);
      const range = (pick: (p: ProxyAgainstL3) => number) => {
        const values = at.map(pick);
        return `${median(values).toFixed(2)} (${Math.min(...values).toFixed(2)}-${Math.max(...values).toFixed(2)})`;
      };
      console.log(
        `${build.name} at ${at[0].connections} conn., median (range) of ${rounds.length}: ` +
          `CPU/call ${range((p) => p.cpuRatio)} × L3 [${range((p) => p.broker.serverCpuMicrosPerRequest)} µs vs ${range((p) => p.l3.serverCpuMicrosPerRequest)} µs], ` +
          `req/s ${range((p) => p.reqPerSecRatio)} × L3 [${range((p) => p.broker.reqPerSec)} vs ${range((p) => p.l3.reqPerSec)}], ` +
          `p50 +${range((p) => p.addedP50Ms)} ms [${range((p) => p.broker.p50Ms)} vs ${range((p) => p.l3.p50Ms)}]`,
      );
    }
  }
}

main()
  .catch((error: unknown) => {
    console.error(
      `proxy-compare failed: ${error instanceof Error ? error.message : String(error)}`,
    );
    process.exitCode = 1;
  })
  .finally(() => cleanupAll());
