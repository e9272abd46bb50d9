import type { Product } from '../config/config';

/** One connection: the caller's account × an RD product. */
export interface ConnectionKey {
  account: string;
  product: Product;
}

/** The key as one string, for maps, caches and lock names. */
export function connectionId({ product, account }: ConnectionKey): string {
  return `${product}:${account}`;
}
