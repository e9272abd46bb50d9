import { configSlice } from './config-slice';
import { PRODUCTS, type Product } from './config';

/**
 * The configuration as the modules read it: one slice per concern, each injected only into the
 * classes that use it (`@Inject(tokensConfig.KEY) config: ConfigType<typeof tokensConfig>`). No
 * class receives the whole configuration; secrets (client secrets, API keys, encryption keys)
 * are in the slices of the few classes that use them and nowhere else.
 *
 * They live here, in config/ at the bottom of the layering, rather than in their modules'
 * folders: several are read by modules of different layers (products by common/ and every
 * controller, refresh by connections/, refresh/ and scheduler/, crypto by crypto/ and links/),
 * and each is cut from the one validated configuration whose shape is defined here; CONFIG_SLICES
 * below is then the one list ConfigModule loads, so a slice cannot be left out of it.
 */

/** API_KEYS, ADMIN_API_KEYS and API_KEY_SCOPES: the authenticator and the key listings. */
export const authConfig = configSlice('auth', (config) => ({
  apiKeys: config.apiKeys,
  adminApiKeys: config.adminApiKeys,
  apiKeyScopes: config.apiKeyScopes,
}));

/** TOKEN_ENCRYPTION_KEY and TOKEN_ENCRYPTION_PREVIOUS_KEYS: the cipher and the link HMAC keys. */
export const cryptoConfig = configSlice('crypto', (config) => ({
  current: config.encryption.current,
  previous: config.encryption.previous,
}));

/** Which products this broker serves: what every route checks `product` against. */
export const productsConfig = configSlice('products', (config) => ({
  enabled: PRODUCTS.filter((product) => config.products[product] !== undefined),
}));

/** The RD Station OAuth client: hosts, deadline, each product's app and the redirect URI. */
export const rdstationConfig = configSlice('rdstation', (config) => ({
  apiUrl: config.rd.apiUrl,
  accountsUrl: config.rd.accountsUrl,
  timeoutMs: config.rd.timeoutMs,
  marketingOAuth: config.rd.marketingOAuth,
  redirectUri: config.redirectUri,
  credentials: config.products,
}));

/** The consent flow: where `returnTo` may go, each product's PKCE and `iss` rule, RD's hosts. */
export const oauthConfig = configSlice('oauth', (config) => ({
  returnUrlAllowlist: config.returnUrlAllowlist,
  consent: Object.fromEntries(
    PRODUCTS.flatMap((product) => {
      const credentials = config.products[product];
      return credentials ? [[product, { pkce: credentials.pkce, issuer: credentials.issuer }]] : [];
    }),
  ) as Partial<Record<Product, { pkce: boolean; issuer: string | null }>>,
  /** RD's consent hosts: the accounts host (CRM, Marketing oauth2) and the API host (legacy). */
  consentOrigins: [
    ...new Set([config.rd.accountsUrl, config.rd.apiUrl].map((u) => new URL(u).origin)),
  ],
}));

/** Connect and reconnect links: their lifetime and the base URL they are built on. */
export const linksConfig = configSlice('links', (config) => ({
  publicUrl: config.publicUrl,
  reconnectTtlSeconds: config.reconnectLinkTtlSeconds,
  connectTtlSeconds: config.connectLinkTtlSeconds,
}));

/** GET /tokens: the cache, how it hears of changes, and how often a report may force a refresh. */
export const tokensConfig = configSlice('tokens', (config) => ({
  cacheMax: config.tokenCacheMax,
  heartbeatMs: config.tokenCacheHeartbeatMs,
  pollMs: config.tokenCachePollMs,
  /** DATABASE_DIRECT_URL: the cache's LISTEN connection; unset, it polls. */
  listenUrl: config.database.directUrl,
  /** REFRESH_MIN_INTERVAL_SECONDS: refreshes asked for by reports, per connection. */
  reportRefreshIntervalSeconds: config.refresh.minIntervalSeconds,
}));

/** /proxy: RD's API host, its deadlines, the shared per-account budget, whether spans are made. */
export const proxyConfig = configSlice('proxy', (config) => ({
  rdApiUrl: config.rd.apiUrl,
  timeoutMs: config.rd.timeoutMs,
  streamTimeoutMs: config.rd.streamTimeoutMs,
  rateLimitPerMinute: config.rd.rateLimitPerMinute,
  traced: config.tracing.otlpEndpoint !== undefined,
}));

/** Refreshing: when a token is due, how many RD calls at once, the blast-radius guard. */
export const refreshConfig = configSlice('refresh', (config) => ({
  aheadSeconds: config.refresh.aheadSeconds,
  concurrency: config.refresh.concurrency,
  condemnGuard: config.refresh.condemnGuard,
  /** RD_TIMEOUT_MS: a refresh's RD call, which the lock's and the claim's leases outlast. */
  rdTimeoutMs: config.rd.timeoutMs,
}));

/** The cron: whether this replica runs it, how often, and how long history is kept. */
export const schedulerConfig = configSlice('scheduler', (config) => ({
  enabled: config.schedulerEnabled,
  cron: config.refresh.cron,
  historyRetentionDays: config.history.retentionDays,
}));

/** The read counter: how often counts are written. */
export const historyConfig = configSlice('history', (config) => ({
  readFlushSeconds: config.history.readFlushSeconds,
}));

/** Webhook delivery of connection events. */
export const eventsConfig = configSlice('events', (config) => ({
  webhookUrl: config.events.webhookUrl,
  webhookSecrets: config.events.webhookSecrets,
}));

/** Every slice, for ConfigModule (config.module.ts). */
export const CONFIG_SLICES = [
  authConfig,
  cryptoConfig,
  productsConfig,
  rdstationConfig,
  oauthConfig,
  linksConfig,
  tokensConfig,
  proxyConfig,
  refreshConfig,
  schedulerConfig,
  historyConfig,
  eventsConfig,
] as const;
