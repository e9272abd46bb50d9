/**
 * `npx tsx bench/compare-reads.ts <other build's dist/> [--rounds=N --accounts=N --seconds=S --cache=N]`
 *
 * What a change cost the read path: GET /tokens of this checkout's build (dist/) against another
 * build (e.g. a worktree of the commit before the change, built there), measured alternately
 * (other, this, other, this, …) on the same database, fake RD and seeded connections, so both see
 * the same machine. `--cache=N` sets both brokers' TOKEN_CACHE_MAX (below the account count, most
 * reads miss the cache and read the database). Prints each round and each build's median server
 * CPU per answer and req/s.
 * Seeding and migrations are this build's; the other build must read the same `connections`
 * table (it runs its own migrations at start, which finds them applied).
 *
 * `--otel=1` runs this build with OTEL_EXPORTER_OTLP_ENDPOINT at a local OTLP/HTTP sink (in this
 * process, like a collector on another host: its CPU is not the broker's), so
 * `compare-reads.ts dist --otel=1` measures what tracing costs a read. The spans the sink
 * received are printed per round (a span dropped by a full export queue cost less than one sent).
 * `--ratio=R` adds OTEL_TRACES_SAMPLER=parentbased_traceidratio with that ratio.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { measure, type LoadResult } from './lib/load';
import { cleanupAll, installSignalHandlers, ROOT } from './lib/processes';
import { accountNames, seedConnections, verifySeed } from './lib/seed';
import { snapshotBrokerBuild, startBroker, type BrokerOptions } from './lib/services';
import { setUpStage } from './lib/stage';
import { step } from './lib/step';

const OTHER_DIST = join(ROOT, 'node_modules', '.cache', 'broker-bench', 'other');

function parseArgs(argv: string[]) {
  const [other, ...flags] = argv;
  if (!other || other.startsWith('--'))
    throw new Error(
      "usage: compare-reads.ts <other build's dist/> [--rounds=N --accounts=N --seconds=S --cache=N]",
    );
  const options = { other, rounds: 3, accounts: 1_000, seconds: 10, cache: 0, otel: 0, ratio: 0 };
  for (const flag of flags) {
    const [name, value] = flag.replace(/^--/, '').split('=');
    if (!(name in options) || name === 'other' || !(Number(value) > 0))
      throw new Error(`unknown argument ${flag}`);
    (options as Record<string, unknown>)[name] = Number(value);
  }
  return options;
}

/** A stand-in OTLP/HTTP collector: answers every export 200 and counts the spans it got. */
async function startOtlpSink(): Promise<{ server: Server; url: string; spans: () => number }> {
  let spans = 0;
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      // OTLP/HTTP JSON (exporter-trace-otlp-http): count the spans without keeping them.
      spans += Buffer.concat(chunks).toString().split('"spanId"').length - 1;
      response.setHeader('content-type', 'application/json');
      response.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}`, spans: () => spans };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  installSignalHandlers();
  const { database, fake, secrets } = await setUpStage();
  snapshotBrokerBuild(options.other, OTHER_DIST);
  const accounts = accountNames(options.accounts);
  const seeder = await startBroker(database.url, fake, secrets, {
    name: 'compare-seed',
    scheduler: false,
  });
  step(`seeding ${accounts.length} connections`);
  await seedConnections(fake, seeder, secrets.adminKey, accounts);
  await verifySeed(database.url, accounts);
  await seeder.stop();

  const sink = options.otel ? await startOtlpSink() : undefined;
  const builds: Array<{
    name: string;
    broker: Partial<BrokerOptions>;
    env?: Record<string, string>;
  }> = [
    { name: 'other', broker: { main: join(OTHER_DIST, 'main.js') } },
    {
      name: 'this',
      broker: {},
      env: sink
        ? {
            OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
            // --ratio=0.1: keep a tenth of the traces (callers send no traceparent here).
            ...(options.ratio
              ? {
                  OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
                  OTEL_TRACES_SAMPLER_ARG: String(options.ratio),
                }
              : {}),
          }
        : undefined,
    },
  ];
  const results = new Map<string, LoadResult[]>(builds.map((b) => [b.name, []]));
  for (let round = 1; round <= options.rounds; round++) {
    for (const build of builds) {
      const broker = await startBroker(database.url, fake, secrets, {
        name: `compare-${build.name}-${round}`,
        scheduler: true,
        ...build.broker,
        env: {
          ...(options.cache ? { TOKEN_CACHE_MAX: String(options.cache) } : {}),
          ...build.env,
        },
      });
      const spansBefore = sink?.spans() ?? 0;
      try {
        const result = await measure(broker, {
          accounts,
          apiKey: secrets.apiKey,
          connections: 50,
          warmupSeconds: 3,
          seconds: options.seconds,
        });
        if (result.non2xx + result.errors + result.warmupFailures > 0)
          throw new Error(`${build.name}: ${result.non2xx} non-2xx, ${result.errors} errors`);
        results.get(build.name)!.push(result);
        step(
          `round ${round} ${build.name.padEnd(5)}: ${result.serverCpuMicrosPerRequest} µs/answer, ${result.reqPerSec} req/s, p99 ${result.p99Ms} ms, peak RSS ${result.peakRssMb} MB (machine CPU ${result.machineCpuPercent} %)`,
        );
      } finally {
        await broker.stop();
      }
      if (build.env?.OTEL_EXPORTER_OTLP_ENDPOINT)
        step(
          `round ${round} ${build.name.padEnd(5)}: ${sink!.spans() - spansBefore} spans exported`,
        );
    }
  }
  const summary = (name: string) => {
    const runs = results.get(name)!;
    return {
      cpu: median(runs.map((r) => r.serverCpuMicrosPerRequest)),
      reqPerSec: median(runs.map((r) => r.reqPerSec)),
    };
  };
  sink?.server.closeAllConnections();
  sink?.server.close();
  const other = summary('other');
  const current = summary('this');
  console.log(
    `\nmedian of ${options.rounds}: other ${other.cpu} µs/answer, ${other.reqPerSec} req/s; ` +
      `this ${current.cpu} µs/answer, ${current.reqPerSec} req/s; ` +
      `this/other: CPU per answer ${(current.cpu / other.cpu).toFixed(3)}, req/s ${(current.reqPerSec / other.reqPerSec).toFixed(3)}`,
  );
}

main()
  .catch((error: unknown) => {
    console.error(
      `compare-reads failed: ${error instanceof Error ? error.message : String(error)}`,
    );
    process.exitCode = 1;
  })
  .finally(() => cleanupAll());
