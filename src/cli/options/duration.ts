import { FerryError, ErrorCode } from '../../errors.js';

const UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a Go-style duration (`1s`, `500ms`, `1m30s`) into milliseconds; a bare number is seconds.
 * @throws FerryError(E_USAGE) naming the flag.
 */
export function parseDuration(s: string, flag: string): number {
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1000;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    total += Number(m[1]) * UNITS[m[2]!]!;
    consumed = re.lastIndex;
  }
  if (consumed === 0 || consumed !== s.length) {
    throw new FerryError(ErrorCode.Usage, `${flag}: invalid duration "${s}" (examples: 500ms, 2s, 1m)`);
  }
  return total;
}
