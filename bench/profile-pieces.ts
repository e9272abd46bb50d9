/**
 * `npx tsx bench/profile-pieces.ts <file.cpuprofile> [--skip=S] [--calls=N]`
 *
 * A V8 CPU profile of a broker (BENCH_BROKER_NODE_ARGS='--cpu-prof …', e.g. under
 * bench/proxy-compare.ts) split into the pieces of a proxied call: each sample goes to the
 * deepest piece on its stack (a socket write under undici is the upstream call's, under
 * fastify's reply fastify's, the SHA-256 under the key check auth's), so the pieces add up to
 * the busy time. It starts at the first proxied call (start-up left out); `--skip=S` drops S
 * seconds more. Shares are of busy samples
 * (not idle); `--calls=N` (proxied calls in the profiled span, e.g. from
 * broker_proxy_requests_total) also prints µs per call.
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** The pieces, in the order of the table; first match on a frame wins for that frame. */
const PIECES: Array<[string, (fn: string, url: string) => boolean]> = [
  [
    'auth (API key, scope, headers checked)',
    (fn, url) => /auth\/|common\/validation/.test(url) || fn === 'admit',
  ],
  [
    'token from the cache',
    (fn, url) => /tokens\/(tokens\.service|token-cache)/.test(url) || fn === 'getToken',
  ],
  ['header filtering (both ways)', (fn, url) => /proxy-headers/.test(url)],
  ['rate budget (broker side)', (fn, url) => /rate-budget/.test(url)],
  [
    'node-postgres (budget statements)',
    (_fn, url) => /node_modules\/pg(-protocol|-pool)?\//.test(url),
  ],
  [
    'upstream call (undici, timers, signals)',
    (fn, url) =>
      /node_modules\/undici\//.test(url) || (/^(any|timeout)$/.test(fn) && /abort/.test(url)),
  ],
  ['metrics (prom-client)', (_fn, url) => /prom-client/.test(url)],
  ['logging (pino, access log)', (_fn, url) => /pino|logging\//.test(url)],
  ['read counter (history)', (_fn, url) => /history\/read-counter/.test(url)],
  ['tracing hooks', (_fn, url) => /tracing\/|@opentelemetry/.test(url)],
  [
    'fastify / find-my-way / light-my-request',
    (_fn, url) => /node_modules\/(fastify|find-my-way|@fastify|avvio)/.test(url),
  ],
  ['Nest', (_fn, url) => /@nestjs/.test(url)],
  ['GC', (fn) => fn === '(garbage collector)'],
];

function main() {
  const [file, ...flags] = process.argv.slice(2);
  if (!file) throw new Error('usage: profile-pieces.ts <file.cpuprofile> [--skip=S] [--calls=N]');
  const option = (name: string) =>
    Number(flags.find((f) => f.startsWith(`--${name}=`))?.split('=')[1] ?? 0);
  const skipUs = option('skip') * 1e6;
  const calls = option('calls');
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  // Start at the first proxied call (a sample under proxy.route), not at the process's start.
  const underRoute = (id: number) => {
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at))
      if (/proxy\/proxy\.route/.test(byId.get(at)!.callFrame.url)) return true;
    return false;
  };
  let firstCallUs = 0;
  for (let i = 0, at = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    if (underRoute(profile.samples[i])) {
      firstCallUs = at;
      break;
    }
  }
  const owned = new Map<string, number>();
  let busyUs = 0;
  let idleUs = 0;
  let t = 0;
  const selfTop = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    t += dt;
    if (t < firstCallUs + skipUs) continue;
    const leaf = byId.get(profile.samples[i])!;
    const name = leaf.callFrame.functionName;
    if (name === '(idle)') {
      idleUs += dt;
      continue;
    }
    busyUs += dt;
    const where = `${name || '(anonymous)'} ${leaf.callFrame.url.replace(/^.*node_modules\//, '').replace(/^.*\/(dist|src)\//, '')}`;
    selfTop.set(where, (selfTop.get(where) ?? 0) + dt);
    // The deepest piece on the stack: a socket write under undici is the upstream call's, one
    // under fastify's reply is fastify's, the SHA-256 under the key check is auth's.
    let owner = 'other (Node core, event loop, no piece on the stack)';
    outer: for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
      const frame = byId.get(id)!.callFrame;
      for (const [piece, match] of PIECES) {
        if (match(frame.functionName, frame.url)) {
          owner = piece;
          break outer;
        }
      }
    }
    owned.set(owner, (owned.get(owner) ?? 0) + dt);
  }
  const pct = (us: number) => ((100 * us) / busyUs).toFixed(1).padStart(5);
  const perCall = (us: number) => (calls ? ` ${(us / calls).toFixed(1).padStart(7)} µs/call` : '');
  console.log(
    `busy ${(busyUs / 1e6).toFixed(2)} s, idle ${(idleUs / 1e6).toFixed(2)} s (from the first proxied call${skipUs ? ` + ${skipUs / 1e6} s` : ''})${calls ? `, ${calls} calls: ${(busyUs / calls).toFixed(0)} µs busy per call` : ''}`,
  );
  console.log('piece (each sample to the deepest piece on its stack, % of busy)');
  for (const piece of [
    ...PIECES.map(([p]) => p),
    'other (Node core, event loop, no piece on the stack)',
  ]) {
    const us = owned.get(piece) ?? 0;
    console.log(`${pct(us)} %${perCall(us)}  ${piece}`);
  }
  console.log('\ntop self time');
  for (const [where, us] of [...selfTop].sort((a, b) => b[1] - a[1]).slice(0, 25))
    console.log(`${pct(us)} %${perCall(us)}  ${where}`);
}

main();
