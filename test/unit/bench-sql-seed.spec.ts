import { batches, evenlySpaced } from '../../bench/lib/sql-seed';

describe('bench --scale seeding helpers', () => {
  it('cuts a range into consecutive batches, the last one short', () => {
    expect(batches(1_000, 12_500, 5_000)).toEqual([
      [1_000, 6_000],
      [6_000, 11_000],
      [11_000, 12_500],
    ]);
    expect(batches(10, 10, 5_000)).toEqual([]);
  });

  it('spreads the due rows evenly over the table, starting at the first', () => {
    const items = Array.from({ length: 10_000 }, (_, i) => i);
    const picked = evenlySpaced(items, 1_000);
    expect(picked).toHaveLength(1_000);
    expect(picked.slice(0, 3)).toEqual([0, 10, 20]);
    expect(picked[999]).toBe(9_990);
    expect(new Set(picked).size).toBe(1_000);
  });

  it('takes every item when asked for as many or more', () => {
    expect(evenlySpaced([1, 2, 3], 3)).toEqual([1, 2, 3]);
    expect(evenlySpaced([1, 2, 3], 5)).toEqual([1, 2, 3]);
  });
});
