import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from '../support/process';

const ROOT = join(__dirname, '..', '..');
const SERVICE_KEY = 'demo-service-key-0123456789abcdef0123456789';
const ADMIN_KEY = 'demo-admin-key-0123456789abcdef01234567890';

interface Demo {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

/** `npm run demo` as a newcomer runs it (after the build), on the given data directory. */
function startDemo(dataDir: string, port: number, fakeRdPort: number): Demo {
  const child = spawn(process.execPath, [require.resolve('tsx/cli'), 'scripts/demo.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      FAKE_RD_PORT: String(fakeRdPort),
      DATA_DIR: dataDir,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { child, output: () => output, exited };
}

async function stopDemo(demo: Demo): Promise<void> {
  if (demo.child.exitCode !== null) return;
  demo.child.kill('SIGINT');
  expect(await demo.exited).toBe(0);
}

function proxied(broker: string, account: string): Promise<Response> {
  return fetch(`${broker}/proxy/crm/v2/users`, {
    headers: { authorization: `Bearer ${SERVICE_KEY}`, 'x-account': account, 'x-product': 'crm' },
  });
}

describe('npm run demo', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'broker-demo-'));
  let demo: Demo | undefined;

  afterEach(async () => {
    if (demo) await stopDemo(demo);
    demo = undefined;
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('prints what its budget step shows, and still serves its connections after a restart', async () => {
    const port = await freePort();
    const fakeRdPort = await freePort();
    const broker = `http://localhost:${port}`;
    demo = startDemo(dataDir, port, fakeRdPort);
    await waitFor(async () => (demo!.output().includes('7. The rate budget') ? true : undefined), {
      timeoutMs: 90_000,
      what: 'the demo walk-through',
    });
    expect(demo.output()).not.toContain('Kept from the last run');
    expect(demo.output()).toContain('10 × 200, then 429 429');

    // Step 1, as the browser would: the printed consent link, "Authorize", the callback.
    const consentUrl = /1\. Connect:.*\n\s+(\S+)/.exec(demo.output())![1];
    const consent = await fetch(consentUrl, {
      method: 'POST',
      body: new URLSearchParams({ decision: 'approve' }),
      redirect: 'manual',
    });
    expect((await fetch(consent.headers.get('location')!, { redirect: 'manual' })).status).toBe(
      200,
    );
    expect((await proxied(broker, 'demo-account')).status).toBe(200);

    // Step 7, the loop it prints: ten 200s, then the budget's 429s.
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await proxied(broker, 'demo-budget')).status);
    expect(statuses).toEqual([...Array(10).fill(200), 429, 429]);

    // Restarted on the kept data directory: the fake RD still knows the grant the broker holds.
    await stopDemo(demo);
    demo = startDemo(dataDir, port, fakeRdPort);
    await waitFor(async () => (demo!.output().includes('7. The rate budget') ? true : undefined), {
      timeoutMs: 90_000,
      what: 'the restarted demo',
    });
    expect(demo.output()).toMatch(
      /Kept from the last run .*: the broker's connections and the fake RD's \d+ grant/,
    );
    expect((await proxied(broker, 'demo-account')).status).toBe(200);
    const refreshed = await fetch(`${broker}/connections/demo-account/refresh?product=crm`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    });
    expect(refreshed.status).toBe(200);
    expect(await refreshed.json()).toMatchObject({ status: 'active' });
  }, 240_000);
});
