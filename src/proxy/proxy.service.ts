import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import type { Agent, Dispatcher } from 'undici';
import type { ConnectionKey } from '../common/connection-key';
import {
  BadGatewayError,
  ProviderUnavailableError,
  RateLimitedError,
  RefreshTooSoonError,
} from '../common/errors';
import type { ConfigType } from '@nestjs/config';
import { proxyConfig } from '../config/slices';
import { ReadCounter } from '../history/read-counter';
import { BrokerMetrics } from '../metrics/broker-metrics';
import { rdAgent } from '../rdstation/rdstation.agent';
import { refusesAccessToken } from '../rdstation/rdstation.errors';
import { accessTokenHash } from '../connections/access-token-hash';
import { DEFAULT_MIN_VALIDITY } from '../tokens/tokens.dto';
import { TokensService } from '../tokens/tokens.service';
import { headersForCaller, headersForRd } from './proxy-headers';
import { rdBase, rdRequestPath, type ProxyTarget } from './proxy-target';
import { RateBudget, type BudgetDecision } from './rate-budget';
import { Deadlines, RD_DEADLINE } from './deadlines';
import { memoByTwo } from '../common/memo';
import { rdPauseSeconds } from './rate-budget.policy';

/** Retry-After of a 503 when RD did not answer. */
const RD_UNAVAILABLE_RETRY_AFTER = 5;
/**
 * RD answers announcing at most this many bytes (most RD API answers are a few kB of JSON) are
 * read whole before the caller gets anything: one write instead of a stream per call, and an
 * answer that breaks off becomes a clean 503 rather than a 200 cut short. Larger or unannounced
 * answers are streamed as they arrive, so the broker never holds a big body.
 */
const BUFFERED_ANSWER_BYTES = 64 * 1024;

/** The caller went away before RD answered: nobody is left to answer. */
export class CallerGoneError extends Error {}

export interface ProxyRequest {
  key: ConnectionKey;
  /** The API key's name: the call counts as one read of the connection's token by it. */
  caller: string;
  method: Dispatcher.HttpMethod;
  target: ProxyTarget;
  headers: IncomingHttpHeaders;
  /** Buffered (up to the route's limit), so a retry after a 401 can send it again. */
  body: Buffer | undefined;
  /**
   * The call's one controller: aborted when the caller disconnects, or by RD's deadline
   * (reason RD_DEADLINE, deadlines.ts).
   */
  abort: AbortController;
}

export interface ProxyAnswer {
  status: number;
  headers: Record<string, string | string[]>;
  /**
   * Whole for a small answer that announced its length, else streamed as RD sends it; a stream
   * that breaks off (RD, or RD_STREAM_TIMEOUT_MS) emits `error` with a `StreamCutError`.
   */
  body: Buffer | Readable;
  /** RD refused the first token with 401 and this is the answer to the retry. */
  retried: boolean;
}

/** A streamed answer of RD ended before its end: RD broke off, or RD_STREAM_TIMEOUT_MS passed. */
export class StreamCutError extends Error {
  constructor(readonly reason: 'timeout' | 'broken') {
    super(
      reason === 'timeout'
        ? 'the streamed answer of RD was cut at RD_STREAM_TIMEOUT_MS'
        : 'RD broke off its streamed answer',
    );
  }
}

/**
 * `/proxy/<RD path>`: takes the connection's token as GET /tokens does, spends one unit of the
 * account's shared rate budget, and sends the call to RD_API_URL with that token. On RD's 401
 * saying the token is dead (`refusesAccessToken`) the token is replaced (single-flight across
 * replicas and at most once per REFRESH_MIN_INTERVAL_SECONDS: TokensService with `rejected`) and
 * the call is sent once more; a second 401, a 401 in another shape, or one while the interval
 * runs is RD's answer, passed back. On RD's 429 every replica pauses the account for RD's
 * Retry-After. A call counts as one read of the token (the history) once RD answered it. Bodies
 * are never logged.
 */
@Injectable()
export class ProxyService implements OnModuleDestroy {
  private readonly logger = new Logger(ProxyService.name);
  private readonly agent: Agent;
  /** RD_API_URL split once (rdBase): no URL parsed per call. */
  private readonly origin: string;
  private readonly prefix: string;
  private readonly timeoutMs: number;
  /**
   * OTEL_EXPORTER_OTLP_ENDPOINT is set: RD gets the broker's `traceparent`, not the caller's.
   * One options object for every call.
   */
  private readonly headerOptions: { traced: boolean };
  private readonly streamTimeoutMs: number;
  /** broker_proxy_rd_duration_seconds' label objects, one per product × status class. */
  private readonly rdDurationLabels = memoByTwo((product: string, rd_status: string) => ({
    product,
    rd_status,
  }));
  /** RD_TIMEOUT_MS and RD_STREAM_TIMEOUT_MS of every call in flight, on one timer. */
  private readonly deadlines = new Deadlines();

  constructor(
    @Inject(proxyConfig.KEY) config: ConfigType<typeof proxyConfig>,
    private readonly tokens: TokensService,
    private readonly budget: RateBudget,
    private readonly metrics: BrokerMetrics,
    private readonly reads: ReadCounter,
  ) {
    ({ origin: this.origin, prefix: this.prefix } = rdBase(config.rdApiUrl));
    this.timeoutMs = config.timeoutMs;
    this.headerOptions = { traced: config.traced };
    this.streamTimeoutMs = config.streamTimeoutMs;
    this.agent = rdAgent(this.timeoutMs);
  }

  async onModuleDestroy(): Promise<void> {
    if (!this.agent.closed && !this.agent.destroyed) await this.agent.destroy();
  }

  async forward(call: ProxyRequest): Promise<ProxyAnswer> {
    const path = rdRequestPath(this.prefix, call.target);
    // From the cache without a response object when it is there; counted below, once RD
    // answered: a call the budget refuses read nothing.
    const token =
      this.tokens.cachedAccessToken(call.key, DEFAULT_MIN_VALIDITY) ??
      (await this.tokens.getToken(call.key, DEFAULT_MIN_VALIDITY, null)).accessToken;
    const spending = this.spend(call.key);
    if (spending) await spending;
    let response = await this.send(call, path, token);
    this.reads.count(call.caller, call.key);
    let retried = false;
    if (response.statusCode === 401) {
      response = { ...response, body: await bufferedUpTo(response.body, BUFFERED_ANSWER_BYTES) };
      const replacement = await this.replacementFor(call, response, token);
      if (replacement !== null) {
        // The same call: its token read was counted once already.
        const again = this.spend(call.key);
        if (again) await again;
        response = await this.send(call, path, replacement);
        retried = true;
      }
    }
    if (response.statusCode === 429) await this.pause(call.key, response.headers['retry-after']);
    return {
      status: response.statusCode,
      headers: headersForCaller(response.headers),
      body: response.body,
      retried,
    };
  }

  /**
   * The token to retry with after RD's 401, or null when RD's answer goes back as it is: the
   * 401 does not say the token is dead, or a report's refresh ran too recently (the caller then
   * gets RD's own 401, not a refusal of the broker).
   */
  private async replacementFor(
    call: ProxyRequest,
    response: RdAnswer,
    token: string,
  ): Promise<string | null> {
    const body = Buffer.isBuffer(response.body) ? response.body.toString('utf8') : '';
    if (!refusesAccessToken({ status: 401, body, headers: response.headers })) return null;
    try {
      return (
        await this.tokens.getToken(call.key, DEFAULT_MIN_VALIDITY, null, accessTokenHash(token))
      ).accessToken;
    } catch (error) {
      if (!(error instanceof RefreshTooSoonError)) throw error;
      this.logger.warn(
        { ...call.key, retryAfter: error.retryAfter },
        "RD refused the token again within REFRESH_MIN_INTERVAL_SECONDS of its last replacement: RD's 401 passed back",
      );
      return null;
    }
  }

  /** One unit of the budget: nothing to wait for while this replica holds leased units. */
  private spend(key: ConnectionKey): Promise<void> | undefined {
    const taken = this.budget.take(key);
    if (taken instanceof Promise) return taken.then((decision) => this.refuseUnless(key, decision));
    this.refuseUnless(key, taken);
    return undefined;
  }

  private refuseUnless(key: ConnectionKey, decision: BudgetDecision): void {
    if (decision.allowed) return;
    this.metrics.proxyBudgetRefusals.inc({ product: key.product, reason: decision.reason });
    throw new RateLimitedError(
      decision.reason === 'rd_pause'
        ? `RD answered 429 for this account; calls resume after Retry-After`
        : `this account's RD budget (its own, or RD_RATE_LIMIT_PER_MINUTE) is spent; calls resume after Retry-After`,
      decision.retryAfterSeconds,
    );
  }

  private async pause(key: ConnectionKey, retryAfter: string | string[] | undefined) {
    const seconds = rdPauseSeconds(retryAfter, Date.now());
    try {
      await this.budget.pause(key, seconds);
    } catch (error) {
      // RD's own answer still goes back; the other replicas just learn of the 429 from RD.
      this.logger.warn({ err: (error as Error).message, ...key }, 'could not record RD 429 pause');
    }
  }

  /**
   * One call to RD. RD_TIMEOUT_MS bounds the headers and a small answer's body; a streamed
   * answer then has until RD_STREAM_TIMEOUT_MS after the call started (a large export may take
   * minutes), after which it is cut and says so (`StreamCutError`). Both are entries in the one
   * Deadlines timer, aborting the call's own controller: no timer or signal made per call.
   */
  private async send(call: ProxyRequest, path: string, accessToken: string): Promise<RdAnswer> {
    const started = performance.now();
    const signal = call.abort.signal;
    this.deadlines.set(call.abort, started + this.timeoutMs);
    let answered = false;
    try {
      const response = await this.agent.request({
        origin: this.origin,
        path,
        method: call.method,
        headers: headersForRd(call.headers, accessToken, this.headerOptions),
        body: call.method === 'GET' || !call.body?.length ? undefined : call.body,
        signal,
      });
      answered = true;
      if (response.statusCode < 200 || response.statusCode > 599) {
        await response.body.dump().catch(() => undefined);
        this.logger.warn(
          { ...call.key, rdStatus: response.statusCode },
          'RD answered a status outside 200-599: answered 502',
        );
        throw new BadGatewayError(`RD Station answered HTTP status ${response.statusCode}`);
      }
      const body = await smallBodyOrStream(response);
      this.metrics.proxyRdDuration.observe(
        this.rdDurationLabels(call.key.product, statusClass(response.statusCode)),
        (performance.now() - started) / 1000,
      );
      if (!Buffer.isBuffer(body)) {
        this.deadlines.set(call.abort, started + this.streamTimeoutMs);
        return {
          statusCode: response.statusCode,
          headers: response.headers,
          body: this.cutAware(body, call),
        };
      }
      this.deadlines.delete(call.abort);
      return { statusCode: response.statusCode, headers: response.headers, body };
    } catch (error) {
      this.deadlines.delete(call.abort);
      if (error instanceof BadGatewayError) throw error;
      const errorCode = (error as { code?: string }).code;
      const timedOut =
        signal.reason === RD_DEADLINE ||
        (errorCode !== undefined && RD_TIMEOUT_CODES.has(errorCode));
      if (signal.aborted && !timedOut) throw new CallerGoneError('the caller disconnected');
      this.metrics.proxyRdDuration.observe(
        this.rdDurationLabels(call.key.product, timedOut ? 'timeout' : 'network'),
        (performance.now() - started) / 1000,
      );
      this.logger.warn({ ...call.key, errorCode, timedOut, answered }, 'proxied call to RD failed');
      throw new ProviderUnavailableError(
        timedOut
          ? `RD Station did not answer within RD_TIMEOUT_MS (${this.timeoutMs} ms)`
          : answered
            ? 'RD Station broke off its answer'
            : 'RD Station could not be reached',
        RD_UNAVAILABLE_RETRY_AFTER,
      );
    }
  }

  /**
   * RD's streamed body as the caller receives it: an error of RD's stream (broken off, or the
   * deadline) becomes a `StreamCutError` saying which, logged once; the caller leaving is no cut.
   */
  private cutAware(body: Readable, call: ProxyRequest): Readable {
    const signal = call.abort.signal;
    const done = () => this.deadlines.delete(call.abort);
    const out = new Readable({ read: () => body.resume() });
    body.on('data', (chunk: Buffer) => {
      if (!out.push(chunk)) body.pause();
    });
    body.once('end', () => {
      done();
      out.push(null);
    });
    body.once('error', () => {
      done();
      const timedOut = signal.reason === RD_DEADLINE;
      if (signal.aborted && !timedOut) return out.destroy(); // the caller left: no cut
      const cut = new StreamCutError(timedOut ? 'timeout' : 'broken');
      this.logger.warn({ ...call.key, reason: cut.reason }, 'streamed answer of RD cut');
      out.destroy(cut);
    });
    out.once('close', () => {
      done();
      if (!body.destroyed) body.destroy();
    });
    return out;
  }
}

/** RD's answer: a small one read whole (BUFFERED_ANSWER_BYTES), a larger one still streaming. */
interface RdAnswer {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: Buffer | Readable;
}

/**
 * A body read whole when it has at most `max` bytes (a 401's body decides whether the token is
 * dead), else the bytes read so far followed by the rest, as a stream.
 */
async function bufferedUpTo(body: Buffer | Readable, max: number): Promise<Buffer | Readable> {
  if (Buffer.isBuffer(body)) return body;
  const chunks: Buffer[] = [];
  let size = 0;
  const iterator = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  for (;;) {
    const next = await iterator.next();
    if (next.done) return Buffer.concat(chunks);
    chunks.push(next.value);
    size += next.value.length;
    if (size > max) break;
  }
  return Readable.from(
    (async function* () {
      yield* chunks;
      for (let next = await iterator.next(); !next.done; next = await iterator.next())
        yield next.value;
    })(),
  );
}

async function smallBodyOrStream(response: Dispatcher.ResponseData): Promise<RdAnswer['body']> {
  const length = Number(response.headers['content-length']);
  if (!(Number.isInteger(length) && length <= BUFFERED_ANSWER_BYTES)) return response.body;
  return Buffer.from(await response.body.arrayBuffer());
}

/** undici's timeouts of the RD agent (connect, headers, body): RD did not answer in time. */
const RD_TIMEOUT_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

const STATUS_CLASSES = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx', '6xx', '7xx', '8xx', '9xx'];

/** `2xx` … `5xx`, the label of RD's status in metrics (no string built per call). */
export function statusClass(status: number): string {
  return STATUS_CLASSES[Math.floor(status / 100)] ?? `${Math.floor(status / 100)}xx`;
}
