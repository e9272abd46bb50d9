import { z } from 'zod';
import { CronTime } from 'cron';
import { isIP } from 'node:net';
import proxyAddr from '@fastify/proxy-addr';

/**
 * Every environment variable the broker reads, with its default and its rule. This schema is the
 * single source of truth: `loadConfig` validates against it and the README's configuration table
 * is generated from the `describe()` texts.
 */

const ACCOUNT_NAME = /^[A-Za-z0-9._:-]{1,64}$/;

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}

const apiKeyList = z.string().transform((value, ctx) => {
  const keys = list(value).map((pair) => {
    const separator = pair.indexOf(':');
    return separator < 0
      ? { name: '', secret: '' }
      : { name: pair.slice(0, separator), secret: pair.slice(separator + 1) };
  });
  for (const [index, key] of keys.entries()) {
    if (!ACCOUNT_NAME.test(key.name)) {
      ctx.addIssue({
        code: 'custom',
        message: `entry ${index + 1} must be name:secret with a name of 1-64 chars A-Z a-z 0-9 . _ : -`,
      });
    } else if (key.secret.length < 32) {
      ctx.addIssue({
        code: 'custom',
        message: `the secret of "${key.name}" must be at least 32 characters`,
      });
    }
  }
  const names = keys.map((key) => key.name);
  const duplicate = names.find((name, index) => names.indexOf(name) !== index);
  if (duplicate) ctx.addIssue({ code: 'custom', message: `key name "${duplicate}" appears twice` });
  return keys;
});

export interface ScopeRule {
  product: 'crm' | 'marketing';
  /** An exact account, or the prefix before a trailing `*` (`''` for every account). */
  account: string;
  prefix: boolean;
}

/** What a service key does: GET /tokens, /proxy, and starting a consent (authorize-url, connect links). */
export const KEY_ACTIONS = ['read', 'proxy', 'connect'] as const;
export type KeyAction = (typeof KEY_ACTIONS)[number];

/** One entry of API_KEY_SCOPES: the accounts a key reaches and what it may do there. */
export interface ScopeEntry {
  rules: ScopeRule[];
  actions: KeyAction[];
}

const SCOPE_PATTERN = /^(crm|marketing):([A-Za-z0-9._:-]{0,128})(\*?)$/;

function parseRule(pattern: string): ScopeRule | string {
  const match = SCOPE_PATTERN.exec(pattern);
  return match && (match[2] !== '' || match[3] === '*')
    ? { product: match[1] as ScopeRule['product'], account: match[2], prefix: match[3] === '*' }
    : pattern;
}

/**
 * `API_KEY_SCOPES`: `name=rule;name=rule`, a rule being `product:accountPattern[,…]`, optionally
 * followed by `@action[,action…]` (default: every action). Which names exist is checked against
 * API_KEYS by the schema's refinement below.
 */
const apiKeyScopes = z
  .string()
  .default('')
  .transform((value, ctx) => {
    const scopes = new Map<string, ScopeEntry>();
    const entries = value
      .split(';')
      .map((entry) => entry.trim())
      .filter((entry) => entry.length > 0);
    for (const [index, entry] of entries.entries()) {
      const separator = entry.indexOf('=');
      const name = separator < 0 ? '' : entry.slice(0, separator).trim();
      const rule = separator < 0 ? '' : entry.slice(separator + 1);
      const at = rule.indexOf('@');
      const rules = list(at < 0 ? rule : rule.slice(0, at)).map(parseRule);
      const actions = at < 0 ? [...KEY_ACTIONS] : list(rule.slice(at + 1));
      const bad = rules.find((item) => typeof item === 'string');
      const badAction = actions.find((action) => !KEY_ACTIONS.includes(action as KeyAction));
      if (!ACCOUNT_NAME.test(name) || rules.length === 0 || bad !== undefined) {
        ctx.addIssue({
          code: 'custom',
          message:
            `entry ${index + 1} must be name=product:account[,product:account…][@action,…] with product crm or marketing ` +
            `and account exact or a prefix ending in *` +
            (bad !== undefined ? ` ("${bad.slice(0, 140)}" is not)` : ''),
        });
      } else if (actions.length === 0 || badAction !== undefined) {
        ctx.addIssue({
          code: 'custom',
          message:
            `entry ${index + 1}: the actions after @ must be a comma-separated list of ${KEY_ACTIONS.join(', ')}` +
            (badAction !== undefined ? ` ("${badAction.slice(0, 40)}" is not)` : ''),
        });
      } else if (scopes.has(name)) {
        ctx.addIssue({ code: 'custom', message: `key name "${name}" appears twice` });
      } else {
        scopes.set(name, {
          rules: rules as ScopeRule[],
          actions: KEY_ACTIONS.filter((action) => actions.includes(action)),
        });
      }
    }
    return scopes;
  });

const encryptionKey = z.string().transform((value, ctx) => {
  const bytes = Buffer.from(value.trim(), 'base64');
  if (bytes.length !== 32 || bytes.toString('base64') !== value.trim()) {
    ctx.addIssue({ code: 'custom', message: 'must be the base64 encoding of exactly 32 bytes' });
    return z.NEVER;
  }
  return bytes;
});

const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });

/** RFC 6749 §3.3: space-separated tokens of printable ASCII other than `"` and `\`. */
const oauthScope = z
  .string()
  .max(1024, { error: 'must be at most 1024 characters' })
  .regex(/^[\x21\x23-\x5b\x5d-\x7e]+( [\x21\x23-\x5b\x5d-\x7e]+)*$/, {
    error: 'must be space-separated scope tokens of printable ASCII (no quotes or backslashes)',
  });

const boolean = z
  .enum(['true', 'false'], { error: 'must be true or false' })
  .transform((v) => v === 'true');

const integer = (min: number, max: number) =>
  z.coerce
    .number({ error: 'must be an integer' })
    .int({ error: 'must be an integer' })
    .min(min, { error: `must be at least ${min}` })
    .max(max, { error: `must be at most ${max}` });

const DURATION_UNITS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86_400 };

/** A duration as seconds: `3600`, `90s`, `15m`, `36h`, `7d`; from a minute up to a year. */
const duration = z.string().transform((value, ctx) => {
  const match = /^(\d{1,9})([smhd]?)$/.exec(value.trim());
  const seconds = match ? Number(match[1]) * DURATION_UNITS[match[2]] : NaN;
  if (!(seconds >= 60 && seconds <= 366 * 86_400)) {
    ctx.addIssue({
      code: 'custom',
      message:
        'must be seconds or a number with s, m, h or d (e.g. 7d), between 1 minute and 1 year',
    });
  }
  return seconds;
});

const cronExpression = z.string().refine(
  (value) => {
    const fields = value.trim().split(/\s+/).length;
    if (fields !== 5 && fields !== 6) return false;
    try {
      new CronTime(value);
      return true;
    } catch {
      return false;
    }
  },
  { error: 'must be a cron expression of five fields, or six with seconds first' },
);

/**
 * TRUSTED_PROXIES: empty trusts no one (the socket's peer is the client); otherwise a
 * comma-separated list of addresses/CIDRs, checked with the parser fastify's `trustProxy` uses.
 * No hop count: it cannot tell a proxy from a client that forges enough hops (fastify 5 itself
 * treats a numeric `trustProxy` as "trust none").
 */
const trustedProxies = z
  .string()
  .default('')
  .transform((value, ctx): string[] => {
    const entries = list(value);
    for (const entry of entries) {
      try {
        // isIP first: the range parser also reads shorthand such as `2` as 0.0.0.2, so a hop
        // count would silently become an address.
        if (isIP(entry.split('/')[0]) === 0) throw new Error('not an address');
        proxyAddr.compile(entry);
      } catch {
        ctx.addIssue({
          code: 'custom',
          message: `"${entry}" is not an IP address or CIDR range`,
        });
      }
    }
    return entries;
  });

export const envSchema = z.object({
  PORT: integer(0, 65535).default(3000).describe('HTTP port'),
  HOST: z.string().min(1).default('0.0.0.0').describe('address to bind'),
  NODE_ENV: z
    .string()
    .optional()
    .describe('`production` makes every secret mandatory (no generated development key)'),
  PUBLIC_URL: httpUrl
    .optional()
    .describe(
      'base URL the browser reaches (default `http://localhost:$PORT`); the OAuth redirect URI is `$PUBLIC_URL/oauth/callback`',
    ),
  DATABASE_URL: z
    .url({
      protocol: /^postgres(ql)?$/,
      error: 'must be a postgres://user:pass@host:port/db URL',
    })
    .optional()
    .describe('`postgres://user:pass@host:port/db`; unset runs an embedded PostgreSQL'),
  DATABASE_DIRECT_URL: z
    .url({
      protocol: /^postgres(ql)?$/,
      error: 'must be a postgres://user:pass@host:port/db URL',
    })
    .optional()
    .describe(
      'a session-capable URL to the same database (not through a transaction pooler), used only to LISTEN for instant cache invalidation; without it (or while it is down) replicas invalidate by polling, within `TOKEN_CACHE_POLL_MS`',
    ),
  DATA_DIR: z
    .string()
    .min(1)
    .default('./.data')
    .describe('where the embedded database (and a generated dev key) live'),
  TOKEN_ENCRYPTION_KEY: encryptionKey
    .optional()
    .describe(
      'base64 of 32 random bytes; encrypts tokens at rest (required when `NODE_ENV=production`)',
    ),
  TOKEN_ENCRYPTION_PREVIOUS_KEYS: z
    .string()
    .default('')
    .transform((value, ctx) =>
      list(value).map((key, index) => {
        const parsed = encryptionKey.safeParse(key);
        if (!parsed.success) {
          ctx.addIssue({
            code: 'custom',
            message: `key ${index + 1} ${parsed.error.issues[0].message}`,
          });
          return Buffer.alloc(0);
        }
        return parsed.data;
      }),
    )
    .describe('comma-separated older keys, still accepted for decryption'),
  API_KEYS: apiKeyList
    .optional()
    .describe(
      'comma-separated `name:secret` pairs (secret ≥ 32 chars) for services that read tokens and start authorizations; required when `NODE_ENV=production`, otherwise unset generates a development key `dev` in `DATA_DIR` and prints it at start-up',
    ),
  API_KEY_SCOPES: apiKeyScopes.describe(
    '`;`-separated `name=rule`; a rule is a comma-separated list of `product:accountPattern`, the pattern an exact account or a prefix ending in `*` (`billing=crm:*;sync=marketing:acme-*`), optionally followed by `@` and the actions allowed there: `read` (GET /tokens), `proxy` (/proxy), `connect` (authorize-url, connect links); default all three (`billing=crm:acme-*@read,proxy`). A key listed reaches only what its rule matches and allows (403 `forbidden` elsewhere); a key not listed reaches every account with every action. Admin keys are not scoped',
  ),
  ADMIN_API_KEYS: apiKeyList
    .default([])
    .describe('same form; these may also list, import, refresh and delete connections'),
  RD_CRM_CLIENT_ID: z
    .string()
    .min(1)
    .optional()
    .describe('App Publisher client id of the RD Station CRM app; unset disables CRM'),
  RD_CRM_CLIENT_SECRET: z
    .string()
    .min(1)
    .optional()
    .describe('its client secret; a comma-separated list is tried in order (rotation)'),
  RD_MARKETING_CLIENT_ID: z
    .string()
    .min(1)
    .optional()
    .describe('client id of the RD Station Marketing app; unset disables Marketing'),
  RD_MARKETING_CLIENT_SECRET: z
    .string()
    .min(1)
    .optional()
    .describe('its client secret; a comma-separated list is tried in order (rotation)'),
  RD_API_URL: httpUrl.default('https://api.rd.services').describe('token, revoke and API host'),
  RD_ACCOUNTS_URL: httpUrl
    .default('https://accounts.rdstation.com')
    .describe('the CRM consent host'),
  RD_CRM_SCOPE: oauthScope
    .optional()
    .describe('a `scope` to put on the CRM consent URL (RD documents none; unset sends none)'),
  RD_MARKETING_SCOPE: oauthScope.optional().describe('the same for the Marketing consent URL'),
  RD_CRM_PKCE: boolean
    .default(false)
    .describe('`true` sends PKCE (S256) on the CRM consent and code exchange (RD documents none)'),
  RD_MARKETING_PKCE: boolean.default(false).describe('the same for Marketing'),
  RD_CRM_ISSUER: httpUrl
    .optional()
    .describe(
      'when set, a CRM callback must carry `iss` equal to it (RFC 9207); unset accepts callbacks without `iss`',
    ),
  RD_MARKETING_ISSUER: httpUrl.optional().describe('the same for Marketing'),
  RD_MARKETING_OAUTH: z
    .enum(['legacy', 'oauth2'], { error: 'must be legacy or oauth2' })
    .default('legacy')
    .describe(
      "Marketing's OAuth server: `legacy` (`/auth/dialog` + `/auth/token`) or `oauth2` (`RD_ACCOUNTS_URL/oauth/authorize` + `/oauth2/token`, as RD's own n8n Marketing node)",
    ),
  RD_TIMEOUT_MS: integer(100, 60_000).default(10_000).describe('hard timeout of every call to RD'),
  RD_STREAM_TIMEOUT_MS: integer(100, 3_600_000)
    .default(120_000)
    .describe(
      'deadline of a streamed `/proxy` answer (one larger than 64 KB or of unannounced length), from the call to its last byte; past it the answer is cut and logged as cut',
    ),
  RD_RATE_LIMIT_PER_MINUTE: integer(1, 100_000)
    .default(120)
    .describe(
      'RD API calls through `/proxy` per product × account per minute, shared by every replica',
    ),
  REFRESH_CRON: cronExpression
    .default('*/1 * * * *')
    .describe(
      'how often the scheduler looks for tokens to refresh; five fields, or six with seconds first',
    ),
  REFRESH_AHEAD_SECONDS: integer(60, 86_400)
    .default(600)
    .describe('refresh a token when it has less than this left'),
  REFRESH_CONCURRENCY: integer(1, 256).default(8).describe('provider calls in flight per replica'),
  REFRESH_MIN_INTERVAL_SECONDS: integer(0, 86_400)
    .default(30)
    .describe(
      "a refresh asked for by `rejected=` on `GET /tokens` or by RD's 401 on `/proxy` happens at most once per connection in this interval, over all replicas; a report of a token refreshed more recently answers 429 `rate_limited` with `Retry-After` (or the current token when it has already changed). Admin refreshes are not limited; 0 disables the limit",
    ),
  REFRESH_CONDEMN_GUARD_MAX: integer(0, 100_000)
    .default(5)
    .describe(
      'blast-radius guard: at most this many grants of one product are condemned (`reauthorization_required`) within the window; further rejections are held as `refresh_failing` until an admin confirms them',
    ),
  REFRESH_CONDEMN_GUARD_WINDOW_SECONDS: integer(10, 7 * 86_400)
    .default(600)
    .describe('the window of the blast-radius guard, in seconds'),
  OAUTH_RETURN_URL_ALLOWLIST: z
    .string()
    .default('')
    .transform((value, ctx) =>
      list(value).map((prefix) => {
        if (!httpUrl.safeParse(prefix).success) {
          ctx.addIssue({ code: 'custom', message: `"${prefix}" is not an http(s) URL prefix` });
        }
        return prefix;
      }),
    )
    .describe('comma-separated URL prefixes that `returnTo` may start with'),
  SCHEDULER_ENABLED: boolean.default(true).describe('`false` runs an API-only replica'),
  TOKEN_CACHE_MAX: integer(0, 10_000_000)
    .default(10_000)
    .describe('decrypted tokens kept in memory per replica (0 disables the cache)'),
  TOKEN_CACHE_HEARTBEAT_MS: integer(100, 60_000)
    .default(5000)
    .describe(
      "how often the cache's LISTEN connection (`DATABASE_DIRECT_URL`) proves itself by a round trip (`SELECT 1`); one not back within the same time counts as a lost channel, reconnected while polling covers it",
    ),
  TOKEN_CACHE_POLL_MS: integer(50, 60_000)
    .default(1000)
    .describe('how often a replica checks for changed connections when it cannot LISTEN'),
  EVENTS_WEBHOOK_URL: httpUrl.optional().describe('where connection events are POSTed'),
  EVENTS_WEBHOOK_SECRET: z
    .string()
    .transform((value, ctx) => {
      const secrets = list(value);
      if (secrets.length === 0 || secrets.some((secret) => secret.length < 16)) {
        ctx.addIssue({
          code: 'custom',
          message: 'must be one or more comma-separated secrets of at least 16 characters',
        });
      }
      return secrets;
    })
    .optional()
    .describe(
      'HMAC-SHA256 key of `X-Broker-Signature` (required with `EVENTS_WEBHOOK_URL`); during a rotation, a comma-separated list: each delivery is signed with every one (`v1=` repeated)',
    ),
  READ_FLUSH_SECONDS: integer(1, 300)
    .default(5)
    .describe(
      'token reads are counted in memory and written as hourly aggregates this often; a crash loses at most this much of the counts',
    ),
  HISTORY_RETENTION_DAYS: integer(1, 3650)
    .default(30)
    .describe('how long per-connection history (events and read aggregates) is kept'),
  RECONNECT_LINK_TTL: duration
    .prefault('7d')
    .describe(
      'how long a reconnect link stays valid: seconds, or a number with `s`, `m`, `h` or `d` (`7d`, `36h`)',
    ),
  CONNECT_LINK_TTL: duration
    .prefault('7d')
    .describe(
      'how long a connect link (POST /connect-links) stays valid: seconds, or a number with `s`, `m`, `h` or `d` (`7d`, `36h`)',
    ),
  TRUSTED_PROXIES: trustedProxies.describe(
    'comma-separated addresses/CIDRs of the proxies whose `X-Forwarded-For` is believed; empty trusts none (every limit counts the connecting address)',
  ),
  HTTP_REQUEST_TIMEOUT_MS: integer(100, 600_000)
    .default(30_000)
    .describe(
      'time a client has to send a whole request (headers and body); then 408 and the connection is closed',
    ),
  HTTP_HEADERS_TIMEOUT_MS: integer(100, 600_000)
    .default(10_000)
    .describe(
      'time a client has to send the request line and headers (at most `HTTP_REQUEST_TIMEOUT_MS`)',
    ),
  HTTP_KEEP_ALIVE_TIMEOUT_MS: integer(100, 600_000)
    .default(72_000)
    .describe('how long an idle keep-alive connection stays open between requests'),
  HTTP_MAX_CONNECTIONS_PER_ADDRESS: integer(0, 100_000)
    .default(256)
    .describe(
      'open connections allowed from one client address (0: no cap); trusted proxies are not capped',
    ),
  OTEL_EXPORTER_OTLP_ENDPOINT: httpUrl
    .optional()
    .describe(
      "OpenTelemetry traces over OTLP/HTTP to this collector (`/v1/traces` is appended); unset = no tracing and no OpenTelemetry SDK loaded. A caller's W3C `traceparent` is continued, and RD calls made for it (proxy, refresh) carry a child `traceparent`. The SDK reads the other standard `OTEL_*` variables itself (`OTEL_SERVICE_NAME`, `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_TRACES_SAMPLER`, `OTEL_BSP_*`)",
    ),
  OTEL_EXPORTER_OTLP_PROTOCOL: z
    .enum(['http/protobuf', 'http/json'])
    .default('http/protobuf')
    .describe(
      'how spans are encoded for the collector: `http/protobuf` (the OpenTelemetry default, less than half the CPU of JSON per span) or `http/json`. `grpc` is not supported',
    ),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: z
    .enum(['http/protobuf', 'http/json'])
    .optional()
    .describe('overrides `OTEL_EXPORTER_OTLP_PROTOCOL` for traces (the standard variable pair)'),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info')
    .describe('pino level; logs are JSON lines'),
});

/**
 * envSchema with the checks that read several variables: what `loadConfig` validates against.
 * A scope for a name that is not in API_KEYS is a typo that would silently scope nothing.
 */
export const validatedEnvSchema = envSchema.superRefine((env, ctx) => {
  // The same secret twice would make the first key win: a scoped key silently unscoped, a
  // service key silently an admin one. Named by key, never by secret.
  const owners = new Map<string, string>();
  for (const [variable, keys] of [
    ['API_KEYS', env.API_KEYS ?? []],
    ['ADMIN_API_KEYS', env.ADMIN_API_KEYS],
  ] as const) {
    for (const key of keys) {
      const owner = owners.get(key.secret);
      if (owner === undefined) {
        owners.set(key.secret, `${variable} "${key.name}"`);
        continue;
      }
      ctx.addIssue({
        code: 'custom',
        path: [variable],
        message: `"${key.name}" has the same secret as ${owner}; every key needs its own secret`,
      });
    }
  }

  // Unset API_KEYS (development) means the one generated key, named `dev` (config.ts).
  const known = new Set((env.API_KEYS ?? [{ name: 'dev' }]).map((key) => key.name));
  for (const name of env.API_KEY_SCOPES.keys()) {
    if (!known.has(name)) {
      ctx.addIssue({
        code: 'custom',
        path: ['API_KEY_SCOPES'],
        message: `"${name}" is not a key name of API_KEYS (admin keys are not scoped)`,
      });
    }
  }
});

export type Env = z.infer<typeof envSchema>;
