/**
 * Hand-written to match Go's time formatting byte for byte.
 *
 * A Go `time.Time` as decoded from JSON (RFC 3339) and printed back: `MarshalJSON` (RFC3339Nano, trailing
 * zeros of the fraction trimmed) and `String()` (`2006-01-02 15:04:05.999999999 -0700 MST`), which
 * `inspect --format '{{.Created}}'` shows.
 */
import { FerryError, ErrorCode } from '../errors.js';

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/** An instant with the zone offset it was written with. Immutable. */
export class GoTime {
  /** `YYYY-MM-DD`, `HH:MM:SS` as written (local to `offsetMinutes`). */
  private constructor(
    private readonly date: string,
    private readonly clock: string,
    /** Fraction of a second, 9 digits. */
    private readonly nanos: string,
    /** Offset from UTC in minutes; 0 is printed as UTC. */
    readonly offsetMinutes: number,
  ) {}

  /** Go's zero time, `0001-01-01T00:00:00Z` (what a Docker config without `created` decodes to). */
  static zero(): GoTime {
    return new GoTime('0001-01-01', '00:00:00', '000000000', 0);
  }

  /**
   * Parses an RFC 3339 timestamp as Go's `time.Time.UnmarshalJSON` does.
   * @throws FerryError(E_INVALID_MANIFEST) naming `what`.
   */
  static parse(s: string, what = 'time'): GoTime {
    const m = RFC3339.exec(s);
    if (!m) throw new FerryError(ErrorCode.InvalidManifest, `${what}: parsing time ${JSON.stringify(s)} as RFC 3339 failed`);
    const [, y, mo, d, h, mi, sec, frac, z, sign, oh, om] = m;
    if (+mo! < 1 || +mo! > 12 || +d! < 1 || +d! > 31 || +h! > 23 || +mi! > 59 || +sec! > 59 || (oh !== undefined && +oh > 23)) {
      throw new FerryError(ErrorCode.InvalidManifest, `${what}: parsing time ${JSON.stringify(s)}: value out of range`);
    }
    const offset = z !== undefined ? 0 : (sign === '-' ? -1 : 1) * (+oh! * 60 + +om!);
    const nanos = (frac ?? '').slice(0, 9).padEnd(9, '0');
    return new GoTime(`${y}-${mo}-${d}`, `${h}:${mi}:${sec}`, nanos, offset);
  }

  private fraction(): string {
    const f = this.nanos.replace(/0+$/, '');
    return f === '' ? '' : `.${f}`;
  }

  private offsetString(colon: boolean): string {
    const a = Math.abs(this.offsetMinutes);
    const hh = String(Math.floor(a / 60)).padStart(2, '0');
    const mm = String(a % 60).padStart(2, '0');
    return `${this.offsetMinutes < 0 ? '-' : '+'}${hh}${colon ? ':' : ''}${mm}`;
  }

  /** RFC3339Nano as Go marshals it, e.g. `2024-01-02T03:04:05.1+02:00` or `…Z`. */
  toJSON(): string {
    const zone = this.offsetMinutes === 0 ? 'Z' : this.offsetString(true);
    return `${this.date}T${this.clock}${this.fraction()}${zone}`;
  }

  /** Go's `Time.String()`, e.g. `2024-01-02 03:04:05.1 +0200 +0200`, `… +0000 UTC`. */
  toString(): string {
    const name = this.offsetMinutes === 0 ? 'UTC' : this.offsetString(false);
    return `${this.date} ${this.clock}${this.fraction()} ${this.offsetString(false)} ${name}`;
  }
}
