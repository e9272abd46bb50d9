import { memoByTwo } from '../common/memo';

/**
 * Label objects of the proxy's metrics made once per combination and reused: prom-client reads
 * a label object on every `inc`/`observe`, and the proxy counts on every call. The label values
 * are few and fixed (product, method, status class, outcome), so the memo stays small.
 */

/** `make(a, b, c, d)`, made once per (a, b, c, d). */
export function labelsOf4<L>(
  make: (a: string, b: string, c: string, d: string) => L,
): (a: string, b: string, c: string, d: string) => L {
  const byAB = memoByTwo((a: string, b: string) =>
    memoByTwo((c: string, d: string) => make(a, b, c, d)),
  );
  return (a, b, c, d) => byAB(a, b)(c, d);
}
