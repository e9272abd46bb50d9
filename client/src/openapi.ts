/**
 * Generated from openapi.json by scripts/client-types.ts (openapi-typescript + prettier): do not
 * edit. `npm run docs:openapi` regenerates it; test/docs/openapi.spec.ts fails when it drifts.
 */
export interface paths {
  '/connect-links': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    get?: never;
    put?: never;
    /**
     * A link to send a customer, which starts the RD Station consent for this account
     * @description The link (`$PUBLIC_URL/connect/<token>`) may be sent by any channel. GET/HEAD of it shows a page naming the product with a Connect button and uses nothing up; the button (a POST to the link) uses it (single use) and 303s to the RD consent. The result then goes to `returnTo` (or the broker’s page) as for /oauth/authorize-url. Valid CONNECT_LINK_TTL; only its hash is stored, so it is shown only here. A scoped key needs the `connect` action (API_KEY_SCOPES).
     */
    post: operations['LinksController_createConnectLink'];
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/connect/{token}': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /**
     * A connect link: the page with the Connect button (not for API callers)
     * @description Uses nothing up (HEAD too): a link preview or a second look leaves the link usable.
     */
    get: operations['LinksController_showConnect'];
    put?: never;
    /**
     * A connect link’s Connect button (not for API callers)
     * @description Uses the link up (single use) and 303s to the RD Station consent, with a fresh 10-minute state.
     */
    post: operations['LinksController_openConnect'];
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/connections': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /** A page of connections (no token material) */
    get: operations['ConnectionsController_list'];
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/connections/held/confirm': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    get?: never;
    put?: never;
    /**
     * Confirm the held rejections of a product: condemn its held connections
     * @description When RD rejects more grants of one product than REFRESH_CONDEMN_GUARD_MAX within REFRESH_CONDEMN_GUARD_WINDOW_SECONDS, further rejections are held (status `refresh_failing`, `heldSince` set, grant kept) and the product backs off. Held connections recover by themselves once RD accepts their refresh tokens again; when the rejections are real, this condemns them (`reauthorization_required`, `connection.reauthorization_required` each) and ends the hold.
     */
    post: operations['ConnectionsController_confirmHeld'];
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/connections/retry-rejected': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    get?: never;
    put?: never;
    /**
     * Try every condemned grant of a product rejected in a time range once more
     * @description The way back after a fault (a wrong client secret, an RD incident) condemned grants: each `reauthorization_required` connection of `product` whose rejection falls in [since, until] is refreshed once with its stored refresh token. Those RD accepts are active again and fire `connection.recovered`.
     */
    post: operations['ConnectionsController_retryRejected'];
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/connections/{account}': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /** This account's connections per product: status, expiry, last refresh, last error */
    get: operations['ConnectionsController_get'];
    /**
     * Import an existing grant (migration from another system)
     * @description Stores the refresh token encrypted. Unless an access token valid for more than a minute comes with it, the grant is proven by one refresh first; a grant RD rejects is refused and nothing is stored. The answer says whether RD was called (`refreshed`) and whether that rotated the refresh token (`rotated`): for RD CRM it does, and the copy the old system holds stops working at that moment.
     */
    put: operations['ConnectionsController_import'];
    post?: never;
    /**
     * Revoke at RD (Marketing; CRM has no revocation endpoint) and delete
     * @description Marketing grants are revoked with their refresh token (`token_type_hint=refresh_token`), which works even when the access token has expired. A revocation RD refuses or cannot answer does not block the delete; it is logged as an error, recorded in the `connection.deleted` event (`revocation: "failed"`), and `X-Revoked` says so.
     */
    delete: operations['ConnectionsController_delete'];
    options?: never;
    head?: never;
    /**
     * Set this connection's /proxy budget per minute (null: RD_RATE_LIMIT_PER_MINUTE)
     * @description RD's rate limit depends on the customer's plan (Marketing: 120 calls/min on Light, Basic and Pro, 500/min on Advanced; CRM v2: 120/min). The budget is shared by every replica as the default one is, and a change holds from every replica's next call. `null` returns the connection to RD_RATE_LIMIT_PER_MINUTE.
     */
    patch: operations['ConnectionsController_setRateLimit'];
    trace?: never;
  };
  '/connections/{account}/history': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /**
     * One connection's history, newest first
     * @description Connects, refreshes (and what triggered them), failures with their error, condemnations, recoveries, deletes, and token reads aggregated per calling key and hour. Kept HISTORY_RETENTION_DAYS; kept after the connection is deleted. Reads are written every READ_FLUSH_SECONDS, so the last seconds may be missing.
     */
    get: operations['HistoryController_page'];
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/connections/{account}/refresh': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    get?: never;
    put?: never;
    /**
     * Refresh now; answers with the new status
     * @description A `reauthorization_required` connection answers 409, unless `retryRejected=true`: then its stored refresh token is tried once more (200 with the new status; 503 when RD neither accepts nor refuses it).
     */
    post: operations['ConnectionsController_refresh'];
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/health/live': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /** Liveness: the process answers */
    get: operations['HealthController_live'];
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/health/ready': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /** Readiness: 200 while this replica can serve (the body names the database state: up, read_only, in_recovery, down); 503 only when the database is not up and there is no token cache */
    get: operations['HealthController_ready'];
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/keys': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /**
     * Every configured key and when it was last used (never a secret)
     * @description Each key of API_KEYS and ADMIN_API_KEYS with its scope and its use from the read audit (the reads shown by GET /connections/:account/history), to find unused keys before rotating or removing them. This replica’s reads are counted up to the moment of the call; other replicas’ up to READ_FLUSH_SECONDS ago.
     */
    get: operations['KeysController_list'];
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/metrics': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /** Prometheus metrics (expose on the internal network only) */
    get: operations['MetricsController_scrape'];
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/oauth/authorize-url': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    get?: never;
    put?: never;
    /**
     * An RD Station consent URL for this account
     * @description Send the user’s browser to `url`. Its state is random, single-use and expires in 10 minutes. After consent, RD sends the browser to /oauth/callback, which stores the connection and then redirects to `returnTo?account=…&product=…&status=connected` (or `status=error&reason=…`), or shows a small page.
     */
    post: operations['OAuthController_authorizeUrl'];
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/oauth/callback': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /**
     * Where RD Station sends the browser back (not for API callers)
     * @description Exchanges the code and stores the connection, then 302 to returnTo or a small HTML page. A bad, used or expired state, an `iss` other than the configured issuer, a provider error or a failed exchange stores nothing: 400 page or returnTo with status=error&reason=….
     */
    get: operations['OAuthController_callback'];
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/oauth/reconnect/{token}': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /**
     * A reconnect link sent to a customer: the page with the Connect button (not for API callers)
     * @description The link of a `reauthorization_required` connection, in the `connection.reauthorization_required` event and in GET /connections/:account. Viewing it (GET or HEAD) uses nothing up. Valid RECONNECT_LINK_TTL, and only while the connection is `reauthorization_required`.
     */
    get: operations['LinksController_showReconnect'];
    put?: never;
    /**
     * A reconnect link’s Connect button (not for API callers)
     * @description Uses the link up (single use) and 303s to the RD Station consent for the account and product it was made for, with a fresh 10-minute state; then the usual callback and pages.
     */
    post: operations['LinksController_openReconnect'];
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/proxy/{rdPath}': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /**
     * GET on RD Station's API with the account's token
     * @description Forwards to `RD_API_URL/<rdPath>?<query>` (the path and query as sent) with the connection's `Authorization: Bearer <access token>` replacing the caller's, and streams RD's answer back: status, body, `content-type`, `retry-after` and its other headers (never `set-cookie` or hop-by-hop headers). The caller's `Authorization`, cookies, hop-by-hop, `Host`, `X-Forwarded-*`, `X-Account` and `X-Product` headers never reach RD. On RD's 401 the token is refreshed (once across replicas) and the call retried once; a second 401 is RD's answer. Each product × account may make `RD_RATE_LIMIT_PER_MINUTE` calls a minute through the proxy (or its own budget, set by `PATCH /connections/{account}`), shared by every replica, and after RD's 429 every replica holds the account until RD's `Retry-After`. Swagger UI encodes the slashes of `rdPath`, which the broker refuses: call it with curl or a service (`/proxy/crm/v2/contacts?page=2`).
     */
    get: operations['proxy_get'];
    /**
     * PUT on RD Station's API with the account's token
     * @description Forwards to `RD_API_URL/<rdPath>?<query>` (the path and query as sent) with the connection's `Authorization: Bearer <access token>` replacing the caller's, and streams RD's answer back: status, body, `content-type`, `retry-after` and its other headers (never `set-cookie` or hop-by-hop headers). The caller's `Authorization`, cookies, hop-by-hop, `Host`, `X-Forwarded-*`, `X-Account` and `X-Product` headers never reach RD. On RD's 401 the token is refreshed (once across replicas) and the call retried once; a second 401 is RD's answer. Each product × account may make `RD_RATE_LIMIT_PER_MINUTE` calls a minute through the proxy (or its own budget, set by `PATCH /connections/{account}`), shared by every replica, and after RD's 429 every replica holds the account until RD's `Retry-After`. Swagger UI encodes the slashes of `rdPath`, which the broker refuses: call it with curl or a service (`/proxy/crm/v2/contacts?page=2`).
     */
    put: operations['proxy_put'];
    /**
     * POST on RD Station's API with the account's token
     * @description Forwards to `RD_API_URL/<rdPath>?<query>` (the path and query as sent) with the connection's `Authorization: Bearer <access token>` replacing the caller's, and streams RD's answer back: status, body, `content-type`, `retry-after` and its other headers (never `set-cookie` or hop-by-hop headers). The caller's `Authorization`, cookies, hop-by-hop, `Host`, `X-Forwarded-*`, `X-Account` and `X-Product` headers never reach RD. On RD's 401 the token is refreshed (once across replicas) and the call retried once; a second 401 is RD's answer. Each product × account may make `RD_RATE_LIMIT_PER_MINUTE` calls a minute through the proxy (or its own budget, set by `PATCH /connections/{account}`), shared by every replica, and after RD's 429 every replica holds the account until RD's `Retry-After`. Swagger UI encodes the slashes of `rdPath`, which the broker refuses: call it with curl or a service (`/proxy/crm/v2/contacts?page=2`).
     */
    post: operations['proxy_post'];
    /**
     * DELETE on RD Station's API with the account's token
     * @description Forwards to `RD_API_URL/<rdPath>?<query>` (the path and query as sent) with the connection's `Authorization: Bearer <access token>` replacing the caller's, and streams RD's answer back: status, body, `content-type`, `retry-after` and its other headers (never `set-cookie` or hop-by-hop headers). The caller's `Authorization`, cookies, hop-by-hop, `Host`, `X-Forwarded-*`, `X-Account` and `X-Product` headers never reach RD. On RD's 401 the token is refreshed (once across replicas) and the call retried once; a second 401 is RD's answer. Each product × account may make `RD_RATE_LIMIT_PER_MINUTE` calls a minute through the proxy (or its own budget, set by `PATCH /connections/{account}`), shared by every replica, and after RD's 429 every replica holds the account until RD's `Retry-After`. Swagger UI encodes the slashes of `rdPath`, which the broker refuses: call it with curl or a service (`/proxy/crm/v2/contacts?page=2`).
     */
    delete: operations['proxy_delete'];
    options?: never;
    head?: never;
    /**
     * PATCH on RD Station's API with the account's token
     * @description Forwards to `RD_API_URL/<rdPath>?<query>` (the path and query as sent) with the connection's `Authorization: Bearer <access token>` replacing the caller's, and streams RD's answer back: status, body, `content-type`, `retry-after` and its other headers (never `set-cookie` or hop-by-hop headers). The caller's `Authorization`, cookies, hop-by-hop, `Host`, `X-Forwarded-*`, `X-Account` and `X-Product` headers never reach RD. On RD's 401 the token is refreshed (once across replicas) and the call retried once; a second 401 is RD's answer. Each product × account may make `RD_RATE_LIMIT_PER_MINUTE` calls a minute through the proxy (or its own budget, set by `PATCH /connections/{account}`), shared by every replica, and after RD's 429 every replica holds the account until RD's `Retry-After`. Swagger UI encodes the slashes of `rdPath`, which the broker refuses: call it with curl or a service (`/proxy/crm/v2/contacts?page=2`).
     */
    patch: operations['proxy_patch'];
    trace?: never;
  };
  '/tokens/{account}': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /**
     * A valid access token for this account
     * @description Answers with a token that has at least `minValidity` seconds left, refreshing it first when needed. `minValidity` is capped by the provider’s token lifetime: when even a fresh token cannot meet it, the freshest token is served with its real `expiresIn` (refreshed at half its lifetime), and a token refreshed in the last 10 seconds is never refreshed again by a read. Cache it until `expiresAt - 60 s`; on 503 retry after `Retry-After` seconds. When RD refuses the token (401), ask again with `rejected` set to its hash to get a replacement.
     */
    get: operations['TokensController_getToken'];
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
}
export type webhooks = Record<string, never>;
export interface components {
  schemas: {
    AccountConnectionView: {
      /** @example acme-42 */
      account: string;
      /** Format: date-time */
      createdAt: string;
      /** Format: date-time */
      expiresAt: string;
      /**
       * Format: date-time
       * @description set while RD rejected this grant but the blast-radius guard held the rejection (status refresh_failing, grant kept)
       */
      heldSince: Record<string, never> | null;
      /**
       * @description RD account name (Marketing)
       * @example Acme Marketing
       */
      label: Record<string, never> | null;
      /** @example RD refresh failed (http_503): Service Unavailable */
      lastError: Record<string, never> | null;
      /** Format: date-time */
      lastErrorAt: Record<string, never> | null;
      /** Format: date-time */
      lastRefreshedAt: Record<string, never> | null;
      /** Format: date-time */
      nextRefreshAt: Record<string, never> | null;
      /** @enum {string} */
      product: 'crm' | 'marketing';
      /**
       * @description this connection's `/proxy` budget per minute (PATCH /connections/:account); null = RD_RATE_LIMIT_PER_MINUTE
       * @example null
       */
      rateLimitPerMinute: number | null;
      /**
       * @description for a `reauthorization_required` connection, a link to send to the customer: opening it starts a fresh consent for this account and product. Single use, valid RECONNECT_LINK_TTL; null otherwise
       * @example https://broker.example.com/oauth/reconnect/example-link-token-not-real
       */
      reconnectUrl: string | null;
      /** Format: date-time */
      reconnectUrlExpiresAt: string | null;
      /** @enum {string} */
      status: 'active' | 'refresh_failing' | 'reauthorization_required';
      /** Format: date-time */
      updatedAt: string;
    };
    AccountConnections: {
      /** @example acme-42 */
      account: string;
      connections: components['schemas']['AccountConnectionView'][];
    };
    AuthorizeUrlBody: {
      /**
       * @description the caller's tenant id: 1-128 chars of A-Z a-z 0-9 . _ : -
       * @example acme-42
       */
      account: string;
      /**
       * @description crm or marketing; may be left out when only one product is configured
       * @enum {string}
       */
      product?: 'crm' | 'marketing';
      /**
       * @description where the browser goes after the callback; must start with an OAUTH_RETURN_URL_ALLOWLIST prefix
       * @example https://app.example.com/integrations/rd
       */
      returnTo?: string;
    };
    AuthorizeUrlResponse: {
      /**
       * Format: date-time
       * @description the state in the URL is single-use and expires then (10 minutes)
       */
      expiresAt: string;
      /** @example https://accounts.rdstation.com/oauth/authorize?response_type=code&client_id=…&redirect_uri=…&state=… */
      url: string;
    };
    ConfirmHeldResult: {
      /** @description held connections now reauthorization_required */
      confirmed: string[];
      /** @enum {string} */
      product: 'crm' | 'marketing';
    };
    ConnectLinkBody: {
      /**
       * @description the caller's tenant id: 1-128 chars of A-Z a-z 0-9 . _ : -
       * @example acme-42
       */
      account: string;
      /**
       * @description crm or marketing; may be left out when only one product is configured
       * @enum {string}
       */
      product?: 'crm' | 'marketing';
      /**
       * @description where the browser goes after the callback; must start with an OAUTH_RETURN_URL_ALLOWLIST prefix
       * @example https://app.example.com/integrations/rd
       */
      returnTo?: string;
    };
    ConnectLinkResponse: {
      /**
       * Format: date-time
       * @description the link stops working then (CONNECT_LINK_TTL)
       */
      expiresAt: string;
      /**
       * @description the link to send the customer: `$PUBLIC_URL/connect/<token>`, single use
       * @example https://broker.example.com/connect/<token>
       */
      url: string;
    };
    ConnectionPage: {
      items: components['schemas']['ConnectionView'][];
      /** @description pass as `cursor` for the next page; null on the last page */
      nextCursor: Record<string, never> | null;
    };
    ConnectionView: {
      /** @example acme-42 */
      account: string;
      /** Format: date-time */
      createdAt: string;
      /** Format: date-time */
      expiresAt: string;
      /**
       * Format: date-time
       * @description set while RD rejected this grant but the blast-radius guard held the rejection (status refresh_failing, grant kept)
       */
      heldSince: Record<string, never> | null;
      /**
       * @description RD account name (Marketing)
       * @example Acme Marketing
       */
      label: Record<string, never> | null;
      /** @example RD refresh failed (http_503): Service Unavailable */
      lastError: Record<string, never> | null;
      /** Format: date-time */
      lastErrorAt: Record<string, never> | null;
      /** Format: date-time */
      lastRefreshedAt: Record<string, never> | null;
      /** Format: date-time */
      nextRefreshAt: Record<string, never> | null;
      /** @enum {string} */
      product: 'crm' | 'marketing';
      /**
       * @description this connection's `/proxy` budget per minute (PATCH /connections/:account); null = RD_RATE_LIMIT_PER_MINUTE
       * @example null
       */
      rateLimitPerMinute: number | null;
      /** @enum {string} */
      status: 'active' | 'refresh_failing' | 'reauthorization_required';
      /** Format: date-time */
      updatedAt: string;
    };
    /**
     * @description stable machine code; each has one HTTP status
     * @enum {string}
     */
    ErrorCode:
      | 'invalid_request'
      | 'unauthorized'
      | 'forbidden'
      | 'not_found'
      | 'not_connected'
      | 'method_not_allowed'
      | 'request_timeout'
      | 'reauthorization_required'
      | 'payload_too_large'
      | 'unsupported_media_type'
      | 'rate_limited'
      | 'request_too_large'
      | 'internal_error'
      | 'bad_gateway'
      | 'provider_unavailable'
      | 'service_unavailable';
    ErrorResponse: {
      /** @description stable machine code; each has one HTTP status */
      error: components['schemas']['ErrorCode'];
      /** @description what went wrong, for a person (never a token or secret) */
      message: string;
      /** @description the HTTP status, repeated */
      statusCode: number;
    };
    HistoryItem: {
      /**
       * Format: date-time
       * @description when it happened; for reads, the hour
       */
      at: string;
      /**
       * @example {
       *       "trigger": "scheduled"
       *     }
       */
      detail: {
        [key: string]: unknown;
      };
      /**
       * @description `connection.created` (detail: via consent or import, replaced), `connection.refreshed` (trigger: scheduled, on_read or forced), `connection.refresh_failed` (error, retryAt), `connection.reauthorization_required` (reason), `connection.recovered`, `connection.deleted` (revokedAtRd), `connection.read` (caller, count, firstAt, lastAt: the token reads of one API key in that hour), and any other event the broker records
       * @example connection.refreshed
       */
      type: string;
    };
    HistoryPage: {
      items: components['schemas']['HistoryItem'][];
      /** @description pass as `cursor` for the next (older) page; null on the last page */
      nextCursor: string | null;
    };
    ImportConnectionBody: {
      /**
       * @description with expiresAt, skips the proving refresh
       * @example example-access-token-not-real
       */
      accessToken?: string;
      /**
       * Format: date-time
       * @example 2026-11-26T12:00:00.000Z
       */
      expiresAt?: string;
      /**
       * @description crm or marketing; may be left out when only one product is configured
       * @enum {string}
       */
      product?: 'crm' | 'marketing';
      /**
       * @description the grant to take over; write-only
       * @example example-refresh-token-not-real
       */
      refreshToken: string;
    };
    ImportedConnectionView: {
      /** @example acme-42 */
      account: string;
      /** Format: date-time */
      createdAt: string;
      /** Format: date-time */
      expiresAt: string;
      /**
       * Format: date-time
       * @description set while RD rejected this grant but the blast-radius guard held the rejection (status refresh_failing, grant kept)
       */
      heldSince: Record<string, never> | null;
      /**
       * @description RD account name (Marketing)
       * @example Acme Marketing
       */
      label: Record<string, never> | null;
      /** @example RD refresh failed (http_503): Service Unavailable */
      lastError: Record<string, never> | null;
      /** Format: date-time */
      lastErrorAt: Record<string, never> | null;
      /** Format: date-time */
      lastRefreshedAt: Record<string, never> | null;
      /** Format: date-time */
      nextRefreshAt: Record<string, never> | null;
      /** @enum {string} */
      product: 'crm' | 'marketing';
      /**
       * @description this connection's `/proxy` budget per minute (PATCH /connections/:account); null = RD_RATE_LIMIT_PER_MINUTE
       * @example null
       */
      rateLimitPerMinute: number | null;
      /** @description true when the grant was proven by a refresh at RD (no access token valid for more than a minute came with it); false when it was taken as given, without calling RD */
      refreshed: boolean;
      /** @description true when that refresh made RD issue a new refresh token (RD CRM rotates it on every refresh): the copy the system it came from still holds is dead from now on. Import with a still-valid access token and expiresAt to take a grant over without rotating it (README, 'Migrating connections from another system') */
      rotated: boolean;
      /** @enum {string} */
      status: 'active' | 'refresh_failing' | 'reauthorization_required';
      /** Format: date-time */
      updatedAt: string;
    };
    KeyView: {
      /** @description an ADMIN_API_KEYS key */
      admin: boolean;
      /**
       * Format: date-time
       * @description its last token read or proxied call in the read audit (kept HISTORY_RETENTION_DAYS); null: none
       */
      lastUsedAt: string | null;
      /**
       * @description the name before `:` in API_KEYS / ADMIN_API_KEYS
       * @example billing
       */
      name: string;
      /**
       * @description its reads in the last 24 hours, counted by the hour (an hour that ended within them counts whole)
       * @example 1200
       */
      reads24h: number;
      /**
       * @description its API_KEY_SCOPES rule as written (actions after `@`, shown only when not all three); null: every account and action
       * @example crm:acme-*@read,proxy
       */
      scope: string | null;
    };
    RateLimitBody: {
      /**
       * @description RD API calls through `/proxy` per minute for this connection, shared by every replica (RD's limit depends on the customer's plan, e.g. 500/min on Marketing Advanced); `null` returns to RD_RATE_LIMIT_PER_MINUTE
       * @example 500
       */
      rateLimitPerMinute: number | null;
    };
    ReauthorizationErrorResponse: {
      /** @description stable machine code; each has one HTTP status */
      error: components['schemas']['ErrorCode'];
      /** @description what went wrong, for a person (never a token or secret) */
      message: string;
      /** @example RD rejected the refresh token (invalid_grant): token revoked */
      reason: string | null;
      /**
       * Format: date-time
       * @description when RD rejected the grant
       */
      since: string | null;
      /** @description the HTTP status, repeated */
      statusCode: number;
    };
    RetryRejectedBody: {
      /** @default 500 */
      limit: number;
      /** @enum {string} */
      product: 'crm' | 'marketing';
      /**
       * Format: date-time
       * @description rejected at or after this time (default: 24 hours ago)
       */
      since?: string;
      /**
       * Format: date-time
       * @description rejected at or before this time (default: now)
       */
      until?: string;
    };
    RetryRejectedResult: {
      /** @description accounts RD did not answer clearly (outage, unknown shape): unchanged, try again later */
      failed: string[];
      /** @description accounts RD accepted again: active now */
      recovered: string[];
      /** @description accounts RD rejected again: still reauthorization_required */
      stillRejected: string[];
      /**
       * @description condemned grants tried once more
       * @example 3
       */
      tried: number;
    };
    TokenResponse: {
      /**
       * @description send as `Authorization: Bearer` to RD
       * @example example-access-token-not-real
       */
      accessToken: string;
      /** @example acme-42 */
      account: string;
      /**
       * Format: date-time
       * @example 2026-11-26T12:00:00.000Z
       */
      expiresAt: string;
      /**
       * @description seconds left; cache the token until expiresAt - 60 s
       * @example 7140
       */
      expiresIn: number;
      /**
       * @example crm
       * @enum {string}
       */
      product: 'crm' | 'marketing';
      /**
       * @example Bearer
       * @enum {string}
       */
      tokenType: 'Bearer';
    };
  };
  responses: never;
  parameters: never;
  requestBodies: never;
  headers: never;
  pathItems: never;
}
export type $defs = Record<string, never>;
export interface operations {
  LinksController_createConnectLink: {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    requestBody: {
      content: {
        'application/json': components['schemas']['ConnectLinkBody'];
      };
    };
    responses: {
      201: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          'application/json': components['schemas']['ConnectLinkResponse'];
        };
      };
      /** @description `invalid_request`: bad account/product, or returnTo not allowed */
      400: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "invalid_request",
           *       "message": "account must be 1-128 characters of A-Z a-z 0-9 . _ : -",
           *       "statusCode": 400
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'invalid_request';
            /** @enum {integer} */
            statusCode?: 400;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `unauthorized`: missing or unknown API key */
      401: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "unauthorized",
           *       "message": "a valid API key is required: Authorization: Bearer <secret>",
           *       "statusCode": 401
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'unauthorized';
            /** @enum {integer} */
            statusCode?: 401;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `forbidden`: the key is scoped (API_KEY_SCOPES) and its rule does not match or lacks the `connect` action */
      403: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "forbidden",
           *       "message": "this API key may not reach crm account \"acme-42\"",
           *       "statusCode": 403
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'forbidden';
            /** @enum {integer} */
            statusCode?: 403;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `rate_limited`: too many failed attempts from this address */
      429: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "rate_limited",
           *       "message": "too many failed authentication attempts from this address; try again later",
           *       "statusCode": 429
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'rate_limited';
            /** @enum {integer} */
            statusCode?: 429;
          } & components['schemas']['ErrorResponse'];
        };
      };
    };
  };
  LinksController_showConnect: {
    parameters: {
      query?: never;
      header?: never;
      path: {
        /** @description the token of the link */
        token: string;
      };
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      /** @description HTML page naming the product and account */
      200: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          'text/html': unknown;
        };
      };
      /** @description HTML page: the link is unknown, used or expired */
      400: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /** @example <!doctype html><title>400</title><p>HTML page: the link is unknown, used or expired</p> */
          'text/html': string;
        };
      };
      /** @description `rate_limited`: more than 60 requests a minute from one address */
      429: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "rate_limited",
           *       "message": "too many failed authentication attempts from this address; try again later",
           *       "statusCode": 429
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'rate_limited';
            /** @enum {integer} */
            statusCode?: 429;
          } & components['schemas']['ErrorResponse'];
        };
      };
    };
  };
  LinksController_openConnect: {
    parameters: {
      query?: never;
      header?: never;
      path: {
        /** @description the token of the link */
        token: string;
      };
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      /** @description redirect to the RD Station consent */
      303: {
        headers: {
          [name: string]: unknown;
        };
        content?: never;
      };
      /** @description HTML page: the link is unknown, used or expired */
      400: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /** @example <!doctype html><title>400</title><p>HTML page: the link is unknown, used or expired</p> */
          'text/html': string;
        };
      };
      /** @description `rate_limited`: more than 60 requests a minute from one address */
      429: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "rate_limited",
           *       "message": "too many failed authentication attempts from this address; try again later",
           *       "statusCode": 429
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'rate_limited';
            /** @enum {integer} */
            statusCode?: 429;
          } & components['schemas']['ErrorResponse'];
        };
      };
    };
  };
  ConnectionsController_list: {
    parameters: {
      query?: {
        /** @description crm or marketing; may be left out when only one product is configured */
        product?: 'crm' | 'marketing';
        status?: 'active' | 'refresh_failing' | 'reauthorization_required';
        limit?: number;
        /** @description `nextCursor` of the previous page */
        cursor?: string;
      };
      header?: never;
      path?: never;
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      200: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          'application/json': components['schemas']['ConnectionPage'];
        };
      };
      /** @description `invalid_request` */
      400: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "invalid_request",
           *       "message": "account must be 1-128 characters of A-Z a-z 0-9 . _ : -",
           *       "statusCode": 400
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'invalid_request';
            /** @enum {integer} */
            statusCode?: 400;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `unauthorized`: missing or unknown API key */
      401: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "unauthorized",
           *       "message": "a valid API key is required: Authorization: Bearer <secret>",
           *       "statusCode": 401
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'unauthorized';
            /** @enum {integer} */
            statusCode?: 401;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `forbidden`: the key is not an admin key */
      403: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "forbidden",
           *       "message": "this API key may not reach crm account \"acme-42\"",
           *       "statusCode": 403
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'forbidden';
            /** @enum {integer} */
            statusCode?: 403;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `rate_limited`: too many failed attempts from this address */
      429: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "rate_limited",
           *       "message": "too many failed authentication attempts from this address; try again later",
           *       "statusCode": 429
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'rate_limited';
            /** @enum {integer} */
            statusCode?: 429;
          } & components['schemas']['ErrorResponse'];
        };
      };
    };
  };
  ConnectionsController_confirmHeld: {
    parameters: {
      query: {
        product: 'crm' | 'marketing';
      };
      header?: never;
      path?: never;
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      200: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          'application/json': components['schemas']['ConfirmHeldResult'];
        };
      };
      /** @description `invalid_request` */
      400: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "invalid_request",
           *       "message": "account must be 1-128 characters of A-Z a-z 0-9 . _ : -",
           *       "statusCode": 400
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'invalid_request';
            /** @enum {integer} */
            statusCode?: 400;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `unauthorized`: missing or unknown API key */
      401: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "unauthorized",
           *       "message": "a valid API key is required: Authorization: Bearer <secret>",
           *       "statusCode": 401
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'unauthorized';
            /** @enum {integer} */
            statusCode?: 401;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `forbidden`: the key is not an admin key */
      403: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "forbidden",
           *       "message": "this API key may not reach crm account \"acme-42\"",
           *       "statusCode": 403
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'forbidden';
            /** @enum {integer} */
            statusCode?: 403;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `rate_limited`: too many failed attempts from this address */
      429: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "rate_limited",
           *       "message": "too many failed authentication attempts from this address; try again later",
           *       "statusCode": 429
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'rate_limited';
            /** @enum {integer} */
            statusCode?: 429;
          } & components['schemas']['ErrorResponse'];
        };
      };
    };
  };
  ConnectionsController_retryRejected: {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    requestBody: {
      content: {
        'application/json': components['schemas']['RetryRejectedBody'];
      };
    };
    responses: {
      200: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          'application/json': components['schemas']['RetryRejectedResult'];
        };
      };
      /** @description `invalid_request` */
      400: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "invalid_request",
           *       "message": "account must be 1-128 characters of A-Z a-z 0-9 . _ : -",
           *       "statusCode": 400
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'invalid_request';
            /** @enum {integer} */
            statusCode?: 400;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `unauthorized`: missing or unknown API key */
      401: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "unauthorized",
           *       "message": "a valid API key is required: Authorization: Bearer <secret>",
           *       "statusCode": 401
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'unauthorized';
            /** @enum {integer} */
            statusCode?: 401;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `forbidden`: the key is not an admin key */
      403: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "forbidden",
           *       "message": "this API key may not reach crm account \"acme-42\"",
           *       "statusCode": 403
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'forbidden';
            /** @enum {integer} */
            statusCode?: 403;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `rate_limited`: too many failed attempts from this address */
      429: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "rate_limited",
           *       "message": "too many failed authentication attempts from this address; try again later",
           *       "statusCode": 429
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'rate_limited';
            /** @enum {integer} */
            statusCode?: 429;
          } & components['schemas']['ErrorResponse'];
        };
      };
    };
  };
  ConnectionsController_get: {
    parameters: {
      query?: never;
      header?: never;
      path: {
        /** @description the caller's tenant id: 1-128 chars of A-Z a-z 0-9 . _ : - */
        account: string;
      };
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      200: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          'application/json': components['schemas']['AccountConnections'];
        };
      };
      /** @description `invalid_request` */
      400: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "invalid_request",
           *       "message": "account must be 1-128 characters of A-Z a-z 0-9 . _ : -",
           *       "statusCode": 400
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'invalid_request';
            /** @enum {integer} */
            statusCode?: 400;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `unauthorized`: missing or unknown API key */
      401: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "unauthorized",
           *       "message": "a valid API key is required: Authorization: Bearer <secret>",
           *       "statusCode": 401
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'unauthorized';
            /** @enum {integer} */
            statusCode?: 401;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `forbidden`: the key is not an admin key */
      403: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "forbidden",
           *       "message": "this API key may not reach crm account \"acme-42\"",
           *       "statusCode": 403
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'forbidden';
            /** @enum {integer} */
            statusCode?: 403;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `not_connected` */
      404: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "not_connected",
           *       "message": "no crm connection for account \"acme-42\"",
           *       "statusCode": 404
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'not_connected';
            /** @enum {integer} */
            statusCode?: 404;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `rate_limited`: too many failed attempts from this address */
      429: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "rate_limited",
           *       "message": "too many failed authentication attempts from this address; try again later",
           *       "statusCode": 429
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'rate_limited';
            /** @enum {integer} */
            statusCode?: 429;
          } & components['schemas']['ErrorResponse'];
        };
      };
    };
  };
  ConnectionsController_import: {
    parameters: {
      query?: never;
      header?: never;
      path: {
        /** @description the caller's tenant id: 1-128 chars of A-Z a-z 0-9 . _ : - */
        account: string;
      };
      cookie?: never;
    };
    requestBody: {
      content: {
        'application/json': components['schemas']['ImportConnectionBody'];
      };
    };
    responses: {
      /** @description an existing connection replaced */
      200: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          'application/json': components['schemas']['ImportedConnectionView'];
        };
      };
      /** @description a new connection */
      201: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          'application/json': components['schemas']['ImportedConnectionView'];
        };
      };
      /** @description `invalid_request` */
      400: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "invalid_request",
           *       "message": "account must be 1-128 characters of A-Z a-z 0-9 . _ : -",
           *       "statusCode": 400
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'invalid_request';
            /** @enum {integer} */
            statusCode?: 400;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `unauthorized`: missing or unknown API key */
      401: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "unauthorized",
           *       "message": "a valid API key is required: Authorization: Bearer <secret>",
           *       "statusCode": 401
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'unauthorized';
            /** @enum {integer} */
            statusCode?: 401;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `forbidden`: the key is not an admin key */
      403: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "forbidden",
           *       "message": "this API key may not reach crm account \"acme-42\"",
           *       "statusCode": 403
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'forbidden';
            /** @enum {integer} */
            statusCode?: 403;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `rate_limited`: too many failed attempts from this address */
      429: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "rate_limited",
           *       "message": "too many failed authentication attempts from this address; try again later",
           *       "statusCode": 429
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'rate_limited';
            /** @enum {integer} */
            statusCode?: 429;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `provider_unavailable`: RD could not be reached */
      503: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          'application/json': {
            /** @enum {string} */
            error?: 'provider_unavailable' | 'service_unavailable';
            /** @enum {integer} */
            statusCode?: 503;
          } & components['schemas']['ErrorResponse'];
        };
      };
    };
  };
  ConnectionsController_delete: {
    parameters: {
      query?: {
        /** @description crm or marketing; may be left out when only one product is configured */
        product?: 'crm' | 'marketing';
      };
      header?: never;
      path: {
        /** @description the caller's tenant id: 1-128 chars of A-Z a-z 0-9 . _ : - */
        account: string;
      };
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      /** @description deleted */
      204: {
        headers: {
          /** @description `confirmed`, `failed` or `unsupported` (CRM) */
          'X-Revocation'?: 'confirmed' | 'failed' | 'unsupported';
          /** @description `true` when RD confirmed the revocation; `false` when it failed (the grant may still be live at RD) or the product has no revocation endpoint (CRM) */
          'X-Revoked'?: 'true' | 'false';
          [name: string]: unknown;
        };
        content?: never;
      };
      /** @description `invalid_request` */
      400: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "invalid_request",
           *       "message": "account must be 1-128 characters of A-Z a-z 0-9 . _ : -",
           *       "statusCode": 400
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'invalid_request';
            /** @enum {integer} */
            statusCode?: 400;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `unauthorized`: missing or unknown API key */
      401: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "unauthorized",
           *       "message": "a valid API key is required: Authorization: Bearer <secret>",
           *       "statusCode": 401
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'unauthorized';
            /** @enum {integer} */
            statusCode?: 401;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `forbidden`: the key is not an admin key */
      403: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "forbidden",
           *       "message": "this API key may not reach crm account \"acme-42\"",
           *       "statusCode": 403
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'forbidden';
            /** @enum {integer} */
            statusCode?: 403;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `not_connected` */
      404: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "not_connected",
           *       "message": "no crm connection for account \"acme-42\"",
           *       "statusCode": 404
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'not_connected';
            /** @enum {integer} */
            statusCode?: 404;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `rate_limited`: too many failed attempts from this address */
      429: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "rate_limited",
           *       "message": "too many failed authentication attempts from this address; try again later",
           *       "statusCode": 429
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'rate_limited';
            /** @enum {integer} */
            statusCode?: 429;
          } & components['schemas']['ErrorResponse'];
        };
      };
    };
  };
  ConnectionsController_setRateLimit: {
    parameters: {
      query?: {
        /** @description crm or marketing; may be left out when only one product is configured */
        product?: 'crm' | 'marketing';
      };
      header?: never;
      path: {
        /** @description the caller's tenant id: 1-128 chars of A-Z a-z 0-9 . _ : - */
        account: string;
      };
      cookie?: never;
    };
    requestBody: {
      content: {
        'application/json': components['schemas']['RateLimitBody'];
      };
    };
    responses: {
      200: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          'application/json': components['schemas']['ConnectionView'];
        };
      };
      /** @description `invalid_request` */
      400: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "invalid_request",
           *       "message": "account must be 1-128 characters of A-Z a-z 0-9 . _ : -",
           *       "statusCode": 400
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'invalid_request';
            /** @enum {integer} */
            statusCode?: 400;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `unauthorized`: missing or unknown API key */
      401: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "unauthorized",
           *       "message": "a valid API key is required: Authorization: Bearer <secret>",
           *       "statusCode": 401
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'unauthorized';
            /** @enum {integer} */
            statusCode?: 401;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `forbidden`: the key is not an admin key */
      403: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "forbidden",
           *       "message": "this API key may not reach crm account \"acme-42\"",
           *       "statusCode": 403
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'forbidden';
            /** @enum {integer} */
            statusCode?: 403;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `not_connected` */
      404: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "not_connected",
           *       "message": "no crm connection for account \"acme-42\"",
           *       "statusCode": 404
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'not_connected';
            /** @enum {integer} */
            statusCode?: 404;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `rate_limited`: too many failed attempts from this address */
      429: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "rate_limited",
           *       "message": "too many failed authentication attempts from this address; try again later",
           *       "statusCode": 429
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'rate_limited';
            /** @enum {integer} */
            statusCode?: 429;
          } & components['schemas']['ErrorResponse'];
        };
      };
    };
  };
  HistoryController_page: {
    parameters: {
      query?: {
        /** @description crm or marketing; may be left out when only one product is configured */
        product?: 'crm' | 'marketing';
        limit?: number;
        /** @description `nextCursor` of the previous page */
        cursor?: string;
      };
      header?: never;
      path: {
        /** @description the caller's tenant id: 1-128 chars of A-Z a-z 0-9 . _ : - */
        account: string;
      };
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      200: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          'application/json': components['schemas']['HistoryPage'];
        };
      };
      /** @description `invalid_request`: bad account, product, limit or cursor */
      400: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "invalid_request",
           *       "message": "account must be 1-128 characters of A-Z a-z 0-9 . _ : -",
           *       "statusCode": 400
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'invalid_request';
            /** @enum {integer} */
            statusCode?: 400;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `unauthorized`: missing or unknown API key */
      401: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "unauthorized",
           *       "message": "a valid API key is required: Authorization: Bearer <secret>",
           *       "statusCode": 401
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'unauthorized';
            /** @enum {integer} */
            statusCode?: 401;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `forbidden`: the key is not an admin key */
      403: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "forbidden",
           *       "message": "this API key may not reach crm account \"acme-42\"",
           *       "statusCode": 403
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'forbidden';
            /** @enum {integer} */
            statusCode?: 403;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `rate_limited`: too many failed attempts from this address */
      429: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "rate_limited",
           *       "message": "too many failed authentication attempts from this address; try again later",
           *       "statusCode": 429
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'rate_limited';
            /** @enum {integer} */
            statusCode?: 429;
          } & components['schemas']['ErrorResponse'];
        };
      };
    };
  };
  ConnectionsController_refresh: {
    parameters: {
      query?: {
        /** @description crm or marketing; may be left out when only one product is configured */
        product?: 'crm' | 'marketing';
        /** @description `true` also tries a `reauthorization_required` grant once more with its stored refresh token; if RD accepts it the connection is active again and `connection.recovered` fires */
        retryRejected?: 'true' | 'false';
      };
      header?: never;
      path: {
        /** @description the caller's tenant id: 1-128 chars of A-Z a-z 0-9 . _ : - */
        account: string;
      };
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      200: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          'application/json': components['schemas']['ConnectionView'];
        };
      };
      /** @description `invalid_request` */
      400: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "invalid_request",
           *       "message": "account must be 1-128 characters of A-Z a-z 0-9 . _ : -",
           *       "statusCode": 400
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'invalid_request';
            /** @enum {integer} */
            statusCode?: 400;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `unauthorized`: missing or unknown API key */
      401: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "unauthorized",
           *       "message": "a valid API key is required: Authorization: Bearer <secret>",
           *       "statusCode": 401
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'unauthorized';
            /** @enum {integer} */
            statusCode?: 401;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `forbidden`: the key is not an admin key */
      403: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "forbidden",
           *       "message": "this API key may not reach crm account \"acme-42\"",
           *       "statusCode": 403
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'forbidden';
            /** @enum {integer} */
            statusCode?: 403;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `not_connected` */
      404: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "not_connected",
           *       "message": "no crm connection for account \"acme-42\"",
           *       "statusCode": 404
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'not_connected';
            /** @enum {integer} */
            statusCode?: 404;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `reauthorization_required` */
      409: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "reauthorization_required",
           *       "message": "the crm connection of account \"acme-42\" must be authorized again",
           *       "reason": "RD rejected the refresh token (invalid_grant): token revoked",
           *       "since": "2026-11-30T10:15:00.000Z",
           *       "statusCode": 409
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'reauthorization_required';
            /** @enum {integer} */
            statusCode?: 409;
          } & components['schemas']['ReauthorizationErrorResponse'];
        };
      };
      /** @description `rate_limited`: too many failed attempts from this address */
      429: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "rate_limited",
           *       "message": "too many failed authentication attempts from this address; try again later",
           *       "statusCode": 429
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'rate_limited';
            /** @enum {integer} */
            statusCode?: 429;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `provider_unavailable`: RD did not answer a retry clearly, or the connection is busy */
      503: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          'application/json': {
            /** @enum {string} */
            error?: 'provider_unavailable' | 'service_unavailable';
            /** @enum {integer} */
            statusCode?: 503;
          } & components['schemas']['ErrorResponse'];
        };
      };
    };
  };
  HealthController_live: {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      /** @description alive */
      200: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          'application/json': unknown;
        };
      };
    };
  };
  HealthController_ready: {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      /** @description ready (or degraded: the database is not up, cached tokens are served) */
      200: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          'application/json': unknown;
        };
      };
      /** @description the database is not up and there is no token cache to serve from */
      503: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          'application/json': unknown;
        };
      };
    };
  };
  KeysController_list: {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      200: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          'application/json': components['schemas']['KeyView'][];
        };
      };
      /** @description `unauthorized`: missing or unknown API key */
      401: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "unauthorized",
           *       "message": "a valid API key is required: Authorization: Bearer <secret>",
           *       "statusCode": 401
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'unauthorized';
            /** @enum {integer} */
            statusCode?: 401;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `forbidden`: the key is not an admin key */
      403: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "forbidden",
           *       "message": "this API key may not reach crm account \"acme-42\"",
           *       "statusCode": 403
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'forbidden';
            /** @enum {integer} */
            statusCode?: 403;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `rate_limited`: too many failed attempts from this address */
      429: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "rate_limited",
           *       "message": "too many failed authentication attempts from this address; try again later",
           *       "statusCode": 429
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'rate_limited';
            /** @enum {integer} */
            statusCode?: 429;
          } & components['schemas']['ErrorResponse'];
        };
      };
    };
  };
  MetricsController_scrape: {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      /** @description Prometheus text exposition format */
      200: {
        headers: {
          [name: string]: unknown;
        };
        content?: never;
      };
    };
  };
  OAuthController_authorizeUrl: {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    requestBody: {
      content: {
        'application/json': components['schemas']['AuthorizeUrlBody'];
      };
    };
    responses: {
      201: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          'application/json': components['schemas']['AuthorizeUrlResponse'];
        };
      };
      /** @description `invalid_request`: bad account/product, or returnTo not allowed */
      400: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "invalid_request",
           *       "message": "account must be 1-128 characters of A-Z a-z 0-9 . _ : -",
           *       "statusCode": 400
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'invalid_request';
            /** @enum {integer} */
            statusCode?: 400;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `unauthorized`: missing or unknown API key */
      401: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "unauthorized",
           *       "message": "a valid API key is required: Authorization: Bearer <secret>",
           *       "statusCode": 401
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'unauthorized';
            /** @enum {integer} */
            statusCode?: 401;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `forbidden`: the key is scoped (API_KEY_SCOPES) and its rule does not match or lacks the `connect` action */
      403: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "forbidden",
           *       "message": "this API key may not reach crm account \"acme-42\"",
           *       "statusCode": 403
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'forbidden';
            /** @enum {integer} */
            statusCode?: 403;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `rate_limited`: too many failed attempts from this address */
      429: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "rate_limited",
           *       "message": "too many failed authentication attempts from this address; try again later",
           *       "statusCode": 429
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'rate_limited';
            /** @enum {integer} */
            statusCode?: 429;
          } & components['schemas']['ErrorResponse'];
        };
      };
    };
  };
  OAuthController_callback: {
    parameters: {
      query?: {
        /** @description the issuer of the answer (RFC 9207); must equal RD_<PRODUCT>_ISSUER when that is set */
        iss?: unknown;
        /** @description set by RD instead of `code`: `access_denied` when the user declined, another OAuth error code otherwise */
        error?: unknown;
        /** @description the state of the consent URL */
        state?: unknown;
        /** @description the authorization code RD sends */
        code?: unknown;
      };
      header?: never;
      path?: never;
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      /** @description HTML page: connected */
      200: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          'text/html': unknown;
        };
      };
      /** @description redirect to returnTo with account, product and status=connected, or status=error&reason=… (plus providerError=<RD error code> when reason=provider_error) */
      302: {
        headers: {
          [name: string]: unknown;
        };
        content?: never;
      };
      /** @description HTML page naming the failure, nothing stored. Reasons: invalid_state, access_denied (the user declined), provider_error (any other RD `error`, its code shown), missing_code, code_rejected, app_misconfigured (RD refused the client id/secret), invalid_issuer, provider_unavailable */
      400: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /** @example <!doctype html><title>400</title><p>HTML page naming the failure, nothing stored. Reasons: invalid_state, access_denied (the user declined), provider_error (any other RD `error`, its code shown), missing_code, code_rejected, app_misconfigured (RD refused the client id/secret), invalid_issuer, provider_unavailable</p> */
          'text/html': string;
        };
      };
      /** @description `rate_limited`: more than 60 callbacks a minute from one address */
      429: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "rate_limited",
           *       "message": "too many failed authentication attempts from this address; try again later",
           *       "statusCode": 429
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'rate_limited';
            /** @enum {integer} */
            statusCode?: 429;
          } & components['schemas']['ErrorResponse'];
        };
      };
    };
  };
  LinksController_showReconnect: {
    parameters: {
      query?: never;
      header?: never;
      path: {
        /** @description the token of the link */
        token: string;
      };
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      /** @description HTML page naming the product and account */
      200: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          'text/html': unknown;
        };
      };
      /** @description HTML page: the link is unknown, used, expired, or the connection no longer needs it */
      400: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /** @example <!doctype html><title>400</title><p>HTML page: the link is unknown, used, expired, or the connection no longer needs it</p> */
          'text/html': string;
        };
      };
      /** @description `rate_limited`: more than 60 requests a minute from one address */
      429: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "rate_limited",
           *       "message": "too many failed authentication attempts from this address; try again later",
           *       "statusCode": 429
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'rate_limited';
            /** @enum {integer} */
            statusCode?: 429;
          } & components['schemas']['ErrorResponse'];
        };
      };
    };
  };
  LinksController_openReconnect: {
    parameters: {
      query?: never;
      header?: never;
      path: {
        /** @description the token of the link */
        token: string;
      };
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      /** @description redirect to the RD Station consent */
      303: {
        headers: {
          [name: string]: unknown;
        };
        content?: never;
      };
      /** @description HTML page: the link is unknown, used, expired, or the connection no longer needs it */
      400: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /** @example <!doctype html><title>400</title><p>HTML page: the link is unknown, used, expired, or the connection no longer needs it</p> */
          'text/html': string;
        };
      };
      /** @description `rate_limited`: more than 60 requests a minute from one address */
      429: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "rate_limited",
           *       "message": "too many failed authentication attempts from this address; try again later",
           *       "statusCode": 429
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'rate_limited';
            /** @enum {integer} */
            statusCode?: 429;
          } & components['schemas']['ErrorResponse'];
        };
      };
    };
  };
  proxy_get: {
    parameters: {
      query?: never;
      header: {
        /** @description the caller's tenant id: 1-128 chars of A-Z a-z 0-9 . _ : - */
        'X-Account': string;
        /** @description crm or marketing; may be left out when only one product is configured */
        'X-Product'?: 'crm' | 'marketing';
      };
      path: {
        /** @description RD's API path, slashes included (`crm/v2/contacts`, `platform/contacts/email:x@y.com`). Absolute URLs, `//`, `.` and `..` segments (also encoded), encoded slashes or backslashes, and CR/LF anywhere are refused with 400 before any call */
        rdPath: string;
      };
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      /** @description `invalid_request`: a refused RD path, or a bad X-Account or X-Product. Carries `X-Broker-Error` with the code */
      400: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'invalid_request';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "invalid_request",
           *       "message": "account must be 1-128 characters of A-Z a-z 0-9 . _ : -",
           *       "statusCode": 400
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'invalid_request';
            /** @enum {integer} */
            statusCode?: 400;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `unauthorized`: missing or unknown API key (checked from the headers, before any body byte is read). Carries `X-Broker-Error` with the code */
      401: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'unauthorized';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "unauthorized",
           *       "message": "a valid API key is required: Authorization: Bearer <secret>",
           *       "statusCode": 401
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'unauthorized';
            /** @enum {integer} */
            statusCode?: 401;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `forbidden`: this API key may not reach this account. Carries `X-Broker-Error` with the code */
      403: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'forbidden';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "forbidden",
           *       "message": "this API key may not reach crm account \"acme-42\"",
           *       "statusCode": 403
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'forbidden';
            /** @enum {integer} */
            statusCode?: 403;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `not_connected`: no connection for this account and product. Carries `X-Broker-Error` with the code */
      404: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'not_connected';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "not_connected",
           *       "message": "no crm connection for account \"acme-42\"",
           *       "statusCode": 404
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'not_connected';
            /** @enum {integer} */
            statusCode?: 404;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `method_not_allowed`: only GET, POST, PUT, PATCH, DELETE are forwarded (HEAD, OPTIONS… are refused, with `Allow`). Carries `X-Broker-Error` with the code */
      405: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'method_not_allowed';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "method_not_allowed",
           *       "message": "the proxy forwards GET, POST, PUT, PATCH, DELETE",
           *       "statusCode": 405
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'method_not_allowed';
            /** @enum {integer} */
            statusCode?: 405;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `reauthorization_required`: RD rejected the refresh token; the user must connect again. Carries `X-Broker-Error` with the code */
      409: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'reauthorization_required';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "reauthorization_required",
           *       "message": "the crm connection of account \"acme-42\" must be authorized again",
           *       "reason": "RD rejected the refresh token (invalid_grant): token revoked",
           *       "since": "2026-11-30T10:15:00.000Z",
           *       "statusCode": 409
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'reauthorization_required';
            /** @enum {integer} */
            statusCode?: 409;
          } & components['schemas']['ReauthorizationErrorResponse'];
        };
      };
      /** @description `payload_too_large`: the request body is over 1048576 bytes. Carries `X-Broker-Error` with the code */
      413: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'payload_too_large';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "payload_too_large",
           *       "message": "Request body is too large",
           *       "statusCode": 413
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'payload_too_large';
            /** @enum {integer} */
            statusCode?: 413;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `rate_limited`: this account's budget (its own, or RD_RATE_LIMIT_PER_MINUTE) is spent, or RD answered 429 and its Retry-After has not passed; RD was not called. Carries `X-Broker-Error` with the code */
      429: {
        headers: {
          /** @description seconds to wait before calling again */
          'Retry-After'?: number;
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'rate_limited';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "rate_limited",
           *       "message": "too many failed authentication attempts from this address; try again later",
           *       "statusCode": 429
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'rate_limited';
            /** @enum {integer} */
            statusCode?: 429;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `bad_gateway`: RD answered a status outside 200-599. Carries `X-Broker-Error` with the code */
      502: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'bad_gateway';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "bad_gateway",
           *       "message": "RD answered a status outside 200-599",
           *       "statusCode": 502
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'bad_gateway';
            /** @enum {integer} */
            statusCode?: 502;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `provider_unavailable` or `service_unavailable`: RD could not be reached or did not answer within RD_TIMEOUT_MS, or the token could not be refreshed; or the database is unreachable. Carries `X-Broker-Error` with the code */
      503: {
        headers: {
          /** @description seconds to wait before calling again */
          'Retry-After'?: number;
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'provider_unavailable' | 'service_unavailable';
          [name: string]: unknown;
        };
        content: {
          'application/json': {
            /** @enum {string} */
            error?: 'provider_unavailable' | 'service_unavailable';
            /** @enum {integer} */
            statusCode?: 503;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description RD's own answer, passed through as it came (no `X-Broker-Error`; RD's request id as `X-RD-Request-Id`), including RD's 401 after the one retry (or when it does not say the token is dead, or within REFRESH_MIN_INTERVAL_SECONDS of the last replacement) and its 429 with `Retry-After` */
      default: {
        headers: {
          [name: string]: unknown;
        };
        content?: never;
      };
    };
  };
  proxy_put: {
    parameters: {
      query?: never;
      header: {
        /** @description the caller's tenant id: 1-128 chars of A-Z a-z 0-9 . _ : - */
        'X-Account': string;
        /** @description crm or marketing; may be left out when only one product is configured */
        'X-Product'?: 'crm' | 'marketing';
      };
      path: {
        /** @description RD's API path, slashes included (`crm/v2/contacts`, `platform/contacts/email:x@y.com`). Absolute URLs, `//`, `.` and `..` segments (also encoded), encoded slashes or backslashes, and CR/LF anywhere are refused with 400 before any call */
        rdPath: string;
      };
      cookie?: never;
    };
    /** @description forwarded byte for byte, any content type, up to 1 MiB (buffered so a retry can resend it) */
    requestBody?: {
      content: {
        '*/*': string;
      };
    };
    responses: {
      /** @description `invalid_request`: a refused RD path, or a bad X-Account or X-Product. Carries `X-Broker-Error` with the code */
      400: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'invalid_request';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "invalid_request",
           *       "message": "account must be 1-128 characters of A-Z a-z 0-9 . _ : -",
           *       "statusCode": 400
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'invalid_request';
            /** @enum {integer} */
            statusCode?: 400;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `unauthorized`: missing or unknown API key (checked from the headers, before any body byte is read). Carries `X-Broker-Error` with the code */
      401: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'unauthorized';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "unauthorized",
           *       "message": "a valid API key is required: Authorization: Bearer <secret>",
           *       "statusCode": 401
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'unauthorized';
            /** @enum {integer} */
            statusCode?: 401;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `forbidden`: this API key may not reach this account. Carries `X-Broker-Error` with the code */
      403: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'forbidden';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "forbidden",
           *       "message": "this API key may not reach crm account \"acme-42\"",
           *       "statusCode": 403
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'forbidden';
            /** @enum {integer} */
            statusCode?: 403;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `not_connected`: no connection for this account and product. Carries `X-Broker-Error` with the code */
      404: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'not_connected';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "not_connected",
           *       "message": "no crm connection for account \"acme-42\"",
           *       "statusCode": 404
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'not_connected';
            /** @enum {integer} */
            statusCode?: 404;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `method_not_allowed`: only GET, POST, PUT, PATCH, DELETE are forwarded (HEAD, OPTIONS… are refused, with `Allow`). Carries `X-Broker-Error` with the code */
      405: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'method_not_allowed';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "method_not_allowed",
           *       "message": "the proxy forwards GET, POST, PUT, PATCH, DELETE",
           *       "statusCode": 405
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'method_not_allowed';
            /** @enum {integer} */
            statusCode?: 405;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `reauthorization_required`: RD rejected the refresh token; the user must connect again. Carries `X-Broker-Error` with the code */
      409: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'reauthorization_required';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "reauthorization_required",
           *       "message": "the crm connection of account \"acme-42\" must be authorized again",
           *       "reason": "RD rejected the refresh token (invalid_grant): token revoked",
           *       "since": "2026-11-30T10:15:00.000Z",
           *       "statusCode": 409
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'reauthorization_required';
            /** @enum {integer} */
            statusCode?: 409;
          } & components['schemas']['ReauthorizationErrorResponse'];
        };
      };
      /** @description `payload_too_large`: the request body is over 1048576 bytes. Carries `X-Broker-Error` with the code */
      413: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'payload_too_large';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "payload_too_large",
           *       "message": "Request body is too large",
           *       "statusCode": 413
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'payload_too_large';
            /** @enum {integer} */
            statusCode?: 413;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `rate_limited`: this account's budget (its own, or RD_RATE_LIMIT_PER_MINUTE) is spent, or RD answered 429 and its Retry-After has not passed; RD was not called. Carries `X-Broker-Error` with the code */
      429: {
        headers: {
          /** @description seconds to wait before calling again */
          'Retry-After'?: number;
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'rate_limited';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "rate_limited",
           *       "message": "too many failed authentication attempts from this address; try again later",
           *       "statusCode": 429
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'rate_limited';
            /** @enum {integer} */
            statusCode?: 429;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `bad_gateway`: RD answered a status outside 200-599. Carries `X-Broker-Error` with the code */
      502: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'bad_gateway';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "bad_gateway",
           *       "message": "RD answered a status outside 200-599",
           *       "statusCode": 502
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'bad_gateway';
            /** @enum {integer} */
            statusCode?: 502;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `provider_unavailable` or `service_unavailable`: RD could not be reached or did not answer within RD_TIMEOUT_MS, or the token could not be refreshed; or the database is unreachable. Carries `X-Broker-Error` with the code */
      503: {
        headers: {
          /** @description seconds to wait before calling again */
          'Retry-After'?: number;
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'provider_unavailable' | 'service_unavailable';
          [name: string]: unknown;
        };
        content: {
          'application/json': {
            /** @enum {string} */
            error?: 'provider_unavailable' | 'service_unavailable';
            /** @enum {integer} */
            statusCode?: 503;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description RD's own answer, passed through as it came (no `X-Broker-Error`; RD's request id as `X-RD-Request-Id`), including RD's 401 after the one retry (or when it does not say the token is dead, or within REFRESH_MIN_INTERVAL_SECONDS of the last replacement) and its 429 with `Retry-After` */
      default: {
        headers: {
          [name: string]: unknown;
        };
        content?: never;
      };
    };
  };
  proxy_post: {
    parameters: {
      query?: never;
      header: {
        /** @description the caller's tenant id: 1-128 chars of A-Z a-z 0-9 . _ : - */
        'X-Account': string;
        /** @description crm or marketing; may be left out when only one product is configured */
        'X-Product'?: 'crm' | 'marketing';
      };
      path: {
        /** @description RD's API path, slashes included (`crm/v2/contacts`, `platform/contacts/email:x@y.com`). Absolute URLs, `//`, `.` and `..` segments (also encoded), encoded slashes or backslashes, and CR/LF anywhere are refused with 400 before any call */
        rdPath: string;
      };
      cookie?: never;
    };
    /** @description forwarded byte for byte, any content type, up to 1 MiB (buffered so a retry can resend it) */
    requestBody?: {
      content: {
        '*/*': string;
      };
    };
    responses: {
      /** @description `invalid_request`: a refused RD path, or a bad X-Account or X-Product. Carries `X-Broker-Error` with the code */
      400: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'invalid_request';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "invalid_request",
           *       "message": "account must be 1-128 characters of A-Z a-z 0-9 . _ : -",
           *       "statusCode": 400
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'invalid_request';
            /** @enum {integer} */
            statusCode?: 400;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `unauthorized`: missing or unknown API key (checked from the headers, before any body byte is read). Carries `X-Broker-Error` with the code */
      401: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'unauthorized';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "unauthorized",
           *       "message": "a valid API key is required: Authorization: Bearer <secret>",
           *       "statusCode": 401
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'unauthorized';
            /** @enum {integer} */
            statusCode?: 401;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `forbidden`: this API key may not reach this account. Carries `X-Broker-Error` with the code */
      403: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'forbidden';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "forbidden",
           *       "message": "this API key may not reach crm account \"acme-42\"",
           *       "statusCode": 403
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'forbidden';
            /** @enum {integer} */
            statusCode?: 403;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `not_connected`: no connection for this account and product. Carries `X-Broker-Error` with the code */
      404: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'not_connected';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "not_connected",
           *       "message": "no crm connection for account \"acme-42\"",
           *       "statusCode": 404
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'not_connected';
            /** @enum {integer} */
            statusCode?: 404;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `method_not_allowed`: only GET, POST, PUT, PATCH, DELETE are forwarded (HEAD, OPTIONS… are refused, with `Allow`). Carries `X-Broker-Error` with the code */
      405: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'method_not_allowed';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "method_not_allowed",
           *       "message": "the proxy forwards GET, POST, PUT, PATCH, DELETE",
           *       "statusCode": 405
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'method_not_allowed';
            /** @enum {integer} */
            statusCode?: 405;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `reauthorization_required`: RD rejected the refresh token; the user must connect again. Carries `X-Broker-Error` with the code */
      409: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'reauthorization_required';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "reauthorization_required",
           *       "message": "the crm connection of account \"acme-42\" must be authorized again",
           *       "reason": "RD rejected the refresh token (invalid_grant): token revoked",
           *       "since": "2026-11-30T10:15:00.000Z",
           *       "statusCode": 409
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'reauthorization_required';
            /** @enum {integer} */
            statusCode?: 409;
          } & components['schemas']['ReauthorizationErrorResponse'];
        };
      };
      /** @description `payload_too_large`: the request body is over 1048576 bytes. Carries `X-Broker-Error` with the code */
      413: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'payload_too_large';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "payload_too_large",
           *       "message": "Request body is too large",
           *       "statusCode": 413
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'payload_too_large';
            /** @enum {integer} */
            statusCode?: 413;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `rate_limited`: this account's budget (its own, or RD_RATE_LIMIT_PER_MINUTE) is spent, or RD answered 429 and its Retry-After has not passed; RD was not called. Carries `X-Broker-Error` with the code */
      429: {
        headers: {
          /** @description seconds to wait before calling again */
          'Retry-After'?: number;
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'rate_limited';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "rate_limited",
           *       "message": "too many failed authentication attempts from this address; try again later",
           *       "statusCode": 429
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'rate_limited';
            /** @enum {integer} */
            statusCode?: 429;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `bad_gateway`: RD answered a status outside 200-599. Carries `X-Broker-Error` with the code */
      502: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'bad_gateway';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "bad_gateway",
           *       "message": "RD answered a status outside 200-599",
           *       "statusCode": 502
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'bad_gateway';
            /** @enum {integer} */
            statusCode?: 502;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `provider_unavailable` or `service_unavailable`: RD could not be reached or did not answer within RD_TIMEOUT_MS, or the token could not be refreshed; or the database is unreachable. Carries `X-Broker-Error` with the code */
      503: {
        headers: {
          /** @description seconds to wait before calling again */
          'Retry-After'?: number;
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'provider_unavailable' | 'service_unavailable';
          [name: string]: unknown;
        };
        content: {
          'application/json': {
            /** @enum {string} */
            error?: 'provider_unavailable' | 'service_unavailable';
            /** @enum {integer} */
            statusCode?: 503;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description RD's own answer, passed through as it came (no `X-Broker-Error`; RD's request id as `X-RD-Request-Id`), including RD's 401 after the one retry (or when it does not say the token is dead, or within REFRESH_MIN_INTERVAL_SECONDS of the last replacement) and its 429 with `Retry-After` */
      default: {
        headers: {
          [name: string]: unknown;
        };
        content?: never;
      };
    };
  };
  proxy_delete: {
    parameters: {
      query?: never;
      header: {
        /** @description the caller's tenant id: 1-128 chars of A-Z a-z 0-9 . _ : - */
        'X-Account': string;
        /** @description crm or marketing; may be left out when only one product is configured */
        'X-Product'?: 'crm' | 'marketing';
      };
      path: {
        /** @description RD's API path, slashes included (`crm/v2/contacts`, `platform/contacts/email:x@y.com`). Absolute URLs, `//`, `.` and `..` segments (also encoded), encoded slashes or backslashes, and CR/LF anywhere are refused with 400 before any call */
        rdPath: string;
      };
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      /** @description `invalid_request`: a refused RD path, or a bad X-Account or X-Product. Carries `X-Broker-Error` with the code */
      400: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'invalid_request';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "invalid_request",
           *       "message": "account must be 1-128 characters of A-Z a-z 0-9 . _ : -",
           *       "statusCode": 400
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'invalid_request';
            /** @enum {integer} */
            statusCode?: 400;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `unauthorized`: missing or unknown API key (checked from the headers, before any body byte is read). Carries `X-Broker-Error` with the code */
      401: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'unauthorized';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "unauthorized",
           *       "message": "a valid API key is required: Authorization: Bearer <secret>",
           *       "statusCode": 401
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'unauthorized';
            /** @enum {integer} */
            statusCode?: 401;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `forbidden`: this API key may not reach this account. Carries `X-Broker-Error` with the code */
      403: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'forbidden';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "forbidden",
           *       "message": "this API key may not reach crm account \"acme-42\"",
           *       "statusCode": 403
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'forbidden';
            /** @enum {integer} */
            statusCode?: 403;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `not_connected`: no connection for this account and product. Carries `X-Broker-Error` with the code */
      404: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'not_connected';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "not_connected",
           *       "message": "no crm connection for account \"acme-42\"",
           *       "statusCode": 404
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'not_connected';
            /** @enum {integer} */
            statusCode?: 404;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `method_not_allowed`: only GET, POST, PUT, PATCH, DELETE are forwarded (HEAD, OPTIONS… are refused, with `Allow`). Carries `X-Broker-Error` with the code */
      405: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'method_not_allowed';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "method_not_allowed",
           *       "message": "the proxy forwards GET, POST, PUT, PATCH, DELETE",
           *       "statusCode": 405
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'method_not_allowed';
            /** @enum {integer} */
            statusCode?: 405;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `reauthorization_required`: RD rejected the refresh token; the user must connect again. Carries `X-Broker-Error` with the code */
      409: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'reauthorization_required';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "reauthorization_required",
           *       "message": "the crm connection of account \"acme-42\" must be authorized again",
           *       "reason": "RD rejected the refresh token (invalid_grant): token revoked",
           *       "since": "2026-11-30T10:15:00.000Z",
           *       "statusCode": 409
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'reauthorization_required';
            /** @enum {integer} */
            statusCode?: 409;
          } & components['schemas']['ReauthorizationErrorResponse'];
        };
      };
      /** @description `payload_too_large`: the request body is over 1048576 bytes. Carries `X-Broker-Error` with the code */
      413: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'payload_too_large';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "payload_too_large",
           *       "message": "Request body is too large",
           *       "statusCode": 413
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'payload_too_large';
            /** @enum {integer} */
            statusCode?: 413;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `rate_limited`: this account's budget (its own, or RD_RATE_LIMIT_PER_MINUTE) is spent, or RD answered 429 and its Retry-After has not passed; RD was not called. Carries `X-Broker-Error` with the code */
      429: {
        headers: {
          /** @description seconds to wait before calling again */
          'Retry-After'?: number;
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'rate_limited';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "rate_limited",
           *       "message": "too many failed authentication attempts from this address; try again later",
           *       "statusCode": 429
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'rate_limited';
            /** @enum {integer} */
            statusCode?: 429;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `bad_gateway`: RD answered a status outside 200-599. Carries `X-Broker-Error` with the code */
      502: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'bad_gateway';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "bad_gateway",
           *       "message": "RD answered a status outside 200-599",
           *       "statusCode": 502
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'bad_gateway';
            /** @enum {integer} */
            statusCode?: 502;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `provider_unavailable` or `service_unavailable`: RD could not be reached or did not answer within RD_TIMEOUT_MS, or the token could not be refreshed; or the database is unreachable. Carries `X-Broker-Error` with the code */
      503: {
        headers: {
          /** @description seconds to wait before calling again */
          'Retry-After'?: number;
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'provider_unavailable' | 'service_unavailable';
          [name: string]: unknown;
        };
        content: {
          'application/json': {
            /** @enum {string} */
            error?: 'provider_unavailable' | 'service_unavailable';
            /** @enum {integer} */
            statusCode?: 503;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description RD's own answer, passed through as it came (no `X-Broker-Error`; RD's request id as `X-RD-Request-Id`), including RD's 401 after the one retry (or when it does not say the token is dead, or within REFRESH_MIN_INTERVAL_SECONDS of the last replacement) and its 429 with `Retry-After` */
      default: {
        headers: {
          [name: string]: unknown;
        };
        content?: never;
      };
    };
  };
  proxy_patch: {
    parameters: {
      query?: never;
      header: {
        /** @description the caller's tenant id: 1-128 chars of A-Z a-z 0-9 . _ : - */
        'X-Account': string;
        /** @description crm or marketing; may be left out when only one product is configured */
        'X-Product'?: 'crm' | 'marketing';
      };
      path: {
        /** @description RD's API path, slashes included (`crm/v2/contacts`, `platform/contacts/email:x@y.com`). Absolute URLs, `//`, `.` and `..` segments (also encoded), encoded slashes or backslashes, and CR/LF anywhere are refused with 400 before any call */
        rdPath: string;
      };
      cookie?: never;
    };
    /** @description forwarded byte for byte, any content type, up to 1 MiB (buffered so a retry can resend it) */
    requestBody?: {
      content: {
        '*/*': string;
      };
    };
    responses: {
      /** @description `invalid_request`: a refused RD path, or a bad X-Account or X-Product. Carries `X-Broker-Error` with the code */
      400: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'invalid_request';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "invalid_request",
           *       "message": "account must be 1-128 characters of A-Z a-z 0-9 . _ : -",
           *       "statusCode": 400
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'invalid_request';
            /** @enum {integer} */
            statusCode?: 400;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `unauthorized`: missing or unknown API key (checked from the headers, before any body byte is read). Carries `X-Broker-Error` with the code */
      401: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'unauthorized';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "unauthorized",
           *       "message": "a valid API key is required: Authorization: Bearer <secret>",
           *       "statusCode": 401
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'unauthorized';
            /** @enum {integer} */
            statusCode?: 401;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `forbidden`: this API key may not reach this account. Carries `X-Broker-Error` with the code */
      403: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'forbidden';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "forbidden",
           *       "message": "this API key may not reach crm account \"acme-42\"",
           *       "statusCode": 403
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'forbidden';
            /** @enum {integer} */
            statusCode?: 403;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `not_connected`: no connection for this account and product. Carries `X-Broker-Error` with the code */
      404: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'not_connected';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "not_connected",
           *       "message": "no crm connection for account \"acme-42\"",
           *       "statusCode": 404
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'not_connected';
            /** @enum {integer} */
            statusCode?: 404;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `method_not_allowed`: only GET, POST, PUT, PATCH, DELETE are forwarded (HEAD, OPTIONS… are refused, with `Allow`). Carries `X-Broker-Error` with the code */
      405: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'method_not_allowed';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "method_not_allowed",
           *       "message": "the proxy forwards GET, POST, PUT, PATCH, DELETE",
           *       "statusCode": 405
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'method_not_allowed';
            /** @enum {integer} */
            statusCode?: 405;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `reauthorization_required`: RD rejected the refresh token; the user must connect again. Carries `X-Broker-Error` with the code */
      409: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'reauthorization_required';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "reauthorization_required",
           *       "message": "the crm connection of account \"acme-42\" must be authorized again",
           *       "reason": "RD rejected the refresh token (invalid_grant): token revoked",
           *       "since": "2026-11-30T10:15:00.000Z",
           *       "statusCode": 409
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'reauthorization_required';
            /** @enum {integer} */
            statusCode?: 409;
          } & components['schemas']['ReauthorizationErrorResponse'];
        };
      };
      /** @description `payload_too_large`: the request body is over 1048576 bytes. Carries `X-Broker-Error` with the code */
      413: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'payload_too_large';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "payload_too_large",
           *       "message": "Request body is too large",
           *       "statusCode": 413
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'payload_too_large';
            /** @enum {integer} */
            statusCode?: 413;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `rate_limited`: this account's budget (its own, or RD_RATE_LIMIT_PER_MINUTE) is spent, or RD answered 429 and its Retry-After has not passed; RD was not called. Carries `X-Broker-Error` with the code */
      429: {
        headers: {
          /** @description seconds to wait before calling again */
          'Retry-After'?: number;
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'rate_limited';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "rate_limited",
           *       "message": "too many failed authentication attempts from this address; try again later",
           *       "statusCode": 429
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'rate_limited';
            /** @enum {integer} */
            statusCode?: 429;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `bad_gateway`: RD answered a status outside 200-599. Carries `X-Broker-Error` with the code */
      502: {
        headers: {
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'bad_gateway';
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "bad_gateway",
           *       "message": "RD answered a status outside 200-599",
           *       "statusCode": 502
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'bad_gateway';
            /** @enum {integer} */
            statusCode?: 502;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `provider_unavailable` or `service_unavailable`: RD could not be reached or did not answer within RD_TIMEOUT_MS, or the token could not be refreshed; or the database is unreachable. Carries `X-Broker-Error` with the code */
      503: {
        headers: {
          /** @description seconds to wait before calling again */
          'Retry-After'?: number;
          /** @description set on the broker's own answers only, never on RD's */
          'X-Broker-Error'?: 'provider_unavailable' | 'service_unavailable';
          [name: string]: unknown;
        };
        content: {
          'application/json': {
            /** @enum {string} */
            error?: 'provider_unavailable' | 'service_unavailable';
            /** @enum {integer} */
            statusCode?: 503;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description RD's own answer, passed through as it came (no `X-Broker-Error`; RD's request id as `X-RD-Request-Id`), including RD's 401 after the one retry (or when it does not say the token is dead, or within REFRESH_MIN_INTERVAL_SECONDS of the last replacement) and its 429 with `Retry-After` */
      default: {
        headers: {
          [name: string]: unknown;
        };
        content?: never;
      };
    };
  };
  TokensController_getToken: {
    parameters: {
      query?: {
        /** @description the first 16 lowercase hex characters of the SHA-256 of an access token RD refused (401). If it is still the stored token, the broker refreshes it (once, however many callers report it, and at most once per REFRESH_MIN_INTERVAL_SECONDS: 429 `rate_limited` with Retry-After before) and answers with the new one; if the token has already changed, the current one is answered without calling RD */
        rejected?: string;
        /** @description seconds the token must still be valid; capped by the provider’s token lifetime (see above) */
        minValidity?: number;
        /** @description crm or marketing; may be left out when only one product is configured */
        product?: 'crm' | 'marketing';
      };
      header?: never;
      path: {
        /** @description the caller's tenant id: 1-128 chars of A-Z a-z 0-9 . _ : - */
        account: string;
      };
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      200: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          'application/json': components['schemas']['TokenResponse'];
        };
      };
      /** @description `invalid_request`: bad account, product, minValidity or rejected */
      400: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "invalid_request",
           *       "message": "account must be 1-128 characters of A-Z a-z 0-9 . _ : -",
           *       "statusCode": 400
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'invalid_request';
            /** @enum {integer} */
            statusCode?: 400;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `unauthorized`: missing or unknown API key */
      401: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "unauthorized",
           *       "message": "a valid API key is required: Authorization: Bearer <secret>",
           *       "statusCode": 401
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'unauthorized';
            /** @enum {integer} */
            statusCode?: 401;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `forbidden`: the key is scoped (API_KEY_SCOPES) and its rule does not match */
      403: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "forbidden",
           *       "message": "this API key may not reach crm account \"acme-42\"",
           *       "statusCode": 403
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'forbidden';
            /** @enum {integer} */
            statusCode?: 403;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `not_connected`: no connection for this account and product */
      404: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "not_connected",
           *       "message": "no crm connection for account \"acme-42\"",
           *       "statusCode": 404
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'not_connected';
            /** @enum {integer} */
            statusCode?: 404;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `reauthorization_required`: RD rejected the refresh token; the user must connect again */
      409: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "reauthorization_required",
           *       "message": "the crm connection of account \"acme-42\" must be authorized again",
           *       "reason": "RD rejected the refresh token (invalid_grant): token revoked",
           *       "since": "2026-11-30T10:15:00.000Z",
           *       "statusCode": 409
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'reauthorization_required';
            /** @enum {integer} */
            statusCode?: 409;
          } & components['schemas']['ReauthorizationErrorResponse'];
        };
      };
      /** @description `rate_limited`: `rejected` names the token a refresh asked for by a report produced less than REFRESH_MIN_INTERVAL_SECONDS ago, or too many failed attempts from this address; `Retry-After` is set */
      429: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": "rate_limited",
           *       "message": "too many failed authentication attempts from this address; try again later",
           *       "statusCode": 429
           *     }
           */
          'application/json': {
            /** @enum {string} */
            error?: 'rate_limited';
            /** @enum {integer} */
            statusCode?: 429;
          } & components['schemas']['ErrorResponse'];
        };
      };
      /** @description `provider_unavailable`: RD failed and the stored token is too short-lived; `Retry-After` is set */
      503: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          'application/json': {
            /** @enum {string} */
            error?: 'provider_unavailable' | 'service_unavailable';
            /** @enum {integer} */
            statusCode?: 503;
          } & components['schemas']['ErrorResponse'];
        };
      };
    };
  };
}
