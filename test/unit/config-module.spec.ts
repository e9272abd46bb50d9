import { Test } from '@nestjs/testing';
import { loadConfig } from '../../src/config/config';
import { brokerConfigModule } from '../../src/config/config.module';
import {
  authConfig,
  CONFIG_SLICES,
  cryptoConfig,
  eventsConfig,
  rdstationConfig,
  tokensConfig,
} from '../../src/config/slices';
import { ADMIN_KEY, SERVICE_KEY, testEnv } from '../support/broker';

async function nestWith(config: ReturnType<typeof loadConfig>) {
  return Test.createTestingModule({ imports: [await brokerConfigModule(config)] }).compile();
}

describe('brokerConfigModule (@nestjs/config)', () => {
  it("hands Nest every slice under its KEY, cut from this broker's configuration", async () => {
    const config = loadConfig(testEnv({ TOKEN_CACHE_MAX: '7' }));
    const nest = await nestWith(config);
    for (const slice of CONFIG_SLICES) expect(nest.get(slice.KEY)).toEqual(slice(config));
    expect(nest.get(tokensConfig.KEY)).toMatchObject({ cacheMax: 7 });
    await nest.close();
  });

  it('keeps two brokers of one process apart, and neither reads or writes process.env', async () => {
    const environment = { ...process.env };
    process.env.TOKEN_CACHE_MAX = '3';
    try {
      const one = await nestWith(loadConfig(testEnv({ TOKEN_CACHE_MAX: '1' })));
      const two = await nestWith(loadConfig(testEnv({ TOKEN_CACHE_MAX: '2' })));
      expect(one.get(tokensConfig.KEY)).toMatchObject({ cacheMax: 1 });
      expect(two.get(tokensConfig.KEY)).toMatchObject({ cacheMax: 2 });
      await Promise.all([one.close(), two.close()]);
      expect(process.env).toEqual({ ...environment, TOKEN_CACHE_MAX: '3' });
    } finally {
      process.env = environment;
    }
  });

  it('puts each secret only in the slices of the classes that use it', () => {
    const config = loadConfig(
      testEnv({ RD_CRM_CLIENT_SECRET: 'crm-secret-value', EVENTS_WEBHOOK_SECRET: 'w'.repeat(20) }),
    );
    // In the forms the slices hold them: API key secrets, client secrets, key bytes, webhook key.
    const secrets = [
      [SERVICE_KEY, [authConfig]],
      [ADMIN_KEY, [authConfig]],
      ['crm-secret-value', [rdstationConfig]],
      [config.encryption.current.key.toString('base64'), [cryptoConfig]],
      ['w'.repeat(20), [eventsConfig]],
    ] as const;
    const shown = (value: unknown) =>
      JSON.stringify(value, function (this: Record<string, unknown>, key: string, v: unknown) {
        const raw = this[key]; // before Buffer's toJSON
        return Buffer.isBuffer(raw) ? raw.toString('base64') : raw instanceof Map ? [...raw] : v;
      });
    for (const slice of CONFIG_SLICES) {
      const text = shown(slice(config));
      for (const [secret, holders] of secrets) {
        const holds = (holders as readonly unknown[]).includes(slice);
        expect([slice.KEY, text.includes(secret)]).toEqual([slice.KEY, holds]);
      }
    }
  });
});
