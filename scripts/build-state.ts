/**
 * Whether dist/ is a complete build of the current sources, so `npm start`, `npm test` and
 * `npm run demo` build only when something changed.
 *
 *   tsx scripts/build-state.ts start             empties dist/ and marks a build as begun
 *   tsx scripts/build-state.ts finish            marks that build complete (last step of `npm run build`)
 *   tsx scripts/build-state.ts build-if-changed  runs `npm run build` unless dist/ is up to date
 *
 * The mark's time is the moment the build began, so a file saved while tsc was running still
 * counts as changed; a failed build leaves no mark, so the next run builds again.
 */
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..');
const DIST = join(ROOT, 'dist');
const STARTED = join(DIST, '.build-started');
const COMPLETE = join(DIST, '.build-complete');
const CLIENT_DIST = join(ROOT, 'client', 'dist');

/** What the build reads: sources, migrations, the generators in scripts/, and the build settings. */
const INPUTS = ['src', 'migrations', 'scripts', 'client', 'package.json', 'package-lock.json'];
const SKIPPED_DIRECTORIES = new Set(['node_modules', 'dist']);

/** The newest modification time under `path` (a file or a directory), 0 when it does not exist. */
function newestMtime(path: string): number {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs; // a deleted file changes its directory's time
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    if (entry.isDirectory() && SKIPPED_DIRECTORIES.has(entry.name)) continue;
    newest = Math.max(newest, newestMtime(join(path, entry.name)));
  }
  return newest;
}

function tsconfigs(): string[] {
  return readdirSync(ROOT).filter((name) => /^tsconfig.*\.json$/.test(name));
}

/** Why dist/ needs a build, or undefined when it is up to date. */
export function staleReason(): string | undefined {
  if (!existsSync(COMPLETE)) return 'no complete build in dist/';
  const built = statSync(COMPLETE).mtimeMs;
  const changed = [...INPUTS, ...tsconfigs()].find(
    (input) => newestMtime(join(ROOT, input)) > built,
  );
  return changed ? `${changed} changed since the last build` : undefined;
}

function main(command: string | undefined): void {
  switch (command) {
    case 'start':
      rmSync(DIST, { recursive: true, force: true });
      mkdirSync(DIST, { recursive: true });
      // The client's output directory sits inside an input: made before the mark, its first
      // creation does not look like a change of client/ to the next build-if-changed.
      mkdirSync(CLIENT_DIST, { recursive: true });
      writeFileSync(STARTED, '');
      return;
    case 'finish':
      if (!existsSync(STARTED)) throw new Error('build-state: finish without start');
      renameSync(STARTED, COMPLETE); // keeps the mark's time: when the build began
      return;
    case 'build-if-changed': {
      const reason = staleReason();
      if (!reason) {
        console.log('build: dist/ is up to date');
        return;
      }
      console.log(`build: ${reason}; building`);
      const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
      const result = spawnSync(npm, ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
      process.exitCode = result.status ?? 1;
      return;
    }
    default:
      console.error('usage: tsx scripts/build-state.ts start | finish | build-if-changed');
      process.exitCode = 2;
  }
}

if (require.main === module) main(process.argv[2]);
