import { testEnv } from './broker';
import { freePort, spawnBroker, waitFor, type BrokerProcess } from './process';

/**
 * `node dist/main.js` on a free port, resolved once /health/ready answers 200. Fails at once,
 * with the process's output, if it exits first (instead of waiting out the timeout).
 */
export async function startBrokerProcess(
  overrides: Record<string, string>,
  { timeoutMs = 60_000 }: { timeoutMs?: number } = {},
): Promise<BrokerProcess> {
  const port = overrides.PORT ?? String(await freePort());
  const broker = spawnBroker(
    testEnv({ PORT: port, PUBLIC_URL: `http://127.0.0.1:${port}`, ...overrides }),
  );
  let exited = false;
  const ready = waitFor(
    async () => {
      if (exited) return false;
      return (await fetch(`${broker.url}/health/ready`)).status === 200 ? true : undefined;
    },
    { timeoutMs, what: `${broker.url}/health/ready` },
  );
  const outcome = await Promise.race([
    ready.catch((error: Error) => error.message),
    broker.exited.then((code) => {
      exited = true;
      return `exited with ${code}`;
    }),
  ]);
  if (outcome !== true) {
    broker.child.kill('SIGKILL');
    throw new Error(
      `broker process not ready (${String(outcome)}):\n${broker.output().slice(-4000)}`,
    );
  }
  return broker;
}
