/**
 * `make(a, b)`, made once per (a, b) and kept: for the hot paths' label objects, metric cells and
 * span names, whose keys are few and fixed (product, method, route, status, outcome). Two Map
 * look-ups per call, no key string built.
 */
export function memoByTwo<A, B, V>(make: (a: A, b: B) => V): (a: A, b: B) => V {
  const rows = new Map<A, Map<B, V>>();
  return (a, b) => {
    let row = rows.get(a);
    if (!row) rows.set(a, (row = new Map()));
    let value = row.get(b);
    if (value === undefined) row.set(b, (value = make(a, b)));
    return value;
  };
}
