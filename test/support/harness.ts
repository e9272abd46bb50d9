import { FakeRdStation } from '../fake-rd/fake-rd';
import { ADMIN_KEY, SERVICE_KEY, startBroker, type TestBroker } from './broker';
import { createTestDatabase, type TestDatabase } from './database';
import { freePort } from './process';

export interface Harness {
  db: TestDatabase;
  rd: FakeRdStation;
  /** The first broker; `brokers` holds all of them (replicas on one database and one fake RD). */
  broker: TestBroker;
  brokers: TestBroker[];
  close(): Promise<void>;
}

export const auth = { service: `Bearer ${SERVICE_KEY}`, admin: `Bearer ${ADMIN_KEY}` };

/**
 * A fresh database with the migrations, a fake RD Station, and `replicas` brokers on them. Every
 * broker has its own port but they share PUBLIC_URL's redirect URI registration at the fake.
 */
export async function createHarness(
  options: {
    replicas?: number;
    env?: Record<string, string>;
    rd?: ConstructorParameters<typeof FakeRdStation>[0];
    /** The DATABASE_URL the brokers get for the test database's URL (e.g. through a pooler). */
    databaseUrl?: (url: string) => string;
  } = {},
): Promise<Harness> {
  const ports = await Promise.all(Array.from({ length: options.replicas ?? 1 }, () => freePort()));
  const redirectUris = ports.map((port) => `http://127.0.0.1:${port}/oauth/callback`);
  const rd = new FakeRdStation({
    clients: {
      crm: { clientId: 'crm-client', clientSecrets: ['crm-secret'], redirectUris },
      marketing: { clientId: 'mkt-client', clientSecrets: ['mkt-secret'], redirectUris },
    },
    ...options.rd,
  });
  const rdUrl = await rd.start();
  const db = await createTestDatabase();
  const brokers: TestBroker[] = [];
  for (const port of ports) {
    brokers.push(
      await startBroker(options.databaseUrl?.(db.url) ?? db.url, {
        PORT: String(port),
        PUBLIC_URL: `http://127.0.0.1:${port}`,
        RD_API_URL: rdUrl,
        RD_ACCOUNTS_URL: rdUrl,
        RD_TIMEOUT_MS: '2000',
        // LISTEN on the test database itself: instant invalidation across replicas, as before
        // polling existed (test/production/ covers the set-ups without it).
        DATABASE_DIRECT_URL: db.url,
        ...options.env,
      }),
    );
  }
  return {
    db,
    rd,
    broker: brokers[0],
    brokers,
    close: async () => {
      await Promise.all(brokers.map((b) => b.close()));
      await rd.stop();
      await db.drop();
    },
  };
}

/** Walks a connect through the real routes: authorize-url → fake consent (approve) → callback. */
export async function connect(
  harness: { broker: Pick<TestBroker, 'url'> },
  account: string,
  product: 'crm' | 'marketing',
  broker: Pick<TestBroker, 'url'> = harness.broker,
): Promise<Response> {
  const started = await fetch(`${broker.url}/oauth/authorize-url`, {
    method: 'POST',
    headers: { authorization: auth.service, 'content-type': 'application/json' },
    body: JSON.stringify({ account, product }),
  });
  if (started.status !== 201) throw new Error(`authorize-url answered ${started.status}`);
  const { url } = (await started.json()) as { url: string };
  const consent = await fetch(url, {
    method: 'POST',
    body: new URLSearchParams({ decision: 'approve' }),
    redirect: 'manual',
  });
  const callback = consent.headers.get('location');
  if (!callback) throw new Error(`consent answered ${consent.status} without a redirect`);
  return fetch(callback, { redirect: 'manual' });
}

export async function connectionRow(db: TestDatabase, account: string, product: string) {
  const rows = await db.dataSource.query(
    `SELECT * FROM connections WHERE account = $1 AND product = $2`,
    [account, product],
  );
  return rows[0] as Record<string, unknown> | undefined;
}
