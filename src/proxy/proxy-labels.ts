/**
 * Label objects of the proxy's metrics made once per combination and reused: prom-client reads
 * a label object on every `inc`/`observe`, and the proxy counts on every call. The label values
 * are few and fixed (product, method, status class, outcome), so the memo stays small.
 */

/** `make(a, b)`, made once per (a, b). */
export function labelsOf2<L>(make: (a: string, b: string) => L): (a: string, b: string) => L {
  const byA = new Map<string, Map<string, L>>();
  return (a, b) => {
    let byB = byA.get(a);
    if (!byB) byA.set(a, (byB = new Map()));
    let labels = byB.get(b);
    if (!labels) byB.set(b, (labels = make(a, b)));
    return labels;
  };
}

/** `make(a, b, c, d)`, made once per (a, b, c, d). */
export function labelsOf4<L>(
  make: (a: string, b: string, c: string, d: string) => L,
): (a: string, b: string, c: string, d: string) => L {
  const byAB = labelsOf2((a, b) => labelsOf2((c, d) => make(a, b, c, d)));
  return (a, b, c, d) => byAB(a, b)(c, d);
}
