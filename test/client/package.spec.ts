import { execFile, execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { startTinyServer } from '../support/tiny-server';

const ROOT = join(__dirname, '..', '..');
const CLIENT = join(ROOT, 'client');

/** Runs a script in a separate Node process (outside jest's module system), as a service would. */
function node(args: string[], cwd = ROOT): string {
  return execFileSync(process.execPath, args, { cwd, encoding: 'utf8' }).trim();
}

/** npm: the one running this test (npm test), else the one on PATH; offline, quiet. */
function npm(args: string[], cwd: string): string {
  const cli = process.env.npm_execpath;
  const [command, prefix] =
    cli && /npm-cli\.js$/.test(cli) ? [process.execPath, [cli]] : ['npm', [] as string[]];
  return execFileSync(command, [...prefix, ...args], {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    // No registry is needed (the package has no dependencies): fail rather than reach one.
    env: {
      ...process.env,
      npm_config_offline: 'true',
      npm_config_audit: 'false',
      npm_config_fund: 'false',
    },
  }).trim();
}

describe('the client package (client/)', () => {
  it('is its own package with no runtime dependencies, built by `npm run build` into client/dist', () => {
    const manifest = JSON.parse(readFileSync(join(CLIENT, 'package.json'), 'utf8'));
    expect(manifest).toMatchObject({
      name: '@rdstation-broker/client',
      main: 'dist/index.js',
      types: 'dist/index.d.ts',
    });
    expect(manifest.dependencies ?? {}).toEqual({});
    const root = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(root.scripts.build).toContain('tsc -p client/tsconfig.json');
    expect(existsSync(join(CLIENT, 'dist', 'index.js'))).toBe(true);
    const declarations = readFileSync(join(CLIENT, 'dist', 'index.d.ts'), 'utf8');
    expect(declarations).toContain('BrokerClient');
    expect(readFileSync(join(CLIENT, 'dist', 'broker-client.d.ts'), 'utf8')).toContain(
      'getToken(account: string',
    );
  });

  it('is publishable: not private, versioned, its own README, files, exports with types, a prepack build', () => {
    const manifest = JSON.parse(readFileSync(join(CLIENT, 'package.json'), 'utf8'));
    expect(manifest.private).toBeUndefined();
    expect(manifest.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(manifest.files).toEqual(expect.arrayContaining(['dist']));
    expect(manifest.exports['.']).toEqual({
      types: './dist/index.d.ts',
      default: './dist/index.js',
    });
    expect(manifest.scripts.prepack).toContain('tsc');
    expect(readFileSync(join(CLIENT, 'README.md'), 'utf8')).toContain('npm pack');
  });

  it('packs into a tarball that an empty project installs, type-checks against and calls', async () => {
    const work = mkdtempSync(join(tmpdir(), 'client-pack-'));
    const broker = await startTinyServer((request, response) => {
      response.setHeader('content-type', 'application/json');
      response.end(
        JSON.stringify({
          account: 'acme-42',
          product: 'crm',
          accessToken: `token-for-${request.headers.authorization}`,
          tokenType: 'Bearer',
          expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
          expiresIn: 3600,
        }),
      );
    });
    try {
      const packed = JSON.parse(npm(['pack', '--json', '--pack-destination', work], CLIENT)) as {
        filename: string;
        files: { path: string }[];
      }[];
      const files = packed[0].files.map((file) => file.path);
      expect(files).toEqual(
        expect.arrayContaining(['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts']),
      );
      expect(files.filter((file) => !/^(dist\/|package\.json$|README\.md$)/.test(file))).toEqual(
        [],
      );

      const app = join(work, 'service');
      mkdirSync(app);
      writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'service', private: true }));
      npm(['install', join(work, packed[0].filename)], app);
      const installed = JSON.parse(
        readFileSync(join(app, 'node_modules/@rdstation-broker/client/package.json'), 'utf8'),
      );
      expect(installed.version).toBe(packed[0].filename.match(/-(\d[^-]*)\.tgz$/)![1]);

      // The types resolve through `exports` as a TypeScript service (nodenext) would see them.
      writeFileSync(
        join(app, 'check.ts'),
        `import { BrokerClient, BrokerError, type BrokerToken } from '@rdstation-broker/client';
         const client = new BrokerClient({ baseUrl: 'http://broker', apiKey: 'k', product: 'crm' });
         const token: Promise<BrokerToken> = client.getToken('acme-42', { minValidity: 60 });
         const code: string = new BrokerError({ code: 'not_connected', status: 404, message: 'm', requestId: 'r' }).code;
         // @ts-expect-error: an unknown option is refused
         new BrokerClient({ baseUrl: 'http://broker', apiKey: 'k', nope: 1 });
         void token; void code;`,
      );
      const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
      const typeCheck = spawnSync(
        process.execPath,
        [
          tsc,
          '--noEmit',
          '--strict',
          '--module',
          'nodenext',
          '--moduleResolution',
          'nodenext',
          '--types',
          'node',
          '--typeRoots',
          join(ROOT, 'node_modules', '@types'),
          'check.ts',
        ],
        { cwd: app, encoding: 'utf8' },
      );
      expect({ status: typeCheck.status, output: typeCheck.stdout }).toEqual({
        status: 0,
        output: '',
      });

      writeFileSync(
        join(app, 'main.js'),
        `const { BrokerClient } = require('@rdstation-broker/client');
         const client = new BrokerClient({ baseUrl: process.argv[2], apiKey: 'svc-key', product: 'crm' });
         client.getToken('acme-42').then((token) => console.log(token.account, token.accessToken));`,
      );
      // Asynchronously: the stand-in broker answers from this process's event loop.
      const run = await promisify(execFile)(process.execPath, ['main.js', broker.url], {
        cwd: app,
      });
      expect(run.stdout.trim()).toBe('acme-42 token-for-Bearer svc-key');
      expect(broker.requests.map((request) => request.path)).toEqual(['/tokens/acme-42']);
    } finally {
      await broker.close();
      rmSync(work, { recursive: true, force: true });
    }
  }, 60_000);

  it("gives { BrokerClient, BrokerError } to require('<repo>/client')", () => {
    const script = `
      const { BrokerClient, BrokerError } = require(${JSON.stringify(CLIENT)});
      const client = new BrokerClient({ baseUrl: 'http://127.0.0.1:1', apiKey: 'k' });
      const error = new BrokerError({ code: 'not_connected', status: 404, message: 'm', requestId: 'r' });
      console.log([typeof client.getToken, typeof client.withToken, typeof client.fetch,
        error instanceof Error, error.code].join(' '));`;
    expect(node(['-e', script])).toBe('function function function true not_connected');
  });

  it('can be imported from an ES module, by package name and by path', () => {
    const app = mkdtempSync(join(tmpdir(), 'client-esm-'));
    try {
      mkdirSync(join(app, 'node_modules', '@rdstation-broker'), { recursive: true });
      symlinkSync(CLIENT, join(app, 'node_modules', '@rdstation-broker', 'client'), 'dir');
      writeFileSync(
        join(app, 'main.mjs'),
        `import { BrokerClient, BrokerError } from '@rdstation-broker/client';
         import * as byPath from ${JSON.stringify(pathToFileURL(join(CLIENT, 'dist', 'index.js')).href)};
         console.log(typeof BrokerClient, typeof BrokerError, byPath.BrokerClient === BrokerClient);`,
      );
      expect(node(['main.mjs'], app)).toBe('function function true');
    } finally {
      rmSync(app, { recursive: true, force: true });
    }
  });
});
