/**
 * The folders of src/ in one direction (README, "Development"): a folder imports only folders of
 * its own layer or below, and no file imports itself round a cycle. `npm run lint` runs it.
 *
 *   1. entry points     src/*.ts (main, app, root module, swagger), scheduler, health, http, proxy
 *   2. features         tokens, oauth, history
 *   3. domain           connections (ConnectionLifecycle, the refresher, the admin service)
 *   4. events           the outbox and its webhook delivery
 *   5. stores, clients  refresh (lock, guard, policy), links, rdstation, crypto, database,
 *                       metrics, logging, auth, tracing
 *   6. common, config
 */
const LAYERS = [
  ['[^/]+[.]ts', 'scheduler', 'health', 'http', 'proxy'],
  ['tokens', 'oauth', 'history'],
  ['connections'],
  ['events'],
  ['refresh', 'links', 'rdstation', 'crypto', 'database', 'metrics', 'logging', 'auth', 'tracing'],
  ['common', 'config'],
];

/**
 * Imports that still run upward, each with why: file → the upward files it may import, and
 * nothing else above its layer. A new upward import fails the lint, even from these files.
 */
const KNOWN_EXCEPTIONS = {
  // The Nest exception filter is an entry-point piece kept beside the errors it maps: it asks the
  // database layer whether an error is an outage and throttles its log lines.
  'src/common/error.filter.ts': ['src/logging/log-throttle.ts', 'src/database/database-outage.ts'],
  // The refresh policy reads fields of the entity (a type-only import); the entity belongs to
  // connections, which is the domain layer above it.
  'src/refresh/refresh-policy.ts': ['src/connections/connection.entity.ts'],
  // TypeORM's options list the entities, which live with their feature.
  'src/database/data-source-options.ts': ['src/connections/connection.entity.ts'],
};

const folders = (layers) => `^src/(${layers.flat().join('|')})(/|$)`;
const layerOf = (file) =>
  LAYERS.findIndex((layer) =>
    new RegExp(folders([layer])).test(file.replace(/^src\/[^/]+[.]ts$/, 'src/x.ts')),
  );
const exact = (files) => files.map((file) => `^${file.replace(/[.]/g, '[.]')}$`);

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A file cycle (type-only imports included) means a layer is in the wrong place.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    ...LAYERS.slice(0, -1).map((layer, i) => ({
      name: `no-upward-import-into-layer-${i + 1}`,
      severity: 'error',
      comment: `Layer ${i + 1} (${layer.join(', ')}) is imported only by itself and the layers above it.`,
      from: { path: folders(LAYERS.slice(i + 1)), pathNot: exact(Object.keys(KNOWN_EXCEPTIONS)) },
      to: { path: folders([layer]) },
    })),
    ...Object.entries(KNOWN_EXCEPTIONS).map(([file, allowed]) => ({
      name: 'no-upward-import-beyond-known-exceptions',
      severity: 'error',
      comment: `${file} may import upward only what KNOWN_EXCEPTIONS lists for it.`,
      from: { path: exact([file]) },
      to: { path: folders(LAYERS.slice(0, layerOf(file))), pathNot: exact(allowed) },
    })),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    // Type-only imports count: a type cycle is a cycle.
    tsPreCompilationDeps: true,
    exclude: { path: '^(node_modules|dist)/' },
  },
};
