/**
 * `npx tsx bench/tracing-pieces.ts [--repeat=5]`: what each piece of tracing costs a traced read,
 * in µs of this process's CPU (not wall time, so other work on the machine weighs less), the
 * lowest of `--repeat` measurements. In one process, with the broker's own setup
 * (src/tracing/server-spans.ts's span and attributes, src/tracing/redacting-exporter.ts):
 *
 *  - span: extract the caller's context, start the SERVER span with its attributes, end it;
 *  - + batch processor: the same through BatchSpanProcessor (its exporter drops the batch);
 *  - redaction: RedactingExporter's pass over one ended span;
 *  - OTLP JSON / protobuf: the exporter's serialization of a 512-span batch, per span;
 *  - context: a request-like chain of 40 awaits (10 through setImmediate) run inside
 *    `context.with` against the same chain without a context manager. On Node 22 without
 *    --experimental-async-context-frame, AsyncLocalStorage runs on async hooks (README, "Tracing").
 *
 * compare-reads (`--otel=1`) measures the whole broker; this says where a traced read's CPU goes
 * when the machine is too busy for compare-reads' ratios to separate pieces of a few µs.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  trace,
  type Tracer,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { defaultResource } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  type ReadableSpan,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-node';
import { redact } from '../src/tracing/redacting-exporter';

const repeat = Number(/--repeat=(\d+)/.exec(process.argv.join(' '))?.[1] ?? 5);
const headers = { host: '127.0.0.1', authorization: 'Bearer x', 'user-agent': 'autocannon' };

const cpuMicros = () => {
  const { user, system } = process.cpuUsage();
  return user + system;
};
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The lowest CPU µs per call of `fn` over `repeat` measurements of `n` calls (yielding now and then). */
async function lowest(n: number, fn: (i: number) => unknown): Promise<number> {
  let best = Infinity;
  for (let r = 0; r < repeat; r++) {
    for (let i = 0; i < n / 10; i++) if ((fn(i), i % 256 === 0)) await tick();
    const start = cpuMicros();
    for (let i = 0; i < n; i++) if ((fn(i), i % 256 === 0)) await tick();
    best = Math.min(best, (cpuMicros() - start) / n);
  }
  return best;
}

/** A read's SERVER span as server-spans.ts makes it. */
function serverSpan(tracer: Tracer): void {
  const parent = propagation.extract(ROOT_CONTEXT, headers);
  const span = tracer.startSpan('GET /tokens/:account', { kind: SpanKind.SERVER }, parent);
  span.setAttribute('http.request.method', 'GET');
  span.setAttribute('http.route', '/tokens/:account');
  context.with(trace.setSpan(parent, span), () => undefined);
  span.setAttribute('http.response.status_code', 200);
  span.end();
}

const tracerWith = (processors: SpanProcessor[]) =>
  new BasicTracerProvider({ resource: defaultResource(), spanProcessors: processors }).getTracer(
    'bench',
  );

async function requestLike(): Promise<number> {
  let sum = 0;
  for (let i = 0; i < 30; i++) {
    await null;
    if (i % 3 === 0) await tick();
    sum += i;
  }
  return sum;
}

async function chains(inContext: boolean): Promise<number> {
  const key = Symbol('request');
  let best = Infinity;
  for (let r = 0; r < repeat; r++) {
    const start = cpuMicros();
    for (let round = 0; round < 200; round++)
      await Promise.all(
        Array.from({ length: 100 }, () =>
          inContext ? context.with(ROOT_CONTEXT.setValue(key, round), requestLike) : requestLike(),
        ),
      );
    best = Math.min(best, (cpuMicros() - start) / 20_000);
  }
  return best;
}

async function main(): Promise<void> {
  const row = (what: string, micros: number) =>
    console.log(`${what.padEnd(58)} ${micros.toFixed(2).padStart(6)} µs`);
  console.log(
    `Node ${process.versions.node}, AsyncLocalStorage on ${'_propagate' in AsyncLocalStorage.prototype ? 'async hooks' : 'AsyncContextFrame'}; lowest of ${repeat}`,
  );

  // Before any context manager: the chain as an untraced broker runs it.
  const bare = await chains(false);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const contexted = await chains(true);

  const ended: ReadableSpan[] = [];
  const keep: SpanProcessor = {
    onStart: () => undefined,
    onEnd: (span) => void (ended.length < 512 && ended.push(span)),
    forceFlush: async () => undefined,
    shutdown: async () => undefined,
  };
  const dropBatches = {
    export: (_spans: ReadableSpan[], done: (result: { code: number }) => void) => done({ code: 0 }),
    shutdown: async () => undefined,
  };
  const kept = tracerWith([keep]);
  const batching = tracerWith([new BatchSpanProcessor(dropBatches)]);
  const span = await lowest(100_000, () => serverSpan(kept));
  const batched = await lowest(100_000, () => serverSpan(batching));
  row('span: extract, start, 3 attributes, end', span);
  row('span through BatchSpanProcessor', batched);
  row('redaction of one ended span', await lowest(100_000, (i) => redact(ended[i % 512])));
  row(
    'OTLP/HTTP JSON serialization, per span of a 512 batch',
    (await lowest(50, () => JsonTraceSerializer.serializeRequest(ended))) / 512,
  );
  row(
    'OTLP/HTTP protobuf serialization, per span of a 512 batch',
    (await lowest(50, () => ProtobufTraceSerializer.serializeRequest(ended))) / 512,
  );
  row(
    `context: 40-await request chain, bare (${bare.toFixed(2)} µs) → in context.with`,
    contexted - bare,
  );
}

void main();
