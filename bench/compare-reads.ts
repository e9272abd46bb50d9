/**
 * `npx tsx bench/compare-reads.ts <other build's dist/> [--rounds=N --accounts=N --seconds=S --cache=N]`
 *
 * What a change cost the read path: GET /tokens of this checkout's build (dist/) against another
 * build (e.g. a worktree of the commit before the change, built there), measured alternately
 * (other, this, other, this, …) on the same database, fake RD and seeded connections, so both see
 * the same machine. `--cache=N` sets both brokers' TOKEN_CACHE_MAX (below the account count, most
 * reads miss the cache and read the database). Prints each round and each build's median server
 * CPU per answer and req/s. `--rate=N` holds the measured run at N requests per second for both
 * builds (below what either answers on the machine), so they do the same work whatever the
 * machine's other load does to throughput; without it, as many as 50 connections get answered.
 * `--together=1` runs both builds at the same time in each round (each with its own 50
 * connections) instead of one after the other, so a busy machine weighs on both alike.
 * Seeding and migrations are this build's; the other build must read the same `connections`
 * table (it runs its own migrations at start, which finds them applied).
 *
 * `--otel=1` runs this build with OTEL_EXPORTER_OTLP_ENDPOINT at a local OTLP/HTTP sink (in this
 * process, like a collector on another host: its CPU is not the broker's), so
 * `compare-reads.ts dist --otel=1` measures what tracing costs a read. The spans the sink
 * received are printed per round (a span dropped by a full export queue cost less than one sent).
 * `--ratio=R` adds OTEL_TRACES_SAMPLER=parentbased_traceidratio with that ratio. Other `OTEL_*`
 * variables set for the bench (e.g. OTEL_EXPORTER_OTLP_PROTOCOL=http/json, OTEL_BSP_*) are given to
 * the traced broker. The sink counts spans of either OTLP/HTTP encoding.
 *
 * Each build runs with the Node flags of its own `npm start` (the start script of the
 * package.json beside its dist/; none when there is none), as it would in production.
 *
 * `--profile=1` runs every broker under `--cpu-prof` and prints, per round and as the median of
 * the rounds, where each build's CPU per answer goes piece by piece (lib/read-pieces.ts: guard,
 * access log, metrics, read counter, serialization, token cache, Nest/fastify plumbing…) over
 * the measured window. The profiler itself costs a few % of CPU: compare pieces, not totals.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { measure, median, type LoadResult } from './lib/load';
import { cleanupAll, installSignalHandlers, RESULTS_DIR, ROOT, type Child } from './lib/processes';
import { readPieces, type PieceRow } from './lib/read-pieces';
import { table } from './lib/report';
import { accountNames, seedConnections, verifySeed } from './lib/seed';
import { nodeFlagsOf, snapshotBrokerBuild, startBroker, type BrokerOptions } from './lib/services';
import { setUpStage } from './lib/stage';
import { step } from './lib/step';

const OTHER_DIST = join(ROOT, 'node_modules', '.cache', 'broker-bench', 'other');

function parseArgs(argv: string[]) {
  const [other, ...flags] = argv;
  if (!other || other.startsWith('--'))
    throw new Error(
      "usage: compare-reads.ts <other build's dist/> [--rounds=N --accounts=N --seconds=S --cache=N --rate=N --together=1]",
    );
  const options = {
    other,
    rounds: 3,
    accounts: 1_000,
    seconds: 10,
    cache: 0,
    otel: 0,
    ratio: 0,
    rate: 0,
    together: 0,
    profile: 0,
  };
  for (const flag of flags) {
    const [name, value] = flag.replace(/^--/, '').split('=');
    if (!(name in options) || name === 'other' || !(Number(value) > 0))
      throw new Error(`unknown argument ${flag}`);
    (options as Record<string, unknown>)[name] = Number(value);
  }
  return options;
}

/** A protobuf varint at `at`: its value and the position after it. */
function varint(bytes: Buffer, at: number): [number, number] {
  let value = 0;
  for (let shift = 0; ; shift += 7) {
    const byte = bytes[at++];
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return [value, at];
  }
}

/**
 * The length-delimited fields numbered `field` of a protobuf message (other fields skipped), as
 * [start, end) ranges. OTLP's messages here use only varint, fixed64/32 and length-delimited fields.
 */
function* fields(bytes: Buffer, start: number, end: number, field: number) {
  let at = start;
  while (at < end) {
    const [tag, afterTag] = varint(bytes, at);
    at = afterTag;
    const wireType = tag & 7;
    if (wireType === 0) at = varint(bytes, at)[1];
    else if (wireType === 1) at += 8;
    else if (wireType === 5) at += 4;
    else {
      const [length, afterLength] = varint(bytes, at);
      if (tag >>> 3 === field) yield [afterLength, afterLength + length] as const;
      at = afterLength + length;
    }
  }
}

/** Spans in an OTLP/HTTP protobuf ExportTraceServiceRequest: resource_spans(1).scope_spans(2).spans(2). */
function countProtobufSpans(body: Buffer): number {
  let count = 0;
  for (const [rs, rsEnd] of fields(body, 0, body.length, 1))
    for (const [ss, ssEnd] of fields(body, rs, rsEnd, 2))
      for (const _span of fields(body, ss, ssEnd, 2)) count++;
  return count;
}

/** A stand-in OTLP/HTTP collector: answers every export 200 and counts the spans it got. */
async function startOtlpSink(): Promise<{ server: Server; url: string; spans: () => number }> {
  let spans = 0;
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      const json = request.headers['content-type'] === 'application/json';
      spans += json ? body.toString().split('"spanId"').length - 1 : countProtobufSpans(body);
      // A collector's success, in the request's encoding: an empty ExportTraceServiceResponse
      // (no bytes in protobuf). '{}' to a protobuf export made the exporter's response parser
      // throw, and the broker pay for an Error, on every export.
      response.setHeader('content-type', json ? 'application/json' : 'application/x-protobuf');
      response.end(json ? '{}' : '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}`, spans: () => spans };
}

/** The flags `npm start` of the build at `dist` gives node (its package.json is beside dist/). */
function startFlagsOf(dist: string): string[] {
  const manifest = join(dirname(resolve(dist)), 'package.json');
  if (!existsSync(manifest)) return [];
  const { scripts } = JSON.parse(readFileSync(manifest, 'utf8')) as {
    scripts?: { start?: string };
  };
  return scripts?.start ? nodeFlagsOf(scripts.start) : [];
}

const PROFILES_DIR = join(RESULTS_DIR, 'profiles', 'compare-reads');

/** The one profile a broker wrote into `dir` when it stopped. */
function profileIn(dir: string): string {
  const files = readdirSync(dir).filter((file) => file.endsWith('.cpuprofile'));
  if (files.length !== 1) throw new Error(`${dir}: ${files.length} profiles, expected 1`);
  return join(dir, files[0]);
}

function printPieces(
  title: string,
  perBuild: Map<string, Array<{ rows: PieceRow[]; busy: number }>>,
) {
  const names = [...perBuild.keys()];
  const pieces = [
    ...new Set(
      names.flatMap((n) => perBuild.get(n)!.flatMap((r) => r.rows.map((row) => row.piece))),
    ),
  ];
  const medianOf = (name: string, piece: string) =>
    median(
      perBuild
        .get(name)!
        .map((r) => r.rows.find((row) => row.piece === piece)?.microsPerAnswer ?? 0),
    );
  const rows = pieces.map((piece) => [
    piece,
    ...names.map((name) => medianOf(name, piece).toFixed(1)),
  ]);
  rows.push([
    'all (CPU per answer from /proc)',
    ...names.map((name) => median(perBuild.get(name)!.map((r) => r.busy)).toFixed(1)),
  ]);
  console.log(
    `\n${title}\n${table(['piece (µs of CPU per answer: profiled share × /proc)', ...names], rows)}`,
  );
}

const closeAtEnd: Array<() => void> = [];

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
  // Closed however the run ends: a listening sink would keep a failed run's process alive.
  if (sink) closeAtEnd.push(() => (sink.server.closeAllConnections(), sink.server.close()));
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
            // OTEL_* variables given to the bench (OTEL_BSP_*, OTEL_EXPORTER_OTLP_PROTOCOL…)
            // go to the traced broker, to measure a setting's cost.
            ...Object.fromEntries(
              Object.entries(process.env).filter(
                (entry): entry is [string, string] =>
                  entry[0].startsWith('OTEL_') && entry[1] !== undefined,
              ),
            ),
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
  const flags = { other: startFlagsOf(options.other), this: startFlagsOf(join(ROOT, 'dist')) };
  step(`node flags: other [${flags.other.join(' ')}], this [${flags.this.join(' ')}]`);
  const results = new Map<string, LoadResult[]>(builds.map((b) => [b.name, []]));
  const pieces = new Map<string, Array<{ rows: PieceRow[]; busy: number }>>(
    builds.map((b) => [b.name, []]),
  );
  type Build = (typeof builds)[number];
  const profileDirOf = (build: Build, round: number) =>
    join(PROFILES_DIR, `${build.name}-${round}`);
  const startBuild = (build: Build, round: number) => {
    const profileDir = profileDirOf(build, round);
    if (options.profile) {
      rmSync(profileDir, { recursive: true, force: true });
      mkdirSync(profileDir, { recursive: true });
    }
    return startBroker(database.url, fake, secrets, {
      name: `compare-${build.name}-${round}`,
      scheduler: true,
      nodeFlags: flags[build.name as 'other' | 'this'],
      extraNodeArgs: options.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
      ...build.broker,
      env: {
        ...(options.cache ? { TOKEN_CACHE_MAX: String(options.cache) } : {}),
        ...build.env,
      },
    });
  };
  const measureBuild = async (build: Build, broker: Child, round: number) => {
    const result = await measure(broker, {
      accounts,
      apiKey: secrets.apiKey,
      connections: 50,
      warmupSeconds: 3,
      seconds: options.seconds,
      rate: options.rate || undefined,
    });
    if (result.non2xx + result.errors + result.warmupFailures > 0)
      throw new Error(
        `${build.name}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.warmupFailures} failed in the warm-up`,
      );
    results.get(build.name)!.push(result);
    step(
      `round ${round} ${build.name.padEnd(5)}: ${result.serverCpuMicrosPerRequest} µs/answer, ${result.reqPerSec} req/s, p99 ${result.p99Ms} ms, peak RSS ${result.peakRssMb} MB (machine CPU ${result.machineCpuPercent} %)`,
    );
  };
  /** After the broker stopped (its profile is written at exit). */
  const readProfile = (build: Build, round: number) => {
    if (!options.profile) return;
    const result = results.get(build.name)!.at(-1)!;
    const { rows } = readPieces(
      profileIn(profileDirOf(build, round)),
      result.requests,
      options.seconds,
      result.serverCpuMicrosPerRequest,
    );
    pieces.get(build.name)!.push({ rows, busy: result.serverCpuMicrosPerRequest });
    step(
      `round ${round} ${build.name.padEnd(5)}: ${rows.map((r) => `${r.piece} ${r.microsPerAnswer}`).join('; ')}`,
    );
  };
  for (let round = 1; round <= options.rounds; round++) {
    const spansBefore = sink?.spans() ?? 0;
    if (options.together) {
      // Both builds at once, each with its own load: whatever else the machine does, it does to
      // both (with --rate, at the same request rate).
      const brokers = await Promise.all(builds.map((build) => startBuild(build, round)));
      try {
        await Promise.all(builds.map((build, i) => measureBuild(build, brokers[i], round)));
      } finally {
        await Promise.all(brokers.map((broker) => broker.stop()));
      }
      for (const build of builds) readProfile(build, round);
    } else {
      for (const build of builds) {
        const broker = await startBuild(build, round);
        try {
          await measureBuild(build, broker, round);
        } finally {
          await broker.stop();
        }
        readProfile(build, round);
      }
    }
    if (sink) step(`round ${round}: ${sink.spans() - spansBefore} spans exported`);
  }
  const summary = (name: string) => {
    const runs = results.get(name)!;
    return {
      cpu: median(runs.map((r) => r.serverCpuMicrosPerRequest)),
      reqPerSec: median(runs.map((r) => r.reqPerSec)),
      rss: median(runs.map((r) => r.peakRssMb)),
    };
  };
  if (options.profile)
    printPieces(`where the CPU per answer goes (median of ${options.rounds} rounds)`, pieces);
  const other = summary('other');
  const current = summary('this');
  console.log(
    `\nmedian of ${options.rounds}: other ${other.cpu} µs/answer, ${other.reqPerSec} req/s, peak RSS ${other.rss} MB; ` +
      `this ${current.cpu} µs/answer, ${current.reqPerSec} req/s, peak RSS ${current.rss} MB; ` +
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
  .finally(() => {
    for (const close of closeAtEnd) close();
    return cleanupAll();
  });
