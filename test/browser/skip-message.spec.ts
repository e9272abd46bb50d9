import { execFile } from 'node:child_process';
import { mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const ROOT = join(__dirname, '..', '..');

describe('the browser suite without Chromium', () => {
  it('says why it is skipped, in a run of several files (jest shows no console of a skipped file)', async () => {
    // A developer's machine: no CI, no CHROMIUM_PATH, nothing but Node on PATH (a folder of its
    // own: Node's may be /usr/bin, beside a chromium).
    const bin = mkdtempSync(join(tmpdir(), 'node-only-'));
    symlinkSync(process.execPath, join(bin, 'node'));
    const env: Record<string, string> = { PATH: bin };
    if (process.env.TEST_SERVER_URL) env.DATABASE_URL = process.env.TEST_SERVER_URL;
    const run = await promisify(execFile)(
      process.execPath,
      [
        join(ROOT, 'node_modules', 'jest', 'bin', 'jest.js'),
        '--runInBand',
        'test/browser/connect.spec.ts',
        'test/unit/refresh-policy.spec.ts',
      ],
      { cwd: ROOT, env, encoding: 'utf8' },
    );
    expect(run.stderr).toContain(
      'test/browser/connect.spec.ts skipped: no Chromium: set CHROMIUM_PATH or put chromium on PATH',
    );
    expect(run.stderr).toMatch(/Test Suites: 1 skipped, 1 passed/);
  }, 120_000);
});
