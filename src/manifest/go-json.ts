/**
 * Hand-written to match Go's encoding/json byte for byte.
 *
 * JSON output the way Go's `encoding/json` writes it, so that bytes ferry produces (converted manifests
 * and configs, `inspect` output) are identical to what containers/image and skopeo produce.
 *
 * Value model (see {@link goMarshal}):
 * - plain objects are Go structs: keys in insertion order, `undefined` values omitted (callers apply
 *   `omitempty` by leaving a field undefined);
 * - `Map`s are Go maps: keys sorted by their UTF-8 bytes, as Go does;
 * - arrays, strings, numbers, booleans and `null` as in JSON;
 * - a value with a `toJSON()` method is replaced by its result first (e.g. {@link GoTime}).
 */
import { FerryError, ErrorCode } from '../errors.js';

/** Options of {@link goMarshal}. */
export interface GoMarshalOptions {
  /** Escape `<`, `>`, `&` as `\u003c` etc. (Go's default; `json.Encoder.SetEscapeHTML(false)` turns it off). Default true. */
  escapeHtml?: boolean;
  /** Indent unit for `json.MarshalIndent(v, "", indent)`; compact when undefined. */
  indent?: string;
}

/** Go's `json.Marshal(v)`: compact, HTML-escaped. */
export function goMarshal(value: unknown, opts: GoMarshalOptions = {}): string {
  const out: string[] = [];
  write(out, value, opts.escapeHtml ?? true, opts.indent, '');
  return out.join('');
}

/** Go's `json.MarshalIndent(v, "", "    ")`, as skopeo prints (without the trailing newline skopeo adds). */
export function goMarshalIndent(value: unknown, indent = '    '): string {
  return goMarshal(value, { indent });
}

/** Compares strings by their UTF-8 bytes (Go's order for map keys). */
export function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function write(out: string[], v: unknown, html: boolean, indent: string | undefined, prefix: string): void {
  if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function' && !(v instanceof Map)) {
    v = (v as { toJSON(): unknown }).toJSON();
  }
  if (v === null || v === undefined) {
    out.push('null');
  } else if (typeof v === 'string') {
    out.push(quoteGo(v, html));
  } else if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new FerryError(ErrorCode.InvalidManifest, `json: unsupported value: ${v}`);
    out.push(formatNumber(v));
  } else if (typeof v === 'bigint') {
    out.push(v.toString());
  } else if (typeof v === 'boolean') {
    out.push(v ? 'true' : 'false');
  } else if (Array.isArray(v)) {
    writeEntries(out, v.map((e) => [undefined, e] as const), '[', ']', html, indent, prefix);
  } else if (v instanceof Map) {
    const keys = [...v.keys()].map(String).sort(compareUtf8);
    writeEntries(out, keys.map((k) => [k, v.get(k)] as const), '{', '}', html, indent, prefix);
  } else if (typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, e]) => e !== undefined);
    writeEntries(out, entries, '{', '}', html, indent, prefix);
  } else {
    throw new FerryError(ErrorCode.InvalidManifest, `json: unsupported type: ${typeof v}`);
  }
}

function writeEntries(
  out: string[],
  entries: readonly (readonly [string | undefined, unknown])[],
  open: string,
  close: string,
  html: boolean,
  indent: string | undefined,
  prefix: string,
): void {
  out.push(open);
  if (entries.length === 0) {
    out.push(close);
    return;
  }
  const inner = indent === undefined ? prefix : prefix + indent;
  entries.forEach(([k, e], i) => {
    if (i > 0) out.push(',');
    if (indent !== undefined) out.push('\n', inner);
    if (k !== undefined) out.push(quoteGo(k, html), indent === undefined ? ':' : ': ');
    write(out, e, html, indent, inner);
  });
  if (indent !== undefined) out.push('\n', prefix);
  out.push(close);
}

/** Go formats integral float64/int64 values without exponent up to 1e21. */
function formatNumber(n: number): string {
  if (Number.isInteger(n) && Math.abs(n) < 1e21) return n.toFixed(0);
  return String(n);
}

/** A JSON string literal escaped as Go's encoding/json does (Go < 1.22: `\b`/`\f` as `\u0008`/`\u000c`). */
export function quoteGo(s: string, html = true): string {
  let r = '"';
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let esc: string | undefined;
    if (c === 0x22) esc = '\\"';
    else if (c === 0x5c) esc = '\\\\';
    else if (c < 0x20) {
      esc = c === 0x0a ? '\\n' : c === 0x0d ? '\\r' : c === 0x09 ? '\\t' : `\\u00${c.toString(16).padStart(2, '0')}`;
    } else if (html && (c === 0x3c || c === 0x3e || c === 0x26)) esc = `\\u00${c.toString(16)}`;
    else if (c === 0x2028 || c === 0x2029) esc = `\\u${c.toString(16)}`;
    else if (c >= 0xd800 && c <= 0xdfff) {
      // A lone surrogate is invalid UTF-8 in Go: it becomes U+FFFD.
      const pair = c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
      if (pair) {
        i++;
        continue;
      }
      esc = '\\ufffd';
    }
    if (esc !== undefined) {
      r += s.slice(start, i) + esc;
      start = i + 1;
    }
  }
  return r + s.slice(start) + '"';
}
