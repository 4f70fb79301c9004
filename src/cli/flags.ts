// Flag value parsers shared by the commands (Podman's wording in their errors).
import { PeapodError } from '../../engine/errors.js';

/** A repeatable flag: every value, in order. */
export const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/** An integer flag; the error names the flag as Podman's does. */
export const int = (name: string) => (v: string): number => {
  if (!/^-?\d+$/.test(v)) throw new PeapodError('invalid', `invalid argument "${v}" for "${name}" flag: strconv.ParseInt: parsing "${v}": invalid syntax`);
  return Number(v);
};

/** A Go-style duration ("500ms", "90s", "2m", "1h"; a plain number is seconds), in milliseconds. */
export function durationMs(flag: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
  if (!m) throw new PeapodError('invalid', `--${flag} "${v}": expected a duration such as 500ms, 90s or 5m`);
  const n = Number(m[1]);
  return Math.round(m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : m[2] === 'h' ? n * 3_600_000 : n * 1000);
}
