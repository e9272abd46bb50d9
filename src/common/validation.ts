import { PRODUCTS, type Product } from '../config/config';
import { InvalidRequestError } from './errors';

/** The caller's tenant id: 1–128 characters of `A-Z a-z 0-9 . _ : -` (README, "Using it from a service"). */
export const ACCOUNT_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/** `name`: what the caller wrote the account as (`account`, or the proxy's `X-Account` header). */
export function assertAccount(account: unknown, name = 'account'): string {
  if (account === undefined || account === '') {
    throw new InvalidRequestError(`${name} is required: 1-128 characters of A-Z a-z 0-9 . _ : -`);
  }
  if (typeof account !== 'string' || !ACCOUNT_PATTERN.test(account)) {
    throw new InvalidRequestError(`${name} must be 1-128 characters of A-Z a-z 0-9 . _ : -`);
  }
  return account;
}

/**
 * `product` may be left out when exactly one product is configured (`enabled`, productsConfig);
 * `name` as for assertAccount.
 */
export function resolveProduct(
  enabled: readonly Product[],
  product: unknown,
  name = 'product',
): Product {
  if (product === undefined || product === '') {
    if (enabled.length === 1) return enabled[0];
    throw new InvalidRequestError(`${name} is required: one of ${enabled.join(', ')}`);
  }
  if (typeof product !== 'string' || !PRODUCTS.includes(product as Product)) {
    throw new InvalidRequestError(`${name} must be crm or marketing`);
  }
  if (!enabled.includes(product as Product)) {
    throw new InvalidRequestError(`${name} ${product} is not configured on this broker`);
  }
  return product as Product;
}
