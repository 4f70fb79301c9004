// Pure helpers: summaries of repeated measurements and how they are printed.

export interface Summary {
  n: number;
  median: number;
  min: number;
  max: number;
}

/** Median of the values (mean of the two middle ones for an even count); NaN when empty. */
export function median(values: readonly number[]): number {
  if (!values.length) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** n, median, min and max; undefined when there is no value. */
export function summarize(values: readonly number[]): Summary | undefined {
  const v = values.filter((x) => Number.isFinite(x));
  if (!v.length) return undefined;
  return { n: v.length, median: median(v), min: Math.min(...v), max: Math.max(...v) };
}

/** a / b of two medians, or undefined when either is missing or b is 0. */
export function ratio(a: Summary | undefined, b: Summary | undefined): number | undefined {
  if (!a || !b || !(b.median > 0)) return undefined;
  return a.median / b.median;
}

/** Milliseconds as "87 ms" below a second, else "1.23 s". */
export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return 'n/a';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

/** "median (min–max)" of a time summary; one value when there is a single sample. */
export function fmtTime(s: Summary | undefined): string {
  if (!s) return 'n/a';
  if (s.n === 1) return fmtMs(s.median);
  return `${fmtMs(s.median)} (${fmtRange(s.min, s.max, s.median < 1000)})`;
}

/** min–max in the median's unit (ms or s), without repeating the unit. */
function fmtRange(min: number, max: number, inMs: boolean): string {
  if (inMs) return `${Math.round(min)}–${Math.round(max)}`;
  return `${(min / 1000).toFixed(2)}–${(max / 1000).toFixed(2)}`;
}

/** Kibibytes as "2.3 MiB" (or "812 KiB" below one MiB). */
export function fmtKb(kb: number | undefined): string {
  if (kb === undefined || !Number.isFinite(kb)) return 'n/a';
  if (kb < 1024) return `${Math.round(kb)} KiB`;
  return `${(kb / 1024).toFixed(1)} MiB`;
}

/** "0.42×" */
export function fmtRatio(r: number | undefined): string {
  return r === undefined || !Number.isFinite(r) ? 'n/a' : `${r.toFixed(2)}×`;
}
