import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { request, type Agent, type Dispatcher } from 'undici';
import type { ConnectionKey } from '../common/connection-key';
import { ProviderUnavailableError, RateLimitedError } from '../common/errors';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { BrokerMetrics } from '../metrics/broker-metrics';
import { rdAgent } from '../rdstation/rdstation.agent';
import { accessTokenHash } from '../tokens/access-token-hash';
import { DEFAULT_MIN_VALIDITY } from '../tokens/tokens.dto';
import { TokensService } from '../tokens/tokens.service';
import { headersForCaller, headersForRd } from './proxy-headers';
import { rdUrl, type ProxyTarget } from './proxy-target';
import { RateBudget } from './rate-budget';
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
  /** Aborted when the caller disconnects. */
  signal: AbortSignal;
}

export interface ProxyAnswer {
  status: number;
  headers: Record<string, string | string[]>;
  /** Whole for a small answer that announced its length, else streamed as RD sends it. */
  body: Buffer | Readable;
  /** RD refused the first token with 401 and this is the answer to the retry. */
  retried: boolean;
}

/**
 * `/proxy/<RD path>`: takes the connection's token as GET /tokens does, spends one unit of the
 * account's shared rate budget, and sends the call to RD_API_URL with that token. On RD's 401 the
 * token is replaced (single-flight across replicas: TokensService with `rejected`) and the call
 * is sent once more; a second 401 is RD's answer. On RD's 429 every replica pauses the account
 * for RD's Retry-After. Bodies are never logged.
 */
@Injectable()
export class ProxyService implements OnModuleDestroy {
  private readonly logger = new Logger(ProxyService.name);
  private readonly agent: Agent;
  private readonly apiUrl: string;
  private readonly timeoutMs: number;
  /** OTEL_EXPORTER_OTLP_ENDPOINT is set: RD gets the broker's `traceparent`, not the caller's. */
  private readonly traced: boolean;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly tokens: TokensService,
    private readonly budget: RateBudget,
    private readonly metrics: BrokerMetrics,
  ) {
    this.apiUrl = config.rd.apiUrl;
    this.timeoutMs = config.rd.timeoutMs;
    this.traced = config.tracing.otlpEndpoint !== undefined;
    this.agent = rdAgent(this.timeoutMs);
  }

  async onModuleDestroy(): Promise<void> {
    if (!this.agent.closed && !this.agent.destroyed) await this.agent.destroy();
  }

  async forward(call: ProxyRequest): Promise<ProxyAnswer> {
    const url = rdUrl(this.apiUrl, call.target);
    let token = (await this.tokens.getToken(call.key, DEFAULT_MIN_VALIDITY, call.caller))
      .accessToken;
    await this.spend(call.key);
    let response = await this.send(call, url, token);
    let retried = false;
    if (response.statusCode === 401) {
      if (!Buffer.isBuffer(response.body)) await response.body.dump();
      const rejected = accessTokenHash(token);
      // The same call: its token read was counted once already.
      token = (await this.tokens.getToken(call.key, DEFAULT_MIN_VALIDITY, null, rejected))
        .accessToken;
      await this.spend(call.key);
      response = await this.send(call, url, token);
      retried = true;
    }
    if (response.statusCode === 429) await this.pause(call.key, response.headers['retry-after']);
    return {
      status: response.statusCode,
      headers: headersForCaller(response.headers),
      body: response.body,
      retried,
    };
  }

  private async spend(key: ConnectionKey): Promise<void> {
    const decision = await this.budget.take(key);
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

  private async send(call: ProxyRequest, url: string, accessToken: string): Promise<RdAnswer> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const started = performance.now();
    let answered = false;
    try {
      const response = await request(url, {
        method: call.method,
        headers: headersForRd(call.headers, accessToken, { traced: this.traced }),
        body: call.method === 'GET' || !call.body?.length ? undefined : call.body,
        signal: AbortSignal.any([timeout, call.signal]),
        dispatcher: this.agent,
      });
      answered = true;
      const body = await smallBodyOrStream(response);
      this.metrics.proxyRdDuration.observe(
        { product: call.key.product, rd_status: statusClass(response.statusCode) },
        (performance.now() - started) / 1000,
      );
      return { statusCode: response.statusCode, headers: response.headers, body };
    } catch (error) {
      if (call.signal.aborted) throw new CallerGoneError('the caller disconnected');
      const timedOut = timeout.aborted;
      this.metrics.proxyRdDuration.observe(
        { product: call.key.product, rd_status: timedOut ? 'timeout' : 'network' },
        (performance.now() - started) / 1000,
      );
      this.logger.warn(
        { ...call.key, errorCode: (error as { code?: string }).code, timedOut, answered },
        'proxied call to RD failed',
      );
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
}

/** RD's answer: a small one read whole (BUFFERED_ANSWER_BYTES), a larger one still streaming. */
interface RdAnswer {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: Buffer | Dispatcher.ResponseData['body'];
}

async function smallBodyOrStream(response: Dispatcher.ResponseData): Promise<RdAnswer['body']> {
  const length = Number(response.headers['content-length']);
  if (!(Number.isInteger(length) && length <= BUFFERED_ANSWER_BYTES)) return response.body;
  return Buffer.from(await response.body.arrayBuffer());
}

/** `2xx` … `5xx`, the label of RD's status in metrics. */
export function statusClass(status: number): string {
  return `${Math.floor(status / 100)}xx`;
}
