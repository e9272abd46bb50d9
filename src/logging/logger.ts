import type { LoggerService } from '@nestjs/common';
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import pino, { type Logger } from 'pino';
import type { AppConfig } from '../config/config';
import type { KeyScope } from '../auth/key-scope';
import { redactUrl, REDACT_PATHS } from './redaction';

/** Set by the API-key guard so the request line names the calling service (never its secret). */
export interface AuthenticatedRequest {
  apiKeyName?: string;
  /** The key's API_KEY_SCOPES rule; unset for admin keys and keys reaching every account. */
  apiKeyScope?: KeyScope;
  /** Set by a route whose streamed answer broke off or ran out of time: the line says so. */
  answerCut?: 'timeout' | 'broken';
}

/** The one pino logger of an application: JSON lines, redacted, used by fastify and by Nest. */
export function createLogger(config: Pick<AppConfig, 'logLevel'>): Logger {
  return pino({
    level: config.logLevel,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: REDACT_PATHS, censor: '[Redacted]' },
    serializers: { err: serializeError },
  });
}

/** A system error code (ECONNREFUSED), a SQLSTATE (3D000) or a Node/fastify code (ERR_…, FST_…). */
const ERROR_CODE = /^(?:E[A-Z0-9_]+|ERR_[A-Z0-9_]+|FST_[A-Z0-9_]+|[0-9A-Z]{5})$/;

/**
 * pino's error serializer, for whatever is logged as `err`: an Error (or error-like object) keeps
 * pino's fields with its `code` moved to `errorCode` (`code` is a redacted field, an OAuth code,
 * which would hide the one word that says why a connection failed); anything else (a string, a
 * number, a plain object without `message`) becomes `{type, message}` too, instead of pino
 * spreading a string character by character.
 */
export function serializeError(error: unknown): Record<string, unknown> | undefined {
  if (error === undefined || error === null) return undefined;
  if (typeof error !== 'object' || !('message' in error)) {
    return {
      type: typeof error === 'object' ? (error.constructor?.name ?? 'Object') : typeof error,
      message: typeof error === 'string' ? error : describe(error),
    };
  }
  const { code, ...serialized } = pino.stdSerializers.err(error as Error) as Record<
    string,
    unknown
  >;
  serialized.type ??= 'Error';
  serialized.message = String(serialized.message ?? '');
  if (typeof code === 'string' && ERROR_CODE.test(code)) serialized.errorCode = code;
  return serialized;
}

function describe(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/**
 * What the access log is told of the application's routes (app.ts tells it; logging/ knows no
 * route). `hot`: path prefixes of the frequent calls, counted by the metrics, whose successes are
 * debug lines. `foreign`: the paths that carry someone else's path and query (the proxied API),
 * logged as their route only, or as what `foreign` matched plus `/*` when no route matched.
 */
export interface RequestLogRoutes {
  hot: readonly string[];
  foreign: RegExp;
}

/**
 * One line per answered request, written by fastify's own request lifecycle (no middleware):
 * request id, method, route, redacted URL, status, time and the calling key's name. Probes and
 * scrapes are not logged; successes on the hot paths are logged at debug; errors at error;
 * everything else at info.
 */
export class RequestLog extends LogController {
  constructor(private readonly routes: RequestLogRoutes) {
    super({ requestIdLogLabel: 'reqId' });
  }

  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    this.write(error, request, reply);
  }

  /**
   * The one access-log line of a request, written once. Also called by a route whose streamed
   * answer was cut (`answerCut`): fastify writes no line for a response it destroyed mid-body.
   */
  write(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    writeRequestLine(error, request, reply, this.routes);
  }
}

/** Set on a request whose line is written: a cut answer's is written by its route, before fastify's. */
const LOGGED = Symbol('broker.requestLogged');

/**
 * The level is decided first and nothing is built for a line the logger would drop (successes on
 * the hot paths are debug lines: at the default LOG_LEVEL=info they cost a few comparisons).
 */
function writeRequestLine(
  error: Error | null | undefined,
  request: FastifyRequest,
  reply: FastifyReply,
  routes: RequestLogRoutes,
): void {
  const raw = request.raw as FastifyRequest['raw'] & AuthenticatedRequest & { [LOGGED]?: true };
  if (raw[LOGGED]) return;
  raw[LOGGED] = true;
  const url = raw.url ?? '';
  if (url.startsWith('/health') || url.startsWith('/metrics')) return;
  const status = reply.statusCode;
  const cut = raw.answerCut;
  const level =
    error || status >= 500 || cut
      ? 'error'
      : status < 300 && startsWithAny(url, routes.hot)
        ? 'debug'
        : 'info';
  // The logger is the application's pino logger (createApp's loggerInstance).
  const log = request.log as Logger;
  // Only the frequent lines are checked first; an error line (rare) is always handed to pino.
  if (level !== 'error' && !log.isLevelEnabled(level)) return;
  // Flat fields: fastify's own `req`/`res` serializers would rewrite nested objects. A debug or
  // info line (no error, no 5xx, no cut) carries only the fields below, none named like a
  // secret and the URL already masked (loggedUrl): it goes through a twin of the logger without
  // pino's redaction, which would cost ~30 µs a line for nothing (bench/README.md, issue 24).
  // Error lines, rare and carrying `err`, keep it.
  (level === 'error' ? log : unredacted(log))[level](
    {
      requestId: request.id,
      method: request.method,
      url: loggedUrl(url, request.routeOptions.url, routes.foreign),
      route: request.routeOptions.url,
      status,
      ...(cut ? { cut } : {}),
      responseTime: Math.round(reply.elapsedTime * 100) / 100,
      caller: raw.apiKeyName,
      remoteAddress: request.ip,
      ...(error ? { err: error } : {}),
    },
    cut ? 'request cut: the streamed answer of RD did not reach its end' : 'request completed',
  );
}

const UNREDACTED = new WeakMap<Logger, Logger>();

/**
 * `log` without its redaction paths, writing to the same destination; its own level is the
 * lowest, since the caller has already asked `log` whether the line is wanted.
 */
function unredacted(log: Logger): Logger {
  let twin = UNREDACTED.get(log);
  if (!twin) {
    twin = log.child({}, { redact: { paths: [] }, level: 'trace' });
    UNREDACTED.set(log, twin);
  }
  return twin;
}

function startsWithAny(url: string, prefixes: readonly string[]): boolean {
  for (const prefix of prefixes) if (url.startsWith(prefix)) return true;
  return false;
}

/**
 * The URL as logged. A foreign path and query (RequestLogRoutes) may carry a customer's data: the
 * route only, in any case (a foreign path no route matched is logged as the part `foreign`
 * matched, then `/*`). A URL no route matched has its whole query masked (nobody knows what it
 * carries); a matched route's query has its secret parameters masked (redaction.ts).
 */
function loggedUrl(url: string, route: string | undefined, foreign: RegExp): string | undefined {
  const queryAt = url.indexOf('?');
  const path = queryAt < 0 ? url : url.slice(0, queryAt);
  const foreignPrefix = foreign.exec(path);
  if (foreignPrefix) {
    if (route !== undefined) return route;
    return `${foreignPrefix[0].replace(/\/$/, '')}/*${queryAt < 0 ? '' : '?[Redacted]'}`;
  }
  if (route === undefined) return queryAt < 0 ? url : `${path}?[Redacted]`;
  return redactUrl(url);
}

/**
 * Nest's own bootstrap narration (one line per module and route, "successfully started"): useful
 * when debugging wiring, noise at start-up, so it is logged at debug.
 */
const BOOTSTRAP_CONTEXTS = new Set([
  'NestFactory',
  'InstanceLoader',
  'RoutesResolver',
  'RouterExplorer',
  'NestApplication',
]);

/** Nest's LoggerService on the same pino logger: `logger.warn({...fields}, 'message')` works as in pino. */
export class NestPinoLogger implements LoggerService {
  constructor(private readonly pino: Logger) {}

  log(message: unknown, ...rest: unknown[]) {
    const context = rest[rest.length - 1];
    const bootstrap = typeof context === 'string' && BOOTSTRAP_CONTEXTS.has(context);
    this.write(bootstrap ? 'debug' : 'info', message, rest);
  }
  error(message: unknown, ...rest: unknown[]) {
    this.write('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]) {
    this.write('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]) {
    this.write('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]) {
    this.write('trace', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]) {
    this.write('fatal', message, rest);
  }

  /** Nest appends the logger's context as the last argument; a string before it is the message. */
  private write(level: pino.Level, message: unknown, rest: unknown[]): void {
    const context =
      rest.length > 0 && typeof rest[rest.length - 1] === 'string'
        ? (rest.pop() as string)
        : undefined;
    const text = typeof rest[0] === 'string' ? (rest[0] as string) : undefined;
    if (message instanceof Error)
      this.pino[level]({ context, err: message }, text ?? message.message);
    else if (typeof message === 'object' && message !== null)
      this.pino[level]({ context, ...message }, text);
    else this.pino[level]({ context }, String(message));
  }
}
