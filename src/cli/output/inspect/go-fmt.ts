/**
 * Hand-written to match Go's fmt byte for byte.
 *
 * Printing values the way Go's `fmt` (`%v`) and `text/template` do, for `inspect --format`. Template data
 * follows the Go model: plain objects are structs (every field present), `Map`s are maps, arrays slices,
 * {@link GoNil} a typed nil, {@link NO_VALUE} a missing map entry.
 */
import { GoTime } from '../../../manifest/go-time.js';
import { compareUtf8 } from '../../../manifest/go-json.js';

/** A typed Go nil: prints `map[]`, `[]` or `<nil>`; JSON `null`. */
export class GoNil {
  constructor(readonly kind: 'map' | 'slice' | 'ptr') {}
  toJSON(): null {
    return null;
  }
}

/** What text/template yields for a missing map key (prints `<no value>`). */
export const NO_VALUE: unique symbol = Symbol('no value');

/** `fmt.Sprint(v)` for the template value model. */
export function goSprint(v: unknown, depth = 0): string {
  if (v === NO_VALUE) return '<no value>';
  if (v === null || v === undefined) return '<nil>';
  if (v instanceof GoNil) return v.kind === 'map' ? 'map[]' : v.kind === 'slice' ? '[]' : '<nil>';
  if (v instanceof GoTime) return v.toString();
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (Buffer.isBuffer(v)) return `[${[...v].join(' ')}]`;
  if (Array.isArray(v)) return `[${v.map((e) => goSprint(e, depth + 1)).join(' ')}]`;
  if (v instanceof Map) {
    const keys = [...v.keys()].sort((a, b) => (typeof a === 'string' && typeof b === 'string' ? compareUtf8(a, b) : a < b ? -1 : 1));
    return `map[${keys.map((k) => `${goSprint(k, depth + 1)}:${goSprint(v.get(k), depth + 1)}`).join(' ')}]`;
  }
  if (typeof v === 'object') return `{${Object.values(v as object).map((e) => goSprint(e, depth + 1)).join(' ')}}`;
  return String(v);
}

/** text/template's notion of truth: false, 0, nil, and empty strings/slices/maps are false; structs are true. */
export function goTruth(v: unknown): boolean {
  if (v === NO_VALUE || v === null || v === undefined || v instanceof GoNil) return false;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'string' || Array.isArray(v)) return v.length > 0;
  if (v instanceof Map) return v.size > 0;
  return true;
}
