/** The package's entry point: `require('@rdstation-broker/client')` or `import` gives these. */
export { BrokerClient } from './broker-client';
export type { BrokerClientOptions, BrokerToken, Product, TokenOptions } from './broker-client';
export { BrokerError } from './broker-error';
export { rejectedTokenHash } from './token-hash';
export type { components, operations, paths } from './openapi';
