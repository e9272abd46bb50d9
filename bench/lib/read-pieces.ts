/**
 * Where a broker's CPU goes on `GET /tokens/:account`, piece by piece, from a V8 CPU profile
 * (`node --cpu-prof`) of the built broker under the read load: each sample of the measured window
 * (the profile's last `seconds`, where the load ran) is given to the innermost frame of its stack
 * that belongs to a piece (the guard's SHA-256 is the guard's, prom-client's work is metrics'),
 * else to what its leaf frame is (Nest/fastify plumbing, Node's HTTP, GC, the socket write).
 * Per answer = the piece's share of the busy samples × the CPU per answer measured from /proc.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  parent?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** The pieces, in the order of the table. A frame belongs to the first piece whose test it passes. */
const PIECES: Array<{ piece: string; test: (name: string, url: string) => boolean }> = [
  {
    piece: 'guard/auth (API key, scope)',
    test: (name, url) =>
      /\/auth\/|api-key/.test(url) ||
      (url === '' && /^(?:Hash|digest|timingSafeEqual|hash)$/.test(name)),
  },
  {
    piece: 'access log (line built and written)',
    test: (_, url) =>
      /logging\/(?:logger|redaction|access-log)|\/pino\/|sonic-boom|fast-redact/.test(url),
  },
  { piece: 'request id', test: (_, url) => /logging\/request-id/.test(url) },
  {
    piece: 'metrics (prom-client)',
    test: (_, url) => /prom-client|metrics\/(?!connection-gauges)/.test(url),
  },
  { piece: 'read counter (audit)', test: (_, url) => /history\/read-counter/.test(url) },
  {
    piece: 'serialization (answer to JSON)',
    test: (name, url) =>
      /fast-json-stringify/.test(url) ||
      (/fastify\/lib\/reply/.test(url) && /^serializ/.test(name)) ||
      name === 'toResponse' ||
      ((url === '' || url.startsWith('node:')) && /^(?:stringify|toISOString)$/.test(name)),
  },
  { piece: 'token cache (LRU)', test: (_, url) => /tokens\/token-cache|lru-cache/.test(url) },
  {
    piece: 'token route (controller, query, service)',
    test: (_, url) => /tokens\/tokens\.|common\/validation|refresh\/refresh-policy/.test(url),
  },
];

/**
 * The broker's own fastify hooks (request id, client address, security headers, durations,
 * lingering close): a hook calls `done()`, which runs the rest of the request inside it, so a
 * sample is a hook's only when the hook is the innermost JavaScript frame (its own code and the
 * native calls it makes), or right above fastify's header functions it calls.
 */
const HOOK = /(?:\/dist|broker-bench\/\w+)\/(?:app\.js|http\/)/;
const HOOKS_PIECE = 'broker hooks (request id, address, headers)';
const REPLY_HEADER = /^(?:Reply\.header|Reply\.hasHeader|Reply\.getHeader)$/;

const SOCKET_WRITE = /^(?:writev|writeUtf8String|writeBuffer|writeLatin1String|writeAsciiString)$/;

/** What a sample belongs to when no frame of its stack is one of the pieces. */
function leafKind(name: string, url: string): string {
  if (name === '(idle)') return 'idle';
  if (name === '(garbage collector)') return 'GC';
  if (name === '(program)') return 'V8 (program: compile, IC, runtime)';
  if (/@nestjs|rxjs|reflect-metadata|class-(?:validator|transformer)/.test(url))
    return 'Nest plumbing';
  if (/fastify|find-my-way|avvio|light-my-request|@fastify/.test(url)) return 'fastify plumbing';
  if (url.startsWith('node:') || url === '') return "Node's HTTP, streams, timers (native)";
  if (/typeorm|\/pg|pg-/.test(url)) return 'database (warm-up leftovers, cache poll)';
  return 'other';
}

export interface PieceRow {
  piece: string;
  /** Of the busy samples, in %. */
  share: number;
  /**
   * The share × the CPU per answer measured from /proc: the profiler samples wall time (a
   * thread waiting for a core on a loaded machine, or in the kernel, counts), so its own µs
   * run high; its shares, scaled to the measured CPU, are the estimate.
   */
  microsPerAnswer: number;
  /** As sampled, µs per answer. */
  sampledMicrosPerAnswer: number;
}

/**
 * The pieces of the profile's last `seconds` (minus the last `tailSeconds`, the broker's stop),
 * per answer given `answers` in that window. Idle samples are left out.
 */
export function readPieces(
  profilePath: string,
  answers: number,
  seconds: number,
  cpuMicrosPerAnswer: number,
  tailSeconds = 0.3,
): { rows: PieceRow[]; busyMicrosPerAnswer: number } {
  const profile = JSON.parse(readFileSync(profilePath, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  for (const node of profile.nodes) byId.set(node.id, node);
  for (const node of profile.nodes)
    for (const child of node.children ?? []) byId.get(child)!.parent = node.id;

  const kindOf = new Map<number, string>();
  const classify = (id: number): string => {
    const known = kindOf.get(id);
    if (known) return known;
    const leaf = byId.get(id)!;
    // The socket write first: V8's profiler counts the time the thread spends in the kernel
    // there, whoever called it (onSendEnd, the access log's stream).
    let kind: string | undefined = SOCKET_WRITE.test(leaf.callFrame.functionName)
      ? 'socket write (syscall; the profiler counts kernel time here)'
      : undefined;
    let jsFrames = 0;
    let leafJs = '';
    for (
      let node: ProfileNode | undefined = leaf;
      node && !kind;
      node = node.parent ? byId.get(node.parent) : undefined
    ) {
      const { functionName, url } = node.callFrame;
      kind = PIECES.find(({ test }) => test(functionName, url))?.piece;
      if (kind || url === '' || url.startsWith('node:')) continue;
      jsFrames++;
      if (HOOK.test(url) && (jsFrames === 1 || (jsFrames === 2 && REPLY_HEADER.test(leafJs))))
        kind = HOOKS_PIECE;
      if (jsFrames === 1) leafJs = functionName;
    }
    kind ??= leafKind(leaf.callFrame.functionName, leaf.callFrame.url);
    kindOf.set(id, kind);
    return kind;
  };

  const times: number[] = [];
  let at = profile.startTime;
  for (const delta of profile.timeDeltas) times.push((at += delta));
  const to = profile.endTime - tailSeconds * 1e6;
  const from = to - seconds * 1e6;
  const spent = new Map<string, number>();
  let busy = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    if (times[i] < from || times[i] > to) continue;
    // A sample's time is the gap to the next one.
    const micros = (times[i + 1] ?? profile.endTime) - times[i];
    const kind = classify(profile.samples[i]);
    if (kind === 'idle') continue;
    busy += micros;
    spent.set(kind, (spent.get(kind) ?? 0) + micros);
  }
  const order = [...PIECES.map((p) => p.piece), HOOKS_PIECE];
  const rows = [...spent.entries()]
    .sort(([a, x], [b, y]) => {
      const ia = order.indexOf(a);
      const ib = order.indexOf(b);
      if (ia >= 0 || ib >= 0) return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib);
      return y - x;
    })
    .map(([piece, micros]) => ({
      piece,
      share: Math.round((1000 * micros) / busy) / 10,
      microsPerAnswer: Math.round((10 * cpuMicrosPerAnswer * micros) / busy) / 10,
      sampledMicrosPerAnswer: Math.round((10 * micros) / answers) / 10,
    }));
  return { rows, busyMicrosPerAnswer: Math.round((10 * busy) / answers) / 10 };
}
