/**
 * The folders of src/ in one direction (README, "Development"): a folder imports only folders of
 * its own layer or below, and no file imports itself round a cycle. `npm run lint` runs it.
 *
 *   1. entry points     src/*.ts (main, app, root module, swagger), scheduler, health, proxy,
 *                       http (server limits, the error filter)
 *   2. features         tokens, oauth, history
 *   3. domain           connections (ConnectionLifecycle, the refresher, the admin service)
 *   4. events           the outbox and its webhook delivery
 *   5. stores, clients  refresh (lock, guard, policy), links, rdstation, crypto, database (the
 *                       data source, migrations, the connection entity),
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

const folders = (layers) => `^src/(${layers.flat().join('|')})(/|$)`;

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
      from: { path: folders(LAYERS.slice(i + 1)) },
      to: { path: folders([layer]) },
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
