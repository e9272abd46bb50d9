import { LogThrottle } from '../../src/logging/log-throttle';

describe('LogThrottle', () => {
  beforeEach(() => jest.useFakeTimers({ now: 0 }));
  afterEach(() => jest.useRealTimers());

  it('logs a kind at most once a second, with the count of what it stands for', () => {
    const throttle = new LogThrottle();
    const lines: Array<[string, number]> = [];
    const hit = (kind: string) => throttle.hit(kind, (n) => lines.push([kind, n]));
    for (let i = 0; i < 500; i++) hit('unreachable'); // one burst within the same second
    hit('read_only'); // another kind has its own line
    jest.setSystemTime(999);
    hit('unreachable');
    jest.setSystemTime(1000);
    hit('unreachable');
    expect(lines).toEqual([
      ['unreachable', 1],
      ['read_only', 1],
      ['unreachable', 501], // itself and the 500 suppressed since the first line
    ]);
  });
});
