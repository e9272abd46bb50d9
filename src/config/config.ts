import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { z } from 'zod';
import {
  envSchema,
  validatedEnvSchema,
  type Env,
  type KeyAction,
  type ScopeEntry,
  type ScopeRule,
} from './config.schema';
import { readSecretFiles } from './secret-files';

export type { KeyAction, ScopeEntry, ScopeRule };

export type Product = 'crm' | 'marketing';
export const PRODUCTS: readonly Product[] = ['crm', 'marketing'];

export interface ApiKey {
  name: string;
  secret: string;
}

/** One product's App Publisher app and how its OAuth server is spoken to. */
export interface ProductCredentials {
  clientId: string;
  /** Tried in order when RD says the client credentials are wrong (secret rotation). */
  clientSecrets: string[];
  /** Sent as `scope` on the consent URL; null sends none (RD documents none). */
  scope: string | null;
  /** Send PKCE (S256) on consent and code exchange. */
  pkce: boolean;
  /** The `iss` a callback must carry (RFC 9207); null accepts callbacks without one. */
  issuer: string | null;
}

interface ProductOAuthSettings {
  scope?: string;
  pkce: boolean;
  issuer?: string;
}

export interface EncryptionKey {
  /** Short fingerprint stored beside each ciphertext so the right key is picked to decrypt. */
  id: string;
  key: Buffer;
}

/**
 * The whole validated configuration. main.ts and createApp read it, ConfigModule is built from
 * it (config.module.ts); classes never get it, only their slices (slices.ts).
 */
export interface AppConfig {
  port: number;
  host: string;
  production: boolean;
  publicUrl: string;
  redirectUri: string;
  /** `directUrl`: DATABASE_DIRECT_URL, only for the cache's LISTEN. */
  database: { url?: string; dataDir: string; directUrl?: string };
  encryption: { current: EncryptionKey; previous: EncryptionKey[]; generated: boolean };
  apiKeys: ApiKey[];
  /** Set when API_KEYS was unset outside production: the generated key `dev` in DATA_DIR. */
  devApiKey?: { file: string; secret: string; created: boolean };
  adminApiKeys: ApiKey[];
  /** API_KEY_SCOPES: the rules of each scoped key of API_KEYS; a key not here reaches everything. */
  apiKeyScopes: Map<string, ScopeEntry>;
  products: Partial<Record<Product, ProductCredentials>>;
  rd: {
    apiUrl: string;
    accountsUrl: string;
    timeoutMs: number;
    /** Deadline of a streamed /proxy answer, call to last byte. */
    streamTimeoutMs: number;
    rateLimitPerMinute: number;
    marketingOAuth: Env['RD_MARKETING_OAUTH'];
  };
  refresh: {
    cron: string;
    aheadSeconds: number;
    concurrency: number;
    /** REFRESH_MIN_INTERVAL_SECONDS: refreshes asked for by reports, per connection; 0: no limit. */
    minIntervalSeconds: number;
    /** The blast-radius guard: condemnations of one product allowed per window. */
    condemnGuard: { max: number; windowSeconds: number };
  };
  returnUrlAllowlist: string[];
  schedulerEnabled: boolean;
  tokenCacheMax: number;
  /** How often the cache's LISTEN connection proves itself; a missed beat drops the cache. */
  tokenCacheHeartbeatMs: number;
  /** How often the cache polls `connection_changes` (TOKEN_CACHE_POLL_MS). */
  tokenCachePollMs: number;
  /** `webhookSecrets`: every delivery is signed with each (rotation), the first being the new one. */
  events: { webhookUrl?: string; webhookSecrets: string[] };
  history: { readFlushSeconds: number; retentionDays: number };
  reconnectLinkTtlSeconds: number;
  /** CONNECT_LINK_TTL: how long a link of POST /connect-links stays valid. */
  connectLinkTtlSeconds: number;
  logLevel: Env['LOG_LEVEL'];
  http: HttpLimits;
  /** OTEL_EXPORTER_OTLP_ENDPOINT; unset: no tracing (src/tracing/preload.ts). */
  tracing: { otlpEndpoint?: string };
}

export interface HttpLimits {
  /** Addresses/CIDRs whose X-Forwarded-For is believed; empty: none. */
  trustedProxies: string[];
  requestTimeoutMs: number;
  headersTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /** 0: no cap. */
  maxConnectionsPerAddress: number;
}

/** A configuration problem, worded as the one line an operator sees before the process exits. */
export class ConfigError extends Error {}

export function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

function credentials(id: string, secret: string, oauth: ProductOAuthSettings): ProductCredentials {
  return {
    clientId: id,
    clientSecrets: secret
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    scope: oauth.scope ?? null,
    pkce: oauth.pkce,
    // Compared as a plain string (RFC 9207 §2.4): kept exactly as configured.
    issuer: oauth.issuer ?? null,
  };
}

/**
 * Development only: a key generated once into DATA_DIR, so `npm start` works from a fresh clone
 * and a restart can still read what it stored.
 */
function loadOrCreateDevKey(dataDir: string): { key: Buffer; generated: boolean } {
  const file = join(resolve(dataDir), 'dev-encryption.key');
  if (existsSync(file)) {
    return { key: Buffer.from(readFileSync(file, 'utf8').trim(), 'base64'), generated: false };
  }
  mkdirSync(resolve(dataDir), { recursive: true });
  const key = randomBytes(32);
  writeFileSync(file, key.toString('base64') + '\n', { mode: 0o600 });
  return { key, generated: true };
}

/** Development only, like the encryption key: a service key generated once into DATA_DIR. */
function loadOrCreateDevApiKey(dataDir: string): NonNullable<AppConfig['devApiKey']> {
  const file = join(resolve(dataDir), 'dev-api-key');
  if (existsSync(file)) {
    const secret = readFileSync(file, 'utf8').trim();
    if (secret.length < 32) {
      throw new ConfigError(
        `API_KEYS: unset, and ${file} holds no key: delete it to get a new one`,
      );
    }
    return { file, secret, created: false };
  }
  mkdirSync(resolve(dataDir), { recursive: true });
  const secret = randomBytes(32).toString('hex');
  writeFileSync(file, secret + '\n', { mode: 0o600 });
  return { file, secret, created: true };
}

/**
 * OTEL_EXPORTER_OTLP_ENDPOINT alone, for src/tracing/preload.ts: tracing must start before the
 * modules it instruments load, i.e. before `loadConfig` runs in main.ts. Invalid or unset: none
 * (`loadConfig` then reports the invalid value and the process exits).
 */
export function tracingEndpoint(env: NodeJS.ProcessEnv): string | undefined {
  const value = env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!value) return undefined;
  const parsed = envSchema.shape.OTEL_EXPORTER_OTLP_ENDPOINT.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/**
 * How spans are encoded (OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL,
 * else `http/protobuf`), for src/tracing/preload.ts like tracingEndpoint. An unsupported value
 * (`grpc`) falls back to the default here; `loadConfig` then reports it and the process exits.
 */
export function tracingProtocol(env: NodeJS.ProcessEnv): 'http/protobuf' | 'http/json' {
  const traces = envSchema.shape.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL.safeParse(
    env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL || undefined,
  );
  if (traces.success && traces.data) return traces.data;
  const all = envSchema.shape.OTEL_EXPORTER_OTLP_PROTOCOL.safeParse(
    env.OTEL_EXPORTER_OTLP_PROTOCOL || undefined,
  );
  return all.success ? all.data : 'http/protobuf';
}

/** One `VARIABLE: what is wrong` per problem the schema found (never a value). */
function schemaProblems(issues: z.core.$ZodIssue[], present: Record<string, string>): string[] {
  return issues.map((issue) => {
    const variable = String(issue.path[0] ?? 'environment');
    const message =
      issue.code === 'invalid_type' && present[variable] === undefined
        ? 'is required'
        : issue.message;
    return `${variable}: ${message}`;
  });
}

/**
 * The rules that read several variables (or NODE_ENV), on the raw values so that they are checked
 * even when another variable is malformed. A variable already named by a problem is skipped.
 */
function crossVariableProblems(
  present: Record<string, string>,
  e: Env | undefined,
  named: Set<string>,
): string[] {
  const problems: string[] = [];
  const check = (variable: string, broken: boolean, message: string) => {
    if (broken && !named.has(variable)) problems.push(`${variable}: ${message}`);
  };
  const production = present.NODE_ENV === 'production';
  for (const prefix of ['RD_CRM', 'RD_MARKETING']) {
    const id = present[`${prefix}_CLIENT_ID`];
    const secret = present[`${prefix}_CLIENT_SECRET`];
    check(`${prefix}_CLIENT_ID`, !id && !!secret, `required when ${prefix}_CLIENT_SECRET is set`);
    check(`${prefix}_CLIENT_SECRET`, !!id && !secret, `required when ${prefix}_CLIENT_ID is set`);
  }
  // A secret whose file could not be read is named already, and still counts as configured.
  const configured = (prefix: string) =>
    present[`${prefix}_CLIENT_ID`] !== undefined ||
    present[`${prefix}_CLIENT_SECRET`] !== undefined ||
    named.has(`${prefix}_CLIENT_SECRET`);
  check(
    'RD_CRM_CLIENT_ID',
    !configured('RD_CRM') && !configured('RD_MARKETING'),
    'no product configured; set RD_CRM_CLIENT_ID/RD_CRM_CLIENT_SECRET or RD_MARKETING_CLIENT_ID/RD_MARKETING_CLIENT_SECRET',
  );
  check(
    'EVENTS_WEBHOOK_SECRET',
    !!present.EVENTS_WEBHOOK_URL && !present.EVENTS_WEBHOOK_SECRET,
    'is required when EVENTS_WEBHOOK_URL is set',
  );
  if (e && e.HTTP_HEADERS_TIMEOUT_MS > e.HTTP_REQUEST_TIMEOUT_MS) {
    check(
      'HTTP_HEADERS_TIMEOUT_MS',
      true,
      `must be at most HTTP_REQUEST_TIMEOUT_MS (${e.HTTP_REQUEST_TIMEOUT_MS})`,
    );
  }
  check(
    'TOKEN_ENCRYPTION_KEY',
    production && !present.TOKEN_ENCRYPTION_KEY,
    'is required when NODE_ENV=production',
  );
  check('API_KEYS', production && !present.API_KEYS, 'is required when NODE_ENV=production');
  return problems;
}

/**
 * Reads and validates the environment once (secrets also from `<VAR>_FILE`); throws one
 * ConfigError naming every bad variable, so an operator fixes them in one round.
 */
export function loadConfig(env: NodeJS.ProcessEnv): AppConfig {
  const files = readSecretFiles(env);
  // An empty variable means "unset", as in most twelve-factor tools.
  const present = Object.fromEntries(
    Object.entries(files.env).filter((entry): entry is [string, string] => !!entry[1]),
  );
  const parsed = validatedEnvSchema.safeParse(present);
  const problems = [
    ...files.problems,
    ...(parsed.success ? [] : schemaProblems(parsed.error.issues, present)),
  ];
  const named = new Set(problems.map((problem) => problem.split(':')[0].replace(/_FILE$/, '')));
  problems.push(...crossVariableProblems(present, parsed.data, named));
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems.join('; '));
  const e = parsed.data;
  const production = e.NODE_ENV === 'production';

  const products: AppConfig['products'] = {};
  if (e.RD_CRM_CLIENT_ID && e.RD_CRM_CLIENT_SECRET) {
    products.crm = credentials(e.RD_CRM_CLIENT_ID, e.RD_CRM_CLIENT_SECRET, {
      scope: e.RD_CRM_SCOPE,
      pkce: e.RD_CRM_PKCE,
      issuer: e.RD_CRM_ISSUER,
    });
  }
  if (e.RD_MARKETING_CLIENT_ID && e.RD_MARKETING_CLIENT_SECRET) {
    products.marketing = credentials(e.RD_MARKETING_CLIENT_ID, e.RD_MARKETING_CLIENT_SECRET, {
      scope: e.RD_MARKETING_SCOPE,
      pkce: e.RD_MARKETING_PKCE,
      issuer: e.RD_MARKETING_ISSUER,
    });
  }

  let current: Buffer;
  let generated = false;
  if (e.TOKEN_ENCRYPTION_KEY) {
    current = e.TOKEN_ENCRYPTION_KEY;
  } else {
    ({ key: current, generated } = loadOrCreateDevKey(e.DATA_DIR));
  }

  let apiKeys = e.API_KEYS;
  let devApiKey: AppConfig['devApiKey'];
  if (!apiKeys) {
    devApiKey = loadOrCreateDevApiKey(e.DATA_DIR);
    apiKeys = [{ name: 'dev', secret: devApiKey.secret }];
  }

  const publicUrl = trimSlash(e.PUBLIC_URL ?? `http://localhost:${e.PORT}`);
  return {
    port: e.PORT,
    host: e.HOST,
    production,
    publicUrl,
    redirectUri: `${publicUrl}/oauth/callback`,
    database: {
      url: e.DATABASE_URL,
      dataDir: resolve(e.DATA_DIR),
      directUrl: e.DATABASE_DIRECT_URL,
    },
    encryption: {
      current: { id: keyId(current), key: current },
      previous: e.TOKEN_ENCRYPTION_PREVIOUS_KEYS.map((key) => ({ id: keyId(key), key })),
      generated,
    },
    apiKeys,
    devApiKey,
    adminApiKeys: e.ADMIN_API_KEYS,
    apiKeyScopes: e.API_KEY_SCOPES,
    products,
    rd: {
      apiUrl: trimSlash(e.RD_API_URL),
      accountsUrl: trimSlash(e.RD_ACCOUNTS_URL),
      timeoutMs: e.RD_TIMEOUT_MS,
      streamTimeoutMs: e.RD_STREAM_TIMEOUT_MS,
      rateLimitPerMinute: e.RD_RATE_LIMIT_PER_MINUTE,
      marketingOAuth: e.RD_MARKETING_OAUTH,
    },
    refresh: {
      cron: e.REFRESH_CRON,
      aheadSeconds: e.REFRESH_AHEAD_SECONDS,
      concurrency: e.REFRESH_CONCURRENCY,
      minIntervalSeconds: e.REFRESH_MIN_INTERVAL_SECONDS,
      condemnGuard: {
        max: e.REFRESH_CONDEMN_GUARD_MAX,
        windowSeconds: e.REFRESH_CONDEMN_GUARD_WINDOW_SECONDS,
      },
    },
    returnUrlAllowlist: e.OAUTH_RETURN_URL_ALLOWLIST,
    schedulerEnabled: e.SCHEDULER_ENABLED,
    tokenCacheMax: e.TOKEN_CACHE_MAX,
    tokenCacheHeartbeatMs: e.TOKEN_CACHE_HEARTBEAT_MS,
    tokenCachePollMs: e.TOKEN_CACHE_POLL_MS,
    events: { webhookUrl: e.EVENTS_WEBHOOK_URL, webhookSecrets: e.EVENTS_WEBHOOK_SECRET ?? [] },
    history: { readFlushSeconds: e.READ_FLUSH_SECONDS, retentionDays: e.HISTORY_RETENTION_DAYS },
    reconnectLinkTtlSeconds: e.RECONNECT_LINK_TTL,
    connectLinkTtlSeconds: e.CONNECT_LINK_TTL,
    logLevel: e.LOG_LEVEL,
    tracing: { otlpEndpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT },
    http: {
      trustedProxies: e.TRUSTED_PROXIES,
      requestTimeoutMs: e.HTTP_REQUEST_TIMEOUT_MS,
      headersTimeoutMs: e.HTTP_HEADERS_TIMEOUT_MS,
      keepAliveTimeoutMs: e.HTTP_KEEP_ALIVE_TIMEOUT_MS,
      maxConnectionsPerAddress: e.HTTP_MAX_CONNECTIONS_PER_ADDRESS,
    },
  };
}
