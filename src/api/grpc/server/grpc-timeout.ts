/**
 * The `grpc-timeout` request header: 1 to 8 ASCII digits and one unit (`H` hours, `M` minutes, `S` seconds,
 * `m` milliseconds, `u` microseconds, `n` nanoseconds). Parsed strictly, as grpc-go does: anything else is an error,
 * answered with INTERNAL (see docs/grpc-server.md).
 */

const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000_001 };

/** Longest delay Node's `setTimeout` honours; longer ones fire after 1 ms, so such deadlines count as none. */
export const MAX_TIMER_MS = 2_147_483_647;

/** The timeout in milliseconds, or a string saying why the header is malformed (grpc-go's wording). */
export function parseGrpcTimeout(value: string): number | string {
  if (value.length < 2) return `transport: timeout string is too short: ${JSON.stringify(value)}`;
  if (value.length > 9) return `transport: timeout string is too long: ${JSON.stringify(value)}`;
  const unit = UNIT_MS[value[value.length - 1]];
  if (unit === undefined) return `transport: timeout unit is not recognized: ${JSON.stringify(value)}`;
  let n = 0;
  for (let i = 0; i < value.length - 1; i++) {
    const d = value.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return `transport: invalid timeout value: ${JSON.stringify(value)}`;
    n = n * 10 + d;
  }
  return n * unit;
}
