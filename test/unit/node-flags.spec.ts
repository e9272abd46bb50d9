import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nodeFlagsOf } from '../../bench/lib/services';

const ROOT = join(__dirname, '..', '..');

/**
 * `npm start` and the Docker image run the broker with the same V8 flags (the young generation's
 * size, which bounds its peak RSS: README, "Memory"), and the bench measures with them
 * (bench/lib/services.ts reads them from the start script).
 */
describe('node flags of the broker', () => {
  const start = (
    JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      scripts: { start: string };
    }
  ).scripts.start;

  it('npm start sizes the young generation', () => {
    expect(nodeFlagsOf(start)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^--max-semi-space-size=\d+$/)]),
    );
  });

  it('the Dockerfile runs node with the flags of npm start', () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    const cmd = /^CMD (\[.*\])$/m.exec(dockerfile);
    expect(cmd).not.toBeNull();
    const words = JSON.parse(cmd![1]) as string[];
    expect(words[0]).toBe('node');
    expect(words.at(-1)).toBe('dist/main.js');
    expect(words.slice(1, -1)).toEqual(nodeFlagsOf(start));
  });

  it('reads the flags of a start command, not its script or arguments', () => {
    expect(nodeFlagsOf('node --a=1 --b dist/start.js --c')).toEqual(['--a=1', '--b']);
    expect(() => nodeFlagsOf('tsx src/main.ts')).toThrow();
  });
});
