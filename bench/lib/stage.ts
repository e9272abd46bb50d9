/**
 * What every bench mode starts from: the build under test snapshotted, a database (lib/database.ts)
 * with the broker's migrations and no one else's connections, the fake RD Station, fresh secrets.
 */
import { provideDatabase, type Database } from './database';
import type { Child } from './processes';
import { prepareTable } from './seed';
import { migrate, newSecrets, snapshotBrokerBuild, startFakeRd, type Secrets } from './services';
import { step } from './step';

export interface Stage {
  database: Database;
  fake: Child;
  secrets: Secrets;
}

export async function setUpStage(): Promise<Stage> {
  snapshotBrokerBuild();
  const database = await provideDatabase();
  step(`PostgreSQL: ${database.origin}`);
  const fake = await startFakeRd(0);
  const secrets = newSecrets();
  await migrate(database.url, fake, secrets);
  await prepareTable(database.url);
  return { database, fake, secrets };
}
