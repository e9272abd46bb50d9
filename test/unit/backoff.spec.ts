import { backoffSeconds } from '../../src/common/backoff';

describe('backoffSeconds', () => {
  it('doubles from 2 s, jittered to 50-100 %, capped at 300 s, never below Retry-After', () => {
    expect(backoffSeconds(1, { random: () => 0 })).toBe(1);
    expect(backoffSeconds(1, { random: () => 1 })).toBe(2);
    expect(backoffSeconds(4, { random: () => 1 })).toBe(16);
    expect(backoffSeconds(30, { random: () => 1 })).toBe(300);
    expect(backoffSeconds(30, { random: () => 0 })).toBe(150);
    expect(backoffSeconds(1, { retryAfter: 120, random: () => 0 })).toBe(120);
  });

  it('takes its own cap (webhook deliveries wait up to an hour)', () => {
    expect(backoffSeconds(12, { capSeconds: 3600, random: () => 1 })).toBe(3600);
    expect(backoffSeconds(30, { capSeconds: 3600, random: () => 1 })).toBe(3600);
    expect(backoffSeconds(5, { capSeconds: 3600, random: () => 1 })).toBe(32);
  });
});
