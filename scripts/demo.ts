/**
 * `npm run demo`: the broker on its embedded PostgreSQL plus a local fake RD Station, so a
 * newcomer can click through connect → token → refresh without RD credentials.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { FakeRdStation } from '../test/fake-rd/fake-rd';

const PORT = Number(process.env.PORT || 3000);
const FAKE_RD_PORT = Number(process.env.FAKE_RD_PORT || 4010);
const BROKER = `http://localhost:${PORT}`;
// Demo-only secrets: the broker runs on localhost against a fake RD.
const SERVICE_KEY = 'demo-service-key-0123456789abcdef0123456789';
const ADMIN_KEY = 'demo-admin-key-0123456789abcdef01234567890';
// Low enough to see the proxy's rate budget refuse a call from a shell loop.
const RATE_LIMIT = 10;
const DATA_DIR = process.env.DATA_DIR || './.data/demo';
// Step 7's account: connected by the demo itself, so no other step has spent its budget.
const BUDGET_ACCOUNT = 'demo-budget';

async function waitReady(url: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`${url}/health/ready`)).ok) return;
    } catch {
      // not yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`the broker did not become ready at ${url}`);
}

/**
 * Connects BUDGET_ACCOUNT without a browser: a grant made at the fake RD, imported into the
 * broker (PUT /connections) with its still-valid access token, so RD is not even called.
 */
async function connectBudgetAccount(rdUrl: string): Promise<void> {
  const issued = await fetch(`${rdUrl}/_fake/grants`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ product: 'crm', label: 'Demo budget account' }),
  });
  const grant = (await issued.json()) as {
    accessToken: string;
    refreshToken: string;
    expiresIn: number;
  };
  const imported = await fetch(`${BROKER}/connections/${BUDGET_ACCOUNT}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      product: 'crm',
      refreshToken: grant.refreshToken,
      accessToken: grant.accessToken,
      expiresAt: new Date(Date.now() + grant.expiresIn * 1000).toISOString(),
    }),
  });
  if (!imported.ok) throw new Error(`importing ${BUDGET_ACCOUNT} answered ${imported.status}`);
}

async function main(): Promise<void> {
  const fake = new FakeRdStation({
    // RD keeps its grants when the demo restarts on its kept DATA_DIR, and so does the fake:
    // without this, the broker's stored connections would name grants the fake has forgotten.
    stateFile: join(DATA_DIR, 'fake-rd-grants.json'),
    clients: {
      crm: {
        clientId: 'demo-crm-client',
        clientSecrets: ['demo-crm-secret'],
        redirectUris: [`${BROKER}/oauth/callback`],
      },
      marketing: {
        clientId: 'demo-marketing-client',
        clientSecrets: ['demo-marketing-secret'],
        redirectUris: [`${BROKER}/oauth/callback`],
      },
    },
  });
  const rdUrl = await fake.start(FAKE_RD_PORT);

  const broker = spawn(process.execPath, [join(__dirname, '..', 'dist', 'main.js')], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      PATH: process.env.PATH,
      PORT: String(PORT),
      PUBLIC_URL: BROKER,
      DATA_DIR,
      API_KEYS: `demo-service:${SERVICE_KEY}`,
      ADMIN_API_KEYS: `demo-admin:${ADMIN_KEY}`,
      RD_CRM_CLIENT_ID: 'demo-crm-client',
      RD_CRM_CLIENT_SECRET: 'demo-crm-secret',
      RD_MARKETING_CLIENT_ID: 'demo-marketing-client',
      RD_MARKETING_CLIENT_SECRET: 'demo-marketing-secret',
      RD_API_URL: rdUrl,
      RD_ACCOUNTS_URL: rdUrl,
      RD_RATE_LIMIT_PER_MINUTE: String(RATE_LIMIT),
      LOG_LEVEL: 'warn',
    },
  });
  let stopping = false;
  const stop = async () => {
    stopping = true;
    if (broker.exitCode === null) {
      const exited = new Promise((resolve) => broker.once('exit', resolve));
      broker.kill('SIGTERM');
      await exited;
    }
    await fake.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  broker.once('exit', (code) => {
    // Ctrl-C reaches the broker too (same process group): a clean exit is the normal way out.
    if (stopping) return;
    if (code === 0) return void stop();
    console.error(`the broker failed (exit code ${code}); stopping the demo`);
    void fake.stop().then(() => process.exit(1));
  });
  await waitReady(BROKER);
  await connectBudgetAccount(rdUrl);
  const kept =
    fake.loadedGrants > 0
      ? `\nKept from the last run (${DATA_DIR}): the broker's connections and the fake RD's ${fake.loadedGrants} grant(s), so\nwhat you connected before still works; delete ${DATA_DIR} to start afresh.\n`
      : '';

  const started = await fetch(`${BROKER}/oauth/authorize-url`, {
    method: 'POST',
    headers: { authorization: `Bearer ${SERVICE_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ account: 'demo-account', product: 'crm' }),
  });
  const { url } = (await started.json()) as { url: string };

  console.log(`
RD Station token broker demo: broker on ${BROKER}, fake RD Station on ${rdUrl}
Swagger UI: ${BROKER}/docs        (Ctrl-C stops everything)
${kept}
1. Connect: open this link in a browser and click "Authorize" (valid 10 minutes, once):
   ${url}
   (a new link: curl -s -X POST ${BROKER}/oauth/authorize-url -H 'Authorization: Bearer ${SERVICE_KEY}' -H 'content-type: application/json' -d '{"account":"demo-account","product":"crm"}')
   or a connect link to send a customer (valid 7 days, a page with a Connect button):
   curl -s -X POST ${BROKER}/connect-links -H 'Authorization: Bearer ${SERVICE_KEY}' -H 'content-type: application/json' -d '{"account":"demo-account","product":"crm"}'

2. Get a token, as an internal service would:
   curl -s '${BROKER}/tokens/demo-account?product=crm' -H 'Authorization: Bearer ${SERVICE_KEY}'
   or from TypeScript with the client (client/, cached, retried; in \`node\` started in this folder):
   const { BrokerClient } = require('./client');
   const broker = new BrokerClient({ baseUrl: '${BROKER}', apiKey: '${SERVICE_KEY}', product: 'crm' });
   await broker.withToken('demo-account', (token) => fetch('${rdUrl}/crm/v2/users', { headers: { authorization: 'Bearer ' + token } })).then((r) => r.json());

3. Force a refresh (admin key), then get the token again: it has changed, and so has the rolled refresh token:
   curl -s -X POST '${BROKER}/connections/demo-account/refresh?product=crm' -H 'Authorization: Bearer ${ADMIN_KEY}'

4. Inspect the connection (no token material), and the keys with their last use:
   curl -s ${BROKER}/connections/demo-account -H 'Authorization: Bearer ${ADMIN_KEY}'
   curl -s ${BROKER}/keys -H 'Authorization: Bearer ${ADMIN_KEY}'

5. Call RD's API through the broker (/proxy): it adds the account's token, and the fake RD echoes
   what it received (your API key and X-Account never reach it; the token is shown as a grant id):
   curl -s '${BROKER}/proxy/crm/v2/contacts?page=2' -H 'Authorization: Bearer ${SERVICE_KEY}' -H 'X-Account: demo-account' -H 'X-Product: crm'
   curl -s -X POST ${BROKER}/proxy/crm/v2/contacts -H 'Authorization: Bearer ${SERVICE_KEY}' -H 'X-Account: demo-account' -H 'X-Product: crm' -H 'content-type: application/json' -d '{"name":"Ana"}'

6. Make RD refuse the current token (as when RD invalidates it); the next proxied call gets RD's 401,
   refreshes once and retries, and you still get 200 (step 2 now shows a new token):
   TOKEN=$(curl -s '${BROKER}/tokens/demo-account?product=crm' -H 'Authorization: Bearer ${SERVICE_KEY}' | sed -E 's/.*"accessToken":"([^"]+)".*/\\1/')
   curl -s -X POST ${rdUrl}/_fake/access-tokens/$TOKEN/invalidate
   curl -s -i '${BROKER}/proxy/crm/v2/users' -H 'Authorization: Bearer ${SERVICE_KEY}' -H 'X-Account: demo-account' -H 'X-Product: crm'

7. The rate budget: RD_RATE_LIMIT_PER_MINUTE (${RATE_LIMIT} in this demo) calls a minute per account, shared
   by every replica. Past it the broker answers 429 with Retry-After and X-Broker-Error: rate_limited,
   without calling RD (a 429 without that header would be RD's own). The account ${BUDGET_ACCOUNT}, which
   the demo connected for this step, makes ${RATE_LIMIT + 2} calls: ${RATE_LIMIT} × 200, then 429 429 (run again within a
   minute, and the spent budget answers 429 sooner):
   for i in $(seq 1 ${RATE_LIMIT + 2}); do curl -s -o /dev/null -w '%{http_code} ' ${BROKER}/proxy/crm/v2/users -H 'Authorization: Bearer ${SERVICE_KEY}' -H 'X-Account: ${BUDGET_ACCOUNT}' -H 'X-Product: crm'; done; echo
   Refused paths (400 invalid_request, nothing contacted): curl -s --path-as-is '${BROKER}/proxy/crm/../_fake/calls' -H 'Authorization: Bearer ${SERVICE_KEY}' -H 'X-Account: demo-account'
`);
}

main().catch((error: unknown) => {
  console.error(`demo: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
