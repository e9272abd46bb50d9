import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { BrokerError, brokerErrorOf } from './broker-error';
import { LruMap } from './lru-map';
import type { components, operations } from './openapi';
import { decideRetry, type RetryLimits } from './retry-policy';
import { rejectedTokenHash } from './token-hash';

type TokenBody = components['schemas']['TokenResponse'];
/** The query of GET /tokens/:account (from openapi.json), with the validity always named. */
type TokenQuery = NonNullable<operations['TokensController_getToken']['parameters']['query']> & {
  minValidity: number;
};
export type Product = TokenBody['product'];

export interface BrokerClientOptions {
  /** The broker's base URL, e.g. `http://token-broker:3000`. */
  baseUrl: string;
  /** A secret of the broker's `API_KEYS` (the part after `name:`). */
  apiKey: string;
  /** The product of every call that names none; may stay unset when the broker has one product. */
  product?: Product;
  /** A cached token is used while it has `minValidity + skewSeconds` left (default 60). */
  skewSeconds?: number;
  /** How long one attempt may wait for the broker's answer to start (default 10,000 ms). */
  timeoutMs?: number;
  /** Tokens kept in memory, least recently used dropped first (default 1,000; 0: no cache). */
  cacheSize?: number;
  /** The most one call waits in total on 503 and 429 answers before throwing (default 30,000 ms). */
  maxRetryWaitMs?: number;
  /** How many more times a call is tried when no answer arrived at all (default 2). */
  networkRetries?: number;
  /**
   * The clock the token cache reads, in epoch milliseconds (default `Date.now`): a test can move
   * time forward instead of waiting for a cached token to age.
   */
  now?: () => number;
}

export interface BrokerToken {
  accessToken: string;
  expiresAt: Date;
  account: string;
  product: Product;
}

/** A cached token; `heldUntil` for one answered with less than `heldHorizon` seconds left. */
interface CacheEntry {
  token: BrokerToken;
  heldUntil?: number;
  heldHorizon?: number;
}

export interface TokenOptions {
  product?: Product;
  /** Seconds the token must still be valid, 0-3600 (default 60). */
  minValidity?: number;
}

const DEFAULT_MIN_VALIDITY = 60;
/** The broker's cap on `minValidity` (GET /tokens, openapi.json). */
const MAX_MIN_VALIDITY = 3600;
const PRODUCTS: Product[] = ['crm', 'marketing'];
/**
 * The broker may answer a token with less validity than asked for: `minValidity` is capped by the
 * provider's token lifetime, and a token refreshed seconds ago is not refreshed again by a read
 * (src/refresh/refresh-policy.ts). Asking again at once would get the same answer, so such a
 * token is kept for this long (at most half its remaining life) instead of costing a broker
 * request per call.
 */
const SHORT_ANSWER_HOLD_MS = 10_000;
/** Proxied requests that may be sent twice when no answer arrived. */
const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/**
 * A service's way to the broker: tokens cached in memory until `expiresAt - minValidity - skew`,
 * one broker request per key however many callers wait for it, one retry with a replaced token
 * when RD answers 401, and typed errors (`BrokerError`). See the README's "Calling the broker
 * from TypeScript".
 */
export class BrokerClient {
  private readonly baseUrl: string;
  private readonly apiKey: string;
  private readonly product?: Product;
  private readonly skewSeconds: number;
  private readonly timeoutMs: number;
  private readonly limits: RetryLimits;
  private readonly cache: LruMap<string, CacheEntry>;
  private readonly inFlight = new Map<string, Promise<BrokerToken>>();
  private readonly now: () => number;
  /** Bumped by every invalidation: a request that started before one does not fill the cache. */
  private generation = 0;

  constructor(options: BrokerClientOptions) {
    if (!options?.baseUrl) throw new TypeError('BrokerClient: baseUrl is required');
    if (!options.apiKey) throw new TypeError('BrokerClient: apiKey is required');
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.apiKey = options.apiKey;
    this.product = options.product;
    this.skewSeconds = nonNegative('skewSeconds', options.skewSeconds, 60);
    this.timeoutMs = nonNegative('timeoutMs', options.timeoutMs, 10_000);
    this.cache = new LruMap(nonNegative('cacheSize', options.cacheSize, 1000));
    this.now = options.now ?? Date.now;
    this.limits = {
      maxRetryWaitMs: nonNegative('maxRetryWaitMs', options.maxRetryWaitMs, 30_000),
      networkRetries: nonNegative('networkRetries', options.networkRetries, 2),
    };
  }

  /**
   * A token with at least `minValidity` seconds left: from memory while it has
   * `minValidity + skewSeconds` left, else from the broker (asked for that much validity).
   */
  async getToken(account: string, options: TokenOptions = {}): Promise<BrokerToken> {
    const product = options.product ?? this.product;
    const horizon = this.horizon(options.minValidity);
    const key = cacheKey(account, product);
    const cached = this.cache.get(key);
    if (cached && usable(cached, horizon, this.now())) return { ...cached.token };
    return this.load(key, { account, product, minValidity: horizon });
  }

  /** Forgets the cached token of this account (of one product, or of every product). */
  invalidate(account: string, product?: Product): void {
    const chosen = product ?? this.product;
    this.generation++;
    const unnamed = cacheKey(account, undefined);
    if (!chosen || this.cache.peek(unnamed)?.token.product === chosen) this.forget(unnamed);
    for (const each of chosen ? [chosen] : PRODUCTS) this.forget(cacheKey(account, each));
  }

  /**
   * Runs `fn` with a token. When `fn` reports RD's 401 (throws an error whose `status` or
   * `response.status` is 401, or returns a `Response` with status 401), the token is dropped,
   * the broker is told which token RD refused (`rejected`: it refreshes once if that is still
   * the stored one), and `fn` runs once more with the token it answers; that second outcome is
   * returned (or thrown) as it is.
   */
  async withToken<T>(
    account: string,
    fn: (accessToken: string, token: BrokerToken) => T | Promise<T>,
    options: TokenOptions = {},
  ): Promise<T> {
    const token = await this.getToken(account, options);
    try {
      const result = await fn(token.accessToken, token);
      if (!(result instanceof Response && result.status === 401)) return result;
      await result.body?.cancel().catch(() => undefined);
    } catch (error) {
      if (!isUnauthorized(error)) throw error;
    }
    const replacement = await this.replaceRejected(account, token, options);
    return fn(replacement.accessToken, replacement);
  }

  /**
   * A request to RD's API through the broker's `/proxy` (`rdPath` as in RD's documentation, with
   * its query): the broker adds the connection's token and answers with RD's `Response`, whatever
   * its status. The broker's own refusals (`X-Broker-Error`) throw `BrokerError`.
   */
  async fetch(
    account: string,
    rdPath: string,
    init: RequestInit & { product?: Product } = {},
  ): Promise<Response> {
    const { product: named, ...requestInit } = init;
    const product = named ?? this.product;
    const headers = new Headers(requestInit.headers);
    headers.set('authorization', `Bearer ${this.apiKey}`);
    headers.set('x-account', account);
    if (product) headers.set('x-product', product);
    const method = (requestInit.method ?? 'GET').toUpperCase();
    const replayable = isReplayable(requestInit.body);
    return this.send(
      `${this.baseUrl}/proxy/${rdPath.replace(/^\/+/, '')}`,
      { ...requestInit, method, headers },
      {
        isRefusal: (response) => response.headers.has('x-broker-error'),
        retryRefusals: replayable,
        retryNetwork: replayable && IDEMPOTENT_METHODS.has(method),
      },
    );
  }

  private horizon(minValidity = DEFAULT_MIN_VALIDITY): number {
    if (!Number.isInteger(minValidity) || minValidity < 0 || minValidity > MAX_MIN_VALIDITY)
      throw new RangeError('minValidity must be an integer number of seconds between 0 and 3600');
    return Math.min(MAX_MIN_VALIDITY, minValidity + this.skewSeconds);
  }

  private forget(key: string): void {
    this.cache.delete(key);
    for (const flight of this.inFlight.keys())
      if (flight.startsWith(`${key}\n`)) this.inFlight.delete(flight);
  }

  /** The token to use instead of `failed`, which RD refused. */
  private async replaceRejected(
    account: string,
    failed: BrokerToken,
    options: TokenOptions,
  ): Promise<BrokerToken> {
    const product = options.product ?? this.product;
    const horizon = this.horizon(options.minValidity);
    const key = cacheKey(account, product);
    const cached = this.cache.peek(key);
    if (cached?.token.accessToken === failed.accessToken) {
      this.cache.delete(key);
      this.generation++; // a request already on its way would bring the refused token back
    } else if (cached && usable(cached, horizon, this.now())) {
      return { ...cached.token }; // another caller has already replaced it
    }
    const rejected = rejectedTokenHash(failed.accessToken);
    return this.load(key, { account, product, minValidity: horizon, rejected });
  }

  /** One broker request per key, minValidity and rejected token; its answer fills the cache. */
  private load(key: string, query: TokenQuery & { account: string }): Promise<BrokerToken> {
    const flight = `${key}\n${query.minValidity}\n${query.rejected ?? ''}`;
    let pending = this.inFlight.get(flight);
    if (!pending) {
      const generation = this.generation;
      const request = this.requestToken(query).then((token) => {
        if (generation === this.generation)
          this.cache.set(key, entryFor(token, query.minValidity, this.now()));
        return token;
      });
      pending = request.finally(() => {
        if (this.inFlight.get(flight) === pending) this.inFlight.delete(flight);
      });
      this.inFlight.set(flight, pending);
    }
    return pending.then((token) => ({ ...token }));
  }

  private async requestToken({
    account,
    ...query
  }: TokenQuery & { account: string }): Promise<BrokerToken> {
    const search = new URLSearchParams();
    if (query.product) search.set('product', query.product);
    search.set('minValidity', String(query.minValidity));
    if (query.rejected) search.set('rejected', query.rejected);
    const response = await this.send(
      `${this.baseUrl}/tokens/${encodeURIComponent(account)}?${search}`,
      {
        method: 'GET',
        headers: { authorization: `Bearer ${this.apiKey}`, accept: 'application/json' },
      },
      { isRefusal: (answer) => !answer.ok, retryRefusals: true, retryNetwork: true },
    );
    const body = (await response.json()) as TokenBody;
    return {
      accessToken: body.accessToken,
      expiresAt: new Date(body.expiresAt),
      account: body.account,
      product: body.product,
    };
  }

  /** One call to the broker, tried again as client/src/retry-policy.ts decides. */
  private async send(
    url: string,
    init: RequestInit,
    rules: {
      isRefusal: (response: Response) => boolean;
      retryRefusals: boolean;
      retryNetwork: boolean;
    },
  ): Promise<Response> {
    const headers = new Headers(init.headers);
    if (!headers.has('x-request-id')) headers.set('x-request-id', randomUUID());
    const requestId = headers.get('x-request-id') as string;
    const state = { waitedMs: 0, networkFailures: 0 };
    for (;;) {
      let response: Response;
      try {
        response = await this.attempt(url, { ...init, headers });
      } catch (error) {
        if (init.signal?.aborted) throw error; // the caller's own abort
        state.networkFailures++;
        const decision = rules.retryNetwork
          ? decideRetry({ kind: 'network' }, state, this.limits)
          : ({ retry: false } as const);
        if (!decision.retry) {
          throw new BrokerError({
            code: 'network_error',
            status: 0,
            message: `no answer from the broker at ${this.baseUrl}: ${describe(error)}`,
            requestId,
            cause: error,
          });
        }
        await sleep(decision.waitMs);
        continue;
      }
      if (!rules.isRefusal(response)) return response;
      const error = await brokerErrorOf(response, requestId);
      const decision = rules.retryRefusals
        ? decideRetry(
            { kind: 'status', status: error.status, retryAfter: error.retryAfter },
            state,
            this.limits,
          )
        : ({ retry: false } as const);
      if (!decision.retry) throw error;
      state.waitedMs += decision.waitMs;
      await sleep(decision.waitMs);
    }
  }

  /** fetch, aborted when the answer has not started within `timeoutMs`. */
  private async attempt(url: string, init: RequestInit): Promise<Response> {
    const timeout = new AbortController();
    const timer = setTimeout(
      () => timeout.abort(new Error(`timed out after ${this.timeoutMs} ms`)),
      this.timeoutMs,
    );
    try {
      const signal = init.signal ? AbortSignal.any([init.signal, timeout.signal]) : timeout.signal;
      return await fetch(url, { ...init, signal });
    } catch (error) {
      throw timeout.signal.aborted ? timeout.signal.reason : error;
    } finally {
      clearTimeout(timer);
    }
  }
}

function cacheKey(account: string, product: Product | undefined): string {
  return `${product ?? '*'}:${account}`;
}

function entryFor(token: BrokerToken, horizon: number, now: number): CacheEntry {
  const left = token.expiresAt.getTime() - now;
  if (left >= horizon * 1000) return { token };
  return { token, heldUntil: now + Math.min(SHORT_ANSWER_HOLD_MS, left / 2), heldHorizon: horizon };
}

/** Whether a cached token answers a call needing `horizon` seconds (minValidity + skew). */
function usable(entry: CacheEntry, horizon: number, now: number): boolean {
  if (entry.token.expiresAt.getTime() - now >= horizon * 1000) return true;
  return (
    entry.heldUntil !== undefined && now < entry.heldUntil && horizon <= (entry.heldHorizon ?? 0)
  );
}

function nonNegative(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0)
    throw new RangeError(`BrokerClient: ${name} must be a non-negative number`);
  return value;
}

/** RD's 401 as the common HTTP clients throw it: `error.status` (fetch wrappers, got) or axios's `error.response.status`. */
function isUnauthorized(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false;
  const { status, response } = error as { status?: unknown; response?: { status?: unknown } };
  return status === 401 || response?.status === 401;
}

/** A body that can be sent again as it is (a stream cannot). */
function isReplayable(body: RequestInit['body']): boolean {
  return (
    body === undefined ||
    body === null ||
    typeof body === 'string' ||
    body instanceof ArrayBuffer ||
    ArrayBuffer.isView(body) ||
    body instanceof URLSearchParams ||
    body instanceof Blob ||
    body instanceof FormData
  );
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? ` (${error.cause.message})` : '';
  return `${error.message}${cause}`;
}
