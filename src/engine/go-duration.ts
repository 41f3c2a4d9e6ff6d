/**
 * Go's duration syntax (`time.ParseDuration`), which Dapr component files use for timeouts: a sequence of decimal
 * numbers with units, such as `300ms`, `1.5h` or `2h45m`, with an optional sign. Units: `ns`, `us` (`µs`), `ms`,
 * `s`, `m`, `h`. A bare `0` is allowed; any other number needs a unit.
 */

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/** The duration in milliseconds (possibly fractional), or undefined when `text` is not a Go duration. */
export function parseGoDuration(text: string): number | undefined {
  let s = text.trim();
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') return undefined;
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < s.length) {
    const m = PART.exec(s);
    if (!m) return undefined;
    total += Number(m[1]) * UNIT_MS[m[2]];
  }
  return sign * total;
}
