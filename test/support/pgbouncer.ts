import { spawn, type ChildProcess, execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { freePort, waitFor } from './process';

export interface PgBouncer {
  /** `serverUrl` with PgBouncer's host and port: the same database, through the pooler. */
  url: string;
  output(): string;
  stop(): Promise<void>;
}

function runningAsRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * Debian's PgBouncer (1.18 in CI) in transaction pooling mode with its stock settings, in front
 * of the database of `serverUrl`: only the listening address, the pool mode and where its files
 * go are set. Clients are trusted; PgBouncer logs in to the server with the URL's own user and
 * password (so a server with password authentication works too). It refuses to run as root: as
 * root it runs as OS user postgres.
 */
export async function startPgBouncer(serverUrl: string): Promise<PgBouncer> {
  const server = new URL(serverUrl);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'pgbouncer-'));
  chmodSync(dir, 0o777);
  const user = decodeURIComponent(server.username || 'postgres');
  // The URL's password, else libpq's PGPASSWORD (as node-postgres itself falls back to it).
  const password = decodeURIComponent(server.password) || process.env.PGPASSWORD || '';
  const credentials = `user=${user}` + (password ? ` password=${password}` : '');
  writeFileSync(join(dir, 'userlist.txt'), `"${user}" ""\n`);
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `* = host=${server.hostname} port=${server.port || 5432} ${credentials}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${join(dir, 'userlist.txt')}`,
      'pool_mode = transaction',
      `pidfile = ${join(dir, 'pgbouncer.pid')}`,
      '',
    ].join('\n'),
  );
  if (runningAsRoot()) execFileSync('chown', ['-R', 'postgres', dir]);
  const args = runningAsRoot()
    ? ['-u', 'postgres', join(dir, 'pgbouncer.ini')]
    : [join(dir, 'pgbouncer.ini')];
  const child: ChildProcess = spawn('pgbouncer', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = new URL(serverUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`pgbouncer exited:\n${output}`);
      const client = new Client({ connectionString: url.toString() });
      try {
        await client.connect();
        await client.query('SELECT 1');
        return true;
      } catch {
        return undefined;
      } finally {
        await client.end().catch(() => undefined);
      }
    },
    { timeoutMs: 10_000, what: 'pgbouncer to accept connections' },
  );
  return {
    url: url.toString(),
    output: () => output,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGINT');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
