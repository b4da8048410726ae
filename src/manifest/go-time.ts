/**
 * Hand-written to match Go's time formatting byte for byte.
 *
 * A Go `time.Time` as decoded from JSON (RFC 3339) and printed back: `MarshalJSON` (RFC3339Nano, trailing
 * zeros of the fraction trimmed) and `String()` (`2006-01-02 15:04:05.999999999 -0700 MST`), which
 * `inspect --format '{{.Created}}'` shows; and the methods a template calls on it (`{{.Created.Unix}}`,
 * `{{.Created.Format "2006-01-02"}}`), `Format` following Go's layout rules (`time/format.go`).
 */
import { FerryError, ErrorCode } from '../errors.js';

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
/** `Unix()` of Go's zero time, 0001-01-01T00:00:00Z. */
const ZERO_UNIX = -62135596800;

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

  /** The wall clock as written: year, month (1-12), day, hour, minute, second, nanosecond. */
  private fields(): [number, number, number, number, number, number, number] {
    const [y, mo, d] = this.date.split('-').map(Number) as [number, number, number];
    const [h, mi, sec] = this.clock.split(':').map(Number) as [number, number, number];
    return [y, mo, d, h, mi, sec, Number(this.nanos)];
  }

  /** Milliseconds since 1970 of the wall clock read as UTC (Date.UTC maps years 0-99 to 19xx: not used). */
  private wallMillis(): number {
    const [y, mo, d, h, mi, sec] = this.fields();
    const t = new Date(0);
    t.setUTCFullYear(y, mo - 1, d);
    t.setUTCHours(h, mi, sec, 0);
    return t.getTime();
  }

  /** Seconds since 1970-01-01T00:00:00Z (Go's `Unix()`). */
  unix(): number {
    return Math.floor(this.wallMillis() / 1000) - this.offsetMinutes * 60;
  }

  /** The same instant in UTC (Go's `UTC()`). */
  utc(): GoTime {
    const t = new Date(this.unix() * 1000);
    const iso = t.toISOString(); // years 0-9999 as YYYY
    return new GoTime(iso.slice(0, 10), iso.slice(11, 19), this.nanos, 0);
  }

  /** Day of the year, 1-366. */
  private yearDay(): number {
    const [y] = this.fields();
    const jan1 = new Date(0);
    jan1.setUTCFullYear(y, 0, 1);
    return Math.floor((this.wallMillis() - jan1.getTime()) / 86_400_000) + 1;
  }

  /** 0 (Sunday) to 6. */
  private weekday(): number {
    return new Date(this.wallMillis()).getUTCDay();
  }

  /**
   * What the template method `name` (without arguments) returns, or undefined when `time.Time` has no such method
   * ferry knows. `Month` and `Weekday` give their names, as they print.
   */
  method(name: string): unknown {
    const [y, mo, d, h, mi, sec, ns] = this.fields();
    switch (name) {
      case 'Year':
        return y;
      case 'Month':
        return MONTHS[mo - 1];
      case 'Day':
        return d;
      case 'Hour':
        return h;
      case 'Minute':
        return mi;
      case 'Second':
        return sec;
      case 'Nanosecond':
        return ns;
      case 'YearDay':
        return this.yearDay();
      case 'Weekday':
        return DAYS[this.weekday()];
      case 'Unix':
        return this.unix();
      case 'UnixMilli':
        return this.unix() * 1000 + Math.floor(ns / 1e6);
      case 'IsZero':
        return this.unix() === ZERO_UNIX && ns === 0;
      case 'UTC':
        return this.utc();
      case 'String':
        return this.toString();
      default:
        return undefined;
    }
  }

  /** Go's `Time.Format(layout)`: the reference time `Mon Jan 2 15:04:05 MST 2006` names each field. */
  format(layout: string): string {
    const [y, mo, d, h, mi, sec, ns] = this.fields();
    const pad = (n: number, w: number) => String(n).padStart(w, '0');
    const zone = (z: boolean, colon: boolean, seconds: boolean, minutes = true): string => {
      if (z && this.offsetMinutes === 0) return 'Z';
      const a = Math.abs(this.offsetMinutes);
      let out = `${this.offsetMinutes < 0 ? '-' : '+'}${pad(Math.floor(a / 60), 2)}`;
      if (minutes) out += `${colon ? ':' : ''}${pad(a % 60, 2)}`;
      if (seconds) out += `${colon ? ':' : ''}00`;
      return out;
    };
    let out = '';
    let i = 0;
    const at = (s: string) => layout.startsWith(s, i);
    // `Jan` and `Mon` name a field only when no lower-case letter follows (`Monthly` is text)
    const word = (s: string) => at(s) && !/[a-z]/.test(layout[i + s.length] ?? '');
    while (i < layout.length) {
      const c = layout[i]!;
      let tok: string | undefined;
      let val = '';
      if (at('January')) [tok, val] = ['January', MONTHS[mo - 1]!];
      else if (word('Jan')) [tok, val] = ['Jan', MONTHS[mo - 1]!.slice(0, 3)];
      else if (at('Monday')) [tok, val] = ['Monday', DAYS[this.weekday()]!];
      else if (word('Mon')) [tok, val] = ['Mon', DAYS[this.weekday()]!.slice(0, 3)];
      else if (at('MST')) [tok, val] = ['MST', this.offsetMinutes === 0 ? 'UTC' : zone(false, false, false)];
      else if (c === '0' && i + 1 < layout.length && layout[i + 1]! >= '1' && layout[i + 1]! <= '6') {
        tok = layout.slice(i, i + 2);
        val = [pad(mo, 2), pad(d, 2), pad(h % 12 === 0 ? 12 : h % 12, 2), pad(mi, 2), pad(sec, 2), pad(y % 100, 2)][Number(layout[i + 1]) - 1]!;
      } else if (at('002')) [tok, val] = ['002', pad(this.yearDay(), 3)];
      else if (at('15')) [tok, val] = ['15', pad(h, 2)];
      else if (c === '1') [tok, val] = ['1', String(mo)];
      else if (at('2006')) [tok, val] = ['2006', pad(y, 4)];
      else if (c === '2') [tok, val] = ['2', String(d)];
      else if (at('_2006')) [tok, val] = ['_2006', `_${pad(y, 4)}`];
      else if (at('_2')) [tok, val] = ['_2', String(d).padStart(2, ' ')];
      else if (at('__2')) [tok, val] = ['__2', String(this.yearDay()).padStart(3, ' ')];
      else if (c === '3') [tok, val] = ['3', String(h % 12 === 0 ? 12 : h % 12)];
      else if (c === '4') [tok, val] = ['4', String(mi)];
      else if (c === '5') [tok, val] = ['5', String(sec)];
      else if (at('PM')) [tok, val] = ['PM', h >= 12 ? 'PM' : 'AM'];
      else if (at('pm')) [tok, val] = ['pm', h >= 12 ? 'pm' : 'am'];
      else if (c === '-' || c === 'Z') {
        const z = c === 'Z';
        const forms: [string, boolean, boolean, boolean][] = [
          ['070000', false, true, true],
          ['07:00:00', true, true, true],
          ['0700', false, false, true],
          ['07:00', true, false, true],
          ['07', false, false, false],
        ];
        const f = forms.find(([form]) => layout.startsWith(form, i + 1));
        if (f !== undefined) [tok, val] = [c + f[0], zone(z, f[1], f[2], f[3])];
      } else if ((c === '.' || c === ',') && (layout[i + 1] === '0' || layout[i + 1] === '9')) {
        const digit = layout[i + 1]!;
        let j = i + 1;
        while (layout[j] === digit) j++;
        if (!(layout[j]! >= '0' && layout[j]! <= '9')) {
          tok = layout.slice(i, j);
          const frac = pad(ns, 9).slice(0, j - i - 1);
          val = digit === '0' ? c + frac : frac.replace(/0+$/, '') === '' ? '' : c + frac.replace(/0+$/, '');
        }
      }
      if (tok === undefined) {
        out += c;
        i++;
      } else {
        out += val;
        i += tok.length;
      }
    }
    return out;
  }

  /** Go's `Time.String()`, e.g. `2024-01-02 03:04:05.1 +0200 +0200`, `… +0000 UTC`. */
  toString(): string {
    const name = this.offsetMinutes === 0 ? 'UTC' : this.offsetString(false);
    return `${this.date} ${this.clock}${this.fraction()} ${this.offsetString(false)} ${name}`;
  }
}
