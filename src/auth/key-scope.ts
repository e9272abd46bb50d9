import type { ConnectionKey } from '../common/connection-key';
import { ForbiddenError } from '../common/errors';
import type { Product, ScopeRule } from '../config/config';
import type { AuthenticatedRequest } from '../logging/logger';

/**
 * What one scoped key of API_KEY_SCOPES may reach, compiled once at start-up: per product, a set
 * of exact accounts and a list of prefixes. A request then costs a Set lookup and a few
 * `startsWith` calls.
 */
export class KeyScope {
  private readonly exact = new Map<Product, Set<string>>();
  private readonly prefixes = new Map<Product, string[]>();

  constructor(readonly rules: readonly ScopeRule[]) {
    for (const rule of rules) {
      if (rule.prefix) {
        const list = this.prefixes.get(rule.product) ?? [];
        list.push(rule.account);
        this.prefixes.set(rule.product, list);
      } else {
        const set = this.exact.get(rule.product) ?? new Set();
        set.add(rule.account);
        this.exact.set(rule.product, set);
      }
    }
  }

  allows({ account, product }: ConnectionKey): boolean {
    if (this.exact.get(product)?.has(account)) return true;
    const prefixes = this.prefixes.get(product);
    if (prefixes) for (const prefix of prefixes) if (account.startsWith(prefix)) return true;
    return false;
  }

  /** As written in API_KEY_SCOPES, for the start-up log. */
  toString(): string {
    return this.rules
      .map((rule) => `${rule.product}:${rule.account}${rule.prefix ? '*' : ''}`)
      .join(',');
  }
}

/**
 * The one check of a key's scope, for every route that reaches a connection on a service key's
 * behalf (GET /tokens, POST /oauth/authorize-url, /proxy). ApiKeyGuard sets `apiKeyScope` on the
 * request; admin keys and keys not listed in API_KEY_SCOPES have none and reach everything.
 */
export function assertScope(caller: AuthenticatedRequest, key: ConnectionKey): void {
  const scope = caller.apiKeyScope;
  if (scope && !scope.allows(key)) {
    throw new ForbiddenError(
      `the API key "${caller.apiKeyName}" may not reach ${key.product}:${key.account} (API_KEY_SCOPES)`,
    );
  }
}
