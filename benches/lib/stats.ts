/** Small statistics over the rounds of a run. */

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function spread(xs: readonly number[]): Spread {
  const ok = xs.filter((x) => Number.isFinite(x));
  if (ok.length === 0) return { median: NaN, min: NaN, max: NaN };
  return { median: median(ok), min: Math.min(...ok), max: Math.max(...ok) };
}

export function sum(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}
