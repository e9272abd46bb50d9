/**
 * The stage of the proxy's probes (idle-cpu.ts, syscalls-per-call.ts): a broker over 100 seeded
 * accounts with the budget on but never refusing, and L3 given their tokens, the fake's own
 * per-account limit lifted.
 */
import type { Child } from './processes';
import { readTokens } from './proxy';
import { accountNames, seedConnections, verifySeed } from './seed';
import { fakeControl, startBroker, startUndiciProxy } from './services';
import type { Stage } from './stage';

export interface ProxyStage {
  broker: Child;
  l3: Child;
  accounts: string[];
}

export async function proxyStage(
  { database, fake, secrets }: Stage,
  name: string,
): Promise<ProxyStage> {
  const accounts = accountNames(100);
  const broker = await startBroker(database.url, fake, secrets, {
    name,
    scheduler: false,
    env: { RD_RATE_LIMIT_PER_MINUTE: '100000' },
  });
  await seedConnections(fake, broker, secrets.adminKey, accounts);
  await verifySeed(database.url, accounts);
  const tokens = await readTokens(broker, secrets.apiKey, accounts);
  await fakeControl(fake, '/_fake/config', { apiRateLimitPerMinute: 1e12 });
  const l3 = await startUndiciProxy(fake.url, tokens);
  return { broker, l3, accounts };
}
