/**
 * A small, bounded reader of ASN.1 DER, for what node:crypto's X509Certificate does not expose (certificate
 * extensions with their critical flags, the validity times, the Fulcio OIDC issuer, e-mail SANs, the extended key
 * usages). Only definite lengths in minimal form are accepted (DER), and every length is checked against the bytes
 * that remain, so hostile input can only make it throw. It never recurses: callers walk the fixed structures they
 * expect, one level at a time.
 */
import { FerryError, ErrorCode } from '../../errors.js';

/** One tag-length-value element: `tag` is the identifier byte (single-byte tags only), `value` its contents. */
export interface Der {
  tag: number;
  value: Buffer;
  /** The whole element, header included. */
  raw: Buffer;
}

/** Universal tags used here. */
export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
} as const;

export function derError(what: string): FerryError {
  return new FerryError(ErrorCode.Signature, `invalid DER: ${what}`);
}

/** Reads the element at `offset` of `buf`. */
function readAt(buf: Buffer, offset: number): Der {
  if (offset + 2 > buf.length) throw derError('truncated element');
  const tag = buf[offset] as number;
  if ((tag & 0x1f) === 0x1f) throw derError('multi-byte tags are not supported');
  let len = buf[offset + 1] as number;
  let header = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0) throw derError('indefinite length');
    if (n > 4) throw derError('length too large');
    if (offset + 2 + n > buf.length) throw derError('truncated length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (buf[offset + 2 + i] as number);
    if (len < 0x80 || (n > 1 && buf[offset + 2] === 0)) throw derError('non-minimal length');
    header += n;
  }
  if (offset + header + len > buf.length) throw derError('truncated contents');
  return { tag, value: buf.subarray(offset + header, offset + header + len), raw: buf.subarray(offset, offset + header + len) };
}

/** Parses `buf` as exactly one element. */
export function parseDer(buf: Buffer): Der {
  const el = readAt(buf, 0);
  if (el.raw.length !== buf.length) throw derError('trailing data');
  return el;
}

/** The elements inside a constructed element (SEQUENCE, SET, explicit tags). */
export function children(el: Der): Der[] {
  if ((el.tag & 0x20) === 0) throw derError(`element 0x${el.tag.toString(16)} is not constructed`);
  const out: Der[] = [];
  for (let off = 0; off < el.value.length; ) {
    const c = readAt(el.value, off);
    out.push(c);
    off += c.raw.length;
  }
  return out;
}

/** Checks `el` has tag `tag`. */
export function expectTag(el: Der | undefined, tag: number, what: string): Der {
  if (el === undefined) throw derError(`missing ${what}`);
  if (el.tag !== tag) throw derError(`${what}: unexpected tag 0x${el.tag.toString(16)}`);
  return el;
}

/** The dotted form of an OBJECT IDENTIFIER's contents. */
export function oidString(el: Der): string {
  expectTag(el, TAG.OID, 'object identifier');
  const v = el.value;
  if (v.length === 0 || v.length > 64) throw derError('object identifier length');
  const arcs: number[] = [];
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    const b = v[i] as number;
    if (n === 0 && b === 0x80) throw derError('non-minimal object identifier');
    n = n * 128 + (b & 0x7f);
    if (n > Number.MAX_SAFE_INTEGER / 128) throw derError('object identifier arc too large');
    if ((b & 0x80) === 0) {
      arcs.push(n);
      n = 0;
    } else if (i === v.length - 1) {
      throw derError('truncated object identifier');
    }
  }
  const first = arcs[0] as number;
  const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
  return [...head, ...arcs.slice(1)].join('.');
}

/** A DER BOOLEAN, as Go's cryptobyte reads it: one byte, 0x00 or 0xff. */
export function derBoolean(el: Der, what: string): boolean {
  expectTag(el, TAG.BOOLEAN, what);
  if (el.value.length !== 1 || (el.value[0] !== 0 && el.value[0] !== 0xff)) throw derError(`${what}: invalid BOOLEAN`);
  return el.value[0] === 0xff;
}

/** A DER INTEGER that is non-negative and at most 2³¹−1, in minimal form (as Go's cryptobyte reads an int). */
export function derSmallInteger(el: Der, what: string): number {
  expectTag(el, TAG.INTEGER, what);
  const v = el.value;
  if (v.length === 0 || (v.length > 1 && v[0] === 0 && (v[1]! & 0x80) === 0) || (v[0]! & 0x80) !== 0 || v.length > 5 || (v.length === 5 && v[0] !== 0)) {
    throw derError(`${what}: invalid or out-of-range INTEGER`);
  }
  const n = v.reduce((acc, b) => acc * 256 + b, 0);
  if (n > 0x7fffffff) throw derError(`${what}: INTEGER out of range`);
  return n;
}

/** A UTCTime or GeneralizedTime in the `YYMMDDHHMMSSZ` / `YYYYMMDDHHMMSSZ` forms RFC 5280 requires. */
export function derTime(el: Der): Date {
  const s = el.value.toString('latin1');
  let m: RegExpExecArray | null;
  let year: number;
  if (el.tag === TAG.UTC_TIME && (m = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s))) {
    const yy = Number(m[1]);
    year = yy < 50 ? 2000 + yy : 1900 + yy;
  } else if (el.tag === TAG.GENERALIZED_TIME && (m = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s))) {
    year = Number(m[1]);
  } else {
    throw derError(`invalid time ${JSON.stringify(s)}`);
  }
  const [mo, d, h, mi, se] = [2, 3, 4, 5, 6].map((i) => Number(m![i]));
  const t = Date.UTC(year, mo! - 1, d, h, mi, se);
  const back = new Date(t);
  if (back.getUTCMonth() !== mo! - 1 || back.getUTCDate() !== d || h! > 23 || mi! > 59 || se! > 59) throw derError(`invalid time ${JSON.stringify(s)}`);
  return back;
}

/** A string type as Go's encoding/asn1 reads into a string: UTF8String, PrintableString or IA5String. */
export function derString(el: Der, what: string): string {
  if (el.tag === TAG.UTF8_STRING) {
    const s = el.value.toString('utf8');
    if (!Buffer.from(s, 'utf8').equals(el.value)) throw derError(`${what}: invalid UTF-8`);
    return s;
  }
  if (el.tag === TAG.PRINTABLE_STRING || el.tag === TAG.IA5_STRING) {
    if (el.value.some((b) => b > 0x7f)) throw derError(`${what}: not ASCII`);
    return el.value.toString('latin1');
  }
  throw derError(`${what}: unexpected tag 0x${el.tag.toString(16)}`);
}
