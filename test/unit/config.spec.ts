import { chmodSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, tracingProtocol } from '../../src/config/config';
import { readSecretFiles } from '../../src/config/secret-files';
import { testEnv } from '../support/broker';

function errorOf(overrides: Record<string, string>): string {
  try {
    loadConfig(testEnv(overrides));
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a configuration error');
}

describe('loadConfig', () => {
  it('reads a complete environment into a typed configuration', () => {
    const config = loadConfig(testEnv({ PORT: '4000', RD_MARKETING_CLIENT_SECRET: 'new, old' }));
    expect(config.port).toBe(4000);
    expect(config.publicUrl).toBe('http://localhost:4000');
    expect(config.redirectUri).toBe('http://localhost:4000/oauth/callback');
    expect(config.products.marketing?.clientSecrets).toEqual(['new', 'old']);
    expect(config.apiKeys).toEqual([{ name: 'svc', secret: expect.any(String) }]);
    expect(config.refresh).toEqual({
      cron: '*/1 * * * *',
      aheadSeconds: 600,
      concurrency: 8,
      minIntervalSeconds: 30,
      condemnGuard: { max: 5, windowSeconds: 600 },
    });
    expect(config.rd.marketingOAuth).toBe('legacy');
    expect(config.rd.streamTimeoutMs).toBe(120_000);
    expect(config.encryption.current.key).toHaveLength(32);
  });

  it.each([
    [{ API_KEYS: '', NODE_ENV: 'production' }, 'API_KEYS: is required when NODE_ENV=production'],
    [{ API_KEYS: 'svc:short' }, 'API_KEYS: the secret of "svc" must be at least 32 characters'],
    [
      { API_KEYS: 'no-colon-here-at-all-0123456789012345' },
      'API_KEYS: entry 1 must be name:secret',
    ],
    [{ ADMIN_API_KEYS: 'ops:tooshort' }, 'ADMIN_API_KEYS: the secret of "ops" must be at least 32'],
    [{ DATABASE_URL: 'mysql://x@y/z' }, 'DATABASE_URL: must be a postgres://'],
    [{ DATABASE_URL: 'not a url' }, 'DATABASE_URL: must be a postgres://'],
    [
      { TOKEN_ENCRYPTION_KEY: 'abc' },
      'TOKEN_ENCRYPTION_KEY: must be the base64 encoding of exactly 32 bytes',
    ],
    [
      { TOKEN_ENCRYPTION_PREVIOUS_KEYS: 'abc' },
      'TOKEN_ENCRYPTION_PREVIOUS_KEYS: key 1 must be the base64',
    ],
    [
      { TOKEN_ENCRYPTION_KEY: '', NODE_ENV: 'production' },
      'TOKEN_ENCRYPTION_KEY: is required when NODE_ENV=production',
    ],
    [
      {
        RD_CRM_CLIENT_ID: '',
        RD_CRM_CLIENT_SECRET: '',
        RD_MARKETING_CLIENT_ID: '',
        RD_MARKETING_CLIENT_SECRET: '',
      },
      'RD_CRM_CLIENT_ID: no product configured',
    ],
    [{ RD_CRM_CLIENT_SECRET: '' }, 'RD_CRM_CLIENT_SECRET: required when RD_CRM_CLIENT_ID is set'],
    [{ PORT: 'eighty' }, 'PORT: must be an integer'],
    [{ REFRESH_CRON: 'every minute' }, 'REFRESH_CRON: must be a cron expression'],
    [{ REFRESH_CONCURRENCY: '0' }, 'REFRESH_CONCURRENCY: must be at least 1'],
    [{ SCHEDULER_ENABLED: 'yes' }, 'SCHEDULER_ENABLED: must be true or false'],
    [{ RD_API_URL: 'ftp://rd' }, 'RD_API_URL: must be an http(s) URL'],
    [
      { OAUTH_RETURN_URL_ALLOWLIST: 'javascript:alert(1)' },
      'OAUTH_RETURN_URL_ALLOWLIST: "javascript:alert(1)" is not',
    ],
    [{ EVENTS_WEBHOOK_URL: 'http://hooks.local/x' }, 'EVENTS_WEBHOOK_SECRET: is required when'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL: '],
    [{ API_KEY_SCOPES: 'svc' }, 'API_KEY_SCOPES: entry 1 must be name=product:account'],
    [{ API_KEY_SCOPES: 'svc=' }, 'API_KEY_SCOPES: entry 1 must be name=product:account'],
    [{ API_KEY_SCOPES: 'svc=hubspot:*' }, 'API_KEY_SCOPES: entry 1 must be'],
    [{ API_KEY_SCOPES: 'svc=crm:' }, '("crm:" is not)'],
    [{ API_KEY_SCOPES: 'svc=crm:a*b' }, '("crm:a*b" is not)'],
    [{ API_KEY_SCOPES: 'svc=crm:acme;svc=marketing:*' }, 'API_KEY_SCOPES: key name "svc" appears'],
    [
      { API_KEY_SCOPES: 'svc=crm:*@write' },
      'actions after @ must be a comma-separated list of read, proxy, connect ("write" is not)',
    ],
    [{ API_KEY_SCOPES: 'svc=crm:*@' }, 'API_KEY_SCOPES: entry 1: the actions after @'],
    [{ API_KEY_SCOPES: 'svc=@read' }, 'API_KEY_SCOPES: entry 1 must be name=product:account'],
    [
      { API_KEY_SCOPES: 'billing=crm:*' },
      'API_KEY_SCOPES: "billing" is not a key name of API_KEYS',
    ],
    [{ API_KEY_SCOPES: 'ops=crm:*' }, 'API_KEY_SCOPES: "ops" is not a key name of API_KEYS'],
    [{ RECONNECT_LINK_TTL: '7 days' }, 'RECONNECT_LINK_TTL: must be seconds or a number'],
    [{ RECONNECT_LINK_TTL: '30' }, 'RECONNECT_LINK_TTL: must be seconds or a number'],
    [{ HISTORY_RETENTION_DAYS: '0' }, 'HISTORY_RETENTION_DAYS: must be at least 1'],
    [{ READ_FLUSH_SECONDS: 'often' }, 'READ_FLUSH_SECONDS: must be an integer'],
    [
      {
        EVENTS_WEBHOOK_URL: 'http://hooks.local/x',
        EVENTS_WEBHOOK_SECRET: 'long-enough-secret-1,short',
      },
      'EVENTS_WEBHOOK_SECRET: must be one or more comma-separated secrets',
    ],
  ])('rejects %j with one line naming the variable', (overrides, expected) => {
    const message = errorOf(overrides);
    expect(message).toContain(expected);
    expect(message).not.toContain('\n');
  });

  it('names every bad variable in one message, not only the first', () => {
    const message = errorOf({
      PORT: 'eighty',
      LOG_LEVEL: 'loud',
      TOKEN_ENCRYPTION_KEY: 'abc',
      EVENTS_WEBHOOK_URL: 'http://hooks.local/x',
    });
    expect(message).toContain('PORT: must be an integer');
    expect(message).toContain('LOG_LEVEL: ');
    expect(message).toContain('TOKEN_ENCRYPTION_KEY: must be the base64 encoding');
    expect(message).toContain('EVENTS_WEBHOOK_SECRET: is required when EVENTS_WEBHOOK_URL is set');
    expect(message).not.toContain('\n');
  });

  it('names a variable once when a rule of several variables also concerns it', () => {
    const message = errorOf({ NODE_ENV: 'production', API_KEYS: 'svc:short' });
    expect(message).toBe('API_KEYS: the secret of "svc" must be at least 32 characters');
  });

  it.each([
    [`svc:${'s'.repeat(32)},billing:${'s'.repeat(32)}`, `ops:${'o'.repeat(32)}`, 'API_KEYS'],
    [`svc:${'s'.repeat(32)}`, `ops:${'s'.repeat(32)}`, 'ADMIN_API_KEYS'],
  ])(
    'refuses two keys with the same secret (%s / %s), naming the keys, never the secret',
    (apiKeys, adminKeys, variable) => {
      const message = errorOf({ API_KEYS: apiKeys, ADMIN_API_KEYS: adminKeys });
      expect(message).toMatch(
        new RegExp(`^${variable}: ".+" has the same secret as API_KEYS "svc"`),
      );
      expect(message).not.toContain('s'.repeat(32));
    },
  );

  describe('<VAR>_FILE', () => {
    const dir = mkdtempSync(join(tmpdir(), 'broker-secrets-'));
    const file = (name: string, content: string) => {
      const path = join(dir, name);
      writeFileSync(path, content);
      return path;
    };

    it('reads every secret from its file, one trailing newline trimmed', () => {
      const key = Buffer.alloc(32, 9).toString('base64');
      const previous = Buffer.alloc(32, 8).toString('base64');
      const config = loadConfig(
        testEnv({
          DATABASE_URL: '',
          DATABASE_URL_FILE: file('db', 'postgres://u:p@db.local:5432/broker\n'),
          TOKEN_ENCRYPTION_KEY: '',
          TOKEN_ENCRYPTION_KEY_FILE: file('key', `${key}\n`),
          TOKEN_ENCRYPTION_PREVIOUS_KEYS_FILE: file('previous', `${previous}\r\n`),
          API_KEYS: '',
          API_KEYS_FILE: file('api', `svc:${'a'.repeat(32)}\n`),
          ADMIN_API_KEYS: '',
          ADMIN_API_KEYS_FILE: file('admin', `ops:${'b'.repeat(32)}`),
          RD_CRM_CLIENT_SECRET: '',
          RD_CRM_CLIENT_SECRET_FILE: file('crm', 'crm-secret-from-file \n'),
          RD_MARKETING_CLIENT_SECRET: '',
          RD_MARKETING_CLIENT_SECRET_FILE: file('mkt', 'new-mkt,old-mkt\n\n'),
          EVENTS_WEBHOOK_URL: 'http://hooks.local/x',
          EVENTS_WEBHOOK_SECRET_FILE: file('hook', 'webhook-secret-0123456789\n'),
        }),
      );
      expect(config.database.url).toBe('postgres://u:p@db.local:5432/broker');
      expect(config.encryption.current.key.equals(Buffer.from(key, 'base64'))).toBe(true);
      expect(config.encryption.previous.map((k) => k.key.toString('base64'))).toEqual([previous]);
      expect(config.apiKeys).toEqual([{ name: 'svc', secret: 'a'.repeat(32) }]);
      expect(config.adminApiKeys).toEqual([{ name: 'ops', secret: 'b'.repeat(32) }]);
      // Only one newline is the file's ending; what is before it is the value as written.
      expect(config.products.crm?.clientSecrets).toEqual(['crm-secret-from-file']);
      expect(config.products.marketing?.clientSecrets).toEqual(['new-mkt', 'old-mkt']);
      expect(config.events.webhookSecrets).toEqual(['webhook-secret-0123456789']);
    });

    it('trims exactly one trailing newline, nothing else', () => {
      const read = (content: string) =>
        readSecretFiles({ API_KEYS_FILE: file('raw', content) }).env.API_KEYS;
      expect(read('secret\n')).toBe('secret');
      expect(read('secret\r\n')).toBe('secret');
      expect(read('secret\n\n')).toBe('secret\n');
      expect(read(' secret ')).toBe(' secret ');
      expect(readSecretFiles({ API_KEYS_FILE: file('raw', 'x') }).env).not.toHaveProperty(
        'API_KEYS_FILE',
      );
    });

    it('refuses both forms set, naming the variable', () => {
      const message = errorOf({ API_KEYS_FILE: file('api-both', `svc:${'a'.repeat(32)}`) });
      expect(message).toBe('API_KEYS: both API_KEYS and API_KEYS_FILE are set; keep one');
    });

    it('refuses an unreadable file, naming the variable and never the content', () => {
      const missing = errorOf({
        TOKEN_ENCRYPTION_KEY: '',
        TOKEN_ENCRYPTION_KEY_FILE: join(dir, 'nope'),
      });
      expect(missing).toBe(
        `TOKEN_ENCRYPTION_KEY_FILE: cannot read ${JSON.stringify(join(dir, 'nope'))} (ENOENT)`,
      );
      const directory = errorOf({ RD_CRM_CLIENT_SECRET: '', RD_CRM_CLIENT_SECRET_FILE: dir });
      expect(directory).toBe(
        `RD_CRM_CLIENT_SECRET_FILE: cannot read ${JSON.stringify(dir)} (EISDIR)`,
      );
      const secretFile = file('unreadable', 'hunter2-secret-content');
      chmodSync(secretFile, 0o000);
      // root reads any file: there the check is that the content is fine; elsewhere, EACCES.
      if (process.getuid?.() !== 0) {
        const denied = errorOf({ API_KEYS: '', API_KEYS_FILE: secretFile });
        expect(denied).toContain('API_KEYS_FILE: cannot read');
        expect(denied).not.toContain('hunter2');
      }
    });

    it('checks the content read from a file like the variable itself, without echoing it', () => {
      const message = errorOf({
        API_KEYS: '',
        API_KEYS_FILE: file('api-short', 'svc:hunter2-short\n'),
        PORT: 'eighty',
      });
      expect(message).toContain('API_KEYS: the secret of "svc" must be at least 32 characters');
      expect(message).toContain('PORT: must be an integer');
      expect(message).not.toContain('hunter2');
    });
  });

  it('never echoes a secret in its message', () => {
    const message = errorOf({ API_KEYS: 'svc:hunter2-short' });
    expect(message).not.toContain('hunter2');
  });

  it('parses API_KEY_SCOPES into rules per key name', () => {
    const config = loadConfig(
      testEnv({
        API_KEYS: `svc:${'s'.repeat(32)},sync:${'y'.repeat(32)}`,
        API_KEY_SCOPES: ' svc=crm:* ; sync=marketing:acme-*, crm:acme-1 ;',
      }),
    );
    const all = ['read', 'proxy', 'connect'];
    expect([...config.apiKeyScopes.entries()]).toEqual([
      ['svc', { rules: [{ product: 'crm', account: '', prefix: true }], actions: all }],
      [
        'sync',
        {
          rules: [
            { product: 'marketing', account: 'acme-', prefix: true },
            { product: 'crm', account: 'acme-1', prefix: false },
          ],
          actions: all,
        },
      ],
    ]);
  });

  it('parses the actions of an API_KEY_SCOPES entry after @', () => {
    const config = loadConfig(
      testEnv({
        API_KEYS: `svc:${'s'.repeat(32)},sync:${'y'.repeat(32)}`,
        API_KEY_SCOPES: 'svc=crm:acme-*@read, proxy; sync=marketing:*,crm:x@connect',
      }),
    );
    expect(config.apiKeyScopes.get('svc')).toEqual({
      rules: [{ product: 'crm', account: 'acme-', prefix: true }],
      actions: ['read', 'proxy'],
    });
    expect(config.apiKeyScopes.get('sync')).toEqual({
      rules: [
        { product: 'marketing', account: '', prefix: true },
        { product: 'crm', account: 'x', prefix: false },
      ],
      actions: ['connect'],
    });
  });

  it('reads the history, reconnect-link and webhook-rotation settings', () => {
    const defaults = loadConfig(testEnv());
    expect(defaults.history).toEqual({ readFlushSeconds: 5, retentionDays: 30 });
    expect(defaults.reconnectLinkTtlSeconds).toBe(7 * 86_400);
    expect(defaults.apiKeyScopes.size).toBe(0);
    const set = loadConfig(
      testEnv({
        RECONNECT_LINK_TTL: '36h',
        EVENTS_WEBHOOK_URL: 'http://hooks.local/x',
        EVENTS_WEBHOOK_SECRET: 'new-secret-0123456789, old-secret-0123456789',
      }),
    );
    expect(set.reconnectLinkTtlSeconds).toBe(36 * 3600);
    expect(set.events.webhookSecrets).toEqual(['new-secret-0123456789', 'old-secret-0123456789']);
    expect(loadConfig(testEnv({ RECONNECT_LINK_TTL: '3600' })).reconnectLinkTtlSeconds).toBe(3600);
    expect(defaults.connectLinkTtlSeconds).toBe(7 * 86_400);
    expect(loadConfig(testEnv({ CONNECT_LINK_TTL: '2h' })).connectLinkTtlSeconds).toBe(7200);
  });

  it('accepts six-field cron expressions with seconds', () => {
    expect(loadConfig(testEnv({ REFRESH_CRON: '*/2 * * * * *' })).refresh.cron).toBe(
      '*/2 * * * * *',
    );
  });

  it('generates a development key once into DATA_DIR and reuses it', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'broker-key-'));
    const first = loadConfig(testEnv({ TOKEN_ENCRYPTION_KEY: '', DATA_DIR: dataDir }));
    const second = loadConfig(testEnv({ TOKEN_ENCRYPTION_KEY: '', DATA_DIR: dataDir }));
    expect(first.encryption.generated).toBe(true);
    expect(second.encryption.generated).toBe(false);
    expect(second.encryption.current.key.equals(first.encryption.current.key)).toBe(true);
    expect(existsSync(join(dataDir, 'dev-encryption.key'))).toBe(true);
    expect(readFileSync(join(dataDir, 'dev-encryption.key'), 'utf8').trim()).toHaveLength(44);
  });

  it('without API_KEYS outside production, generates a service key "dev" once into DATA_DIR', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'broker-api-key-'));
    const first = loadConfig(testEnv({ API_KEYS: '', DATA_DIR: dataDir }));
    const second = loadConfig(testEnv({ API_KEYS: '', DATA_DIR: dataDir }));
    const file = join(dataDir, 'dev-api-key');
    expect(first.devApiKey).toEqual({
      file,
      secret: expect.stringMatching(/^[0-9a-f]{64}$/),
      created: true,
    });
    expect(second.devApiKey).toEqual({ ...first.devApiKey, created: false });
    expect(second.apiKeys).toEqual([{ name: 'dev', secret: first.devApiKey!.secret }]);
    expect(readFileSync(file, 'utf8').trim()).toBe(first.devApiKey!.secret);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('with API_KEYS set, generates no development key', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'broker-api-key-'));
    const config = loadConfig(testEnv({ DATA_DIR: dataDir }));
    expect(config.devApiKey).toBeUndefined();
    expect(config.apiKeys.map((key) => key.name)).toEqual(['svc']);
    expect(existsSync(join(dataDir, 'dev-api-key'))).toBe(false);
  });
});

describe('tracingProtocol (read before loadConfig, by src/tracing/preload.ts)', () => {
  it.each([
    [{}, 'http/protobuf'],
    [{ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }, 'http/json'],
    [{ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' }, 'http/protobuf'],
    // The signal's own variable wins, as in every OpenTelemetry SDK.
    [
      {
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
      },
      'http/json',
    ],
    [
      {
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf',
      },
      'http/protobuf',
    ],
  ])('%j: %s', (env, expected) => {
    expect(tracingProtocol(env)).toBe(expected);
  });

  it('refuses a protocol the broker cannot send (loadConfig names the variable, never starts)', () => {
    expect(errorOf({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toContain(
      'OTEL_EXPORTER_OTLP_PROTOCOL',
    );
    expect(errorOf({ OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc' })).toContain(
      'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL',
    );
  });
});
