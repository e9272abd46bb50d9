import type { ConnectionKey } from '../common/connection-key';
import { ForbiddenError } from '../common/errors';
import type { KeyAction, Product, ScopeRule } from '../config/config';

/**
 * What one scoped key of API_KEY_SCOPES may reach and do, compiled once at start-up: per product,
 * a set of exact accounts and a list of prefixes, and the actions allowed there. A request then
 * costs a Set lookup and a few `startsWith` calls.
 */
export class KeyScope {
  private readonly exact = new Map<Product, Set<string>>();
  private readonly prefixes = new Map<Product, string[]>();

  private readonly actions: ReadonlySet<KeyAction>;

  constructor(
    readonly rules: readonly ScopeRule[],
    actions: readonly KeyAction[] = ['read', 'proxy', 'connect'],
  ) {
    this.actions = new Set(actions);
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

  permits(action: KeyAction): boolean {
    return this.actions.has(action);
  }

  /** As written in API_KEY_SCOPES, for the start-up log and GET /keys. */
  toString(): string {
    const rules = this.rules
      .map((rule) => `${rule.product}:${rule.account}${rule.prefix ? '*' : ''}`)
      .join(',');
    return this.actions.size === 3 ? rules : `${rules}@${[...this.actions].join(',')}`;
  }
}

/**
 * The one check of a key's scope, for every route that reaches a connection on a service key's
 * behalf: `read` (GET /tokens), `proxy` (/proxy), `connect` (POST /oauth/authorize-url, POST
 * /connect-links). ApiKeyGuard sets `apiKeyScope` on the request; admin keys and keys not listed
 * in API_KEY_SCOPES have none and reach everything.
 */
export function assertScope(
  // What ApiKeyGuard set on the request (logging/logger.ts's AuthenticatedRequest); written out
  // here so auth needs nothing from logging, which names the caller from the same fields.
  caller: { apiKeyName?: string; apiKeyScope?: KeyScope },
  key: ConnectionKey,
  action: KeyAction,
): void {
  const scope = caller.apiKeyScope;
  if (!scope) return;
  if (!scope.allows(key)) {
    throw new ForbiddenError(
      `the API key "${caller.apiKeyName}" may not reach ${key.product}:${key.account} (API_KEY_SCOPES)`,
    );
  }
  if (!scope.permits(action)) {
    throw new ForbiddenError(
      `the API key "${caller.apiKeyName}" may not ${ACTION_VERBS[action]} (API_KEY_SCOPES)`,
    );
  }
}

const ACTION_VERBS: Record<KeyAction, string> = {
  read: 'read tokens (action read)',
  proxy: 'call RD through /proxy (action proxy)',
  connect: 'start a connection (action connect)',
};
