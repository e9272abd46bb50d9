/**
 * Runs the fake RD Station as a process (benchmark, demo): `npx tsx test/fake-rd/main.ts`.
 * Prints one line, `fake-rd listening on <url>`, and stops on SIGTERM/SIGINT.
 */
import { FakeRdStation, type ConsentMode, type FakeClient } from './fake-rd';

function list(value: string | undefined, fallback: string): string[] {
  return (value ?? fallback)
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}

function nonNegative(name: string, fallback: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(value) || value < 0)
    throw new Error(`${name} must be a non-negative number`);
  return value;
}

function client(prefix: string, id: string, secret: string, redirectUris: string[]): FakeClient {
  return {
    clientId: process.env[`${prefix}_CLIENT_ID`] || id,
    clientSecrets: list(process.env[`${prefix}_CLIENT_SECRET`] || undefined, secret),
    redirectUris,
  };
}

async function main(): Promise<void> {
  const env = process.env;
  const redirectUris = list(
    env.FAKE_RD_REDIRECT_URIS || undefined,
    'http://localhost:3000/oauth/callback',
  );
  const consent = (env.FAKE_RD_CONSENT || 'page') as ConsentMode;
  if (!['page', 'approve', 'deny'].includes(consent)) {
    throw new Error('FAKE_RD_CONSENT must be page, approve or deny');
  }
  const fake = new FakeRdStation({
    clients: {
      crm: client('FAKE_RD_CRM', 'demo-crm-client', 'demo-crm-secret', redirectUris),
      marketing: client(
        'FAKE_RD_MARKETING',
        'demo-marketing-client',
        'demo-marketing-secret',
        redirectUris,
      ),
    },
    latencyMs: nonNegative('FAKE_RD_LATENCY_MS', 0),
    consent,
  });
  const url = await fake.start(nonNegative('FAKE_RD_PORT', 4010), env.FAKE_RD_HOST || '127.0.0.1');
  console.log(`fake-rd listening on ${url}`);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    fake.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error: unknown) => {
  console.error(`fake-rd: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
