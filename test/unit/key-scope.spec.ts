import { describeKeys } from '../../src/auth/api-key.guard';
import { assertScope, KeyScope } from '../../src/auth/key-scope';
import { ForbiddenError } from '../../src/common/errors';
import { loadConfig } from '../../src/config/config';
import { authConfig } from '../../src/config/slices';
import { testEnv } from '../support/broker';

describe('KeyScope', () => {
  const scope = new KeyScope([
    { product: 'marketing', account: 'acme-', prefix: true },
    { product: 'crm', account: 'acme-1', prefix: false },
    { product: 'crm', account: 'zeta', prefix: true },
  ]);

  it.each([
    ['marketing', 'acme-1', true],
    ['marketing', 'acme-', true],
    ['marketing', 'acme', false],
    ['marketing', 'xacme-1', false],
    ['crm', 'acme-1', true],
    ['crm', 'acme-10', false],
    ['crm', 'zeta', true],
    ['crm', 'zeta:9', true],
    ['crm', 'acme-2', false],
  ] as const)('%s:%s → %s', (product, account, allowed) => {
    expect(scope.allows({ product, account })).toBe(allowed);
  });

  it('lets every account through `product:*` and none of the other product', () => {
    const all = new KeyScope([{ product: 'crm', account: '', prefix: true }]);
    expect(all.allows({ product: 'crm', account: 'anything' })).toBe(true);
    expect(all.allows({ product: 'marketing', account: 'anything' })).toBe(false);
  });

  it('assertScope refuses with forbidden, and lets unscoped callers through', () => {
    expect(() =>
      assertScope(
        { apiKeyName: 'sync', apiKeyScope: scope },
        { product: 'crm', account: 'x' },
        'read',
      ),
    ).toThrow(ForbiddenError);
    expect(() =>
      assertScope({ apiKeyName: 'svc' }, { product: 'crm', account: 'x' }, 'connect'),
    ).not.toThrow();
  });

  it('allows every action by default, and only the listed ones after @', () => {
    expect(['read', 'proxy', 'connect'].every((a) => scope.permits(a as 'read'))).toBe(true);
    const reader = new KeyScope(
      [{ product: 'crm', account: 'acme-', prefix: true }],
      ['read', 'proxy'],
    );
    const caller = { apiKeyName: 'reader', apiKeyScope: reader };
    const key = { product: 'crm', account: 'acme-1' } as const;
    expect(() => assertScope(caller, key, 'read')).not.toThrow();
    expect(() => assertScope(caller, key, 'proxy')).not.toThrow();
    expect(() => assertScope(caller, key, 'connect')).toThrow(
      'the API key "reader" may not start a connection (action connect) (API_KEY_SCOPES)',
    );
    // The account is checked first: out of reach says so, whatever the action.
    expect(() => assertScope(caller, { product: 'crm', account: 'zeta' }, 'connect')).toThrow(
      'may not reach crm:zeta',
    );
    expect(reader.toString()).toBe('crm:acme-*@read,proxy');
  });

  it('describes every key for the start-up log by name and scope, never its secret', () => {
    const secret = 's'.repeat(40);
    const config = loadConfig(
      testEnv({
        API_KEYS: `svc:${secret},sync:${'y'.repeat(40)},bi:${'b'.repeat(40)}`,
        API_KEY_SCOPES: 'sync=marketing:acme-*,crm:acme-1; bi=crm:*@read',
      }),
    );
    const lines = describeKeys(authConfig(config));
    expect(lines).toEqual([
      'API key "svc": every account',
      'API key "sync": only marketing:acme-*,crm:acme-1',
      'API key "bi": only crm:*@read',
      'admin key "ops": every account and admin routes',
    ]);
    expect(lines.join('\n')).not.toContain(secret);
  });
});
