import { execFileSync } from 'node:child_process';
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

const ROOT = join(__dirname, '..', '..');
const CLIENT = join(ROOT, 'client');

/** Runs a script in a separate Node process (outside jest's module system), as a service would. */
function node(args: string[], cwd = ROOT): string {
  return execFileSync(process.execPath, args, { cwd, encoding: 'utf8' }).trim();
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
