/**
 * Hand-written to read and write the same bytes as Go's archive/tar.
 *
 * Tar header blocks, read and written the way Go's `archive/tar` does for the archives containers/image and
 * containers/storage produce and accept: ustar with the POSIX prefix, GNU long names (`L`/`K`), PAX extended headers
 * (`x`; global `g` headers are skipped, as Go does not apply them to later entries), octal and GNU base-256 numbers.
 * Shared by the streaming layer reader (store), the seekable archive index and the archive writer.
 */
import { Pax } from 'tar';

/** Tar block size. */
export const BLOCK = 512;

/** Type flags of extension headers: they describe the next entry and are not entries themselves. */
export const EXTENSION_FLAGS: ReadonlySet<string> = new Set(['x', 'g', 'L', 'K']);

/** Most bytes of extension headers (`x`, `g`, `L`, `K`) accepted before one entry. */
export const MAX_PENDING_EXTENSIONS = 16 << 20;

/** The fields of one header block, before PAX and GNU extensions are applied. */
export interface HeaderBlock {
  /** The type flag, one character (`'0'`, `'5'`, `'x'`, …; `'\0'` for old regular files). */
  flag: string;
  /** The name, with the ustar prefix joined when the block is POSIX ustar. */
  name: string;
  /** The whole mode field (permission, setuid/setgid/sticky bits, sometimes file-type bits). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch; may be negative. */
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
}

/** How a caller words a malformed header (each format reports it in its own terms). */
export type HeaderFail = (why: string) => Error;

/** The bytes of a NUL-terminated field. */
export function cstring(b: Buffer, start: number, len: number): Buffer {
  const f = b.subarray(start, start + len);
  const z = f.indexOf(0);
  return z === -1 ? f : f.subarray(0, z);
}

/** A numeric field: octal text, or GNU base-256 (two's complement big-endian, top bit of the first byte set). */
function numeric(b: Buffer, start: number, len: number, field: string, fail: HeaderFail): number {
  const f = b.subarray(start, start + len);
  if (f[0]! & 0x80) {
    let v = 0n;
    for (let i = 0; i < f.length; i++) v = (v << 8n) | BigInt(i === 0 ? f[i]! & 0x7f : f[i]!);
    if (f[0]! & 0x40) v -= 1n << BigInt(8 * f.length - 1); // negative: the marker bit is not part of the value
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw fail(`${field} too large`);
    return Number(v);
  }
  const s = f.toString('latin1').replace(/\0.*$/s, '').trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw fail(`bad ${field} field "${s}"`);
  return parseInt(s, 8);
}

function unsigned(b: Buffer, start: number, len: number, field: string, fail: HeaderFail): number {
  const v = numeric(b, start, len, field, fail);
  if (v < 0) throw fail(`negative ${field}`);
  return v;
}

/** Whether a block is all zeros (the end-of-archive marker). */
export function isZeroBlock(h: Buffer): boolean {
  return h.every((x) => x === 0);
}

/** Whether the block's checksum field matches its bytes (the field itself counted as spaces). */
export function checksumOk(h: Buffer, fail: HeaderFail): boolean {
  const stored = numeric(h, 148, 8, 'checksum', fail);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
  return sum === stored;
}

/** The size field alone (what an extension header's body takes). */
export function headerSize(h: Buffer, fail: HeaderFail): number {
  return unsigned(h, 124, 12, 'size', fail);
}

/** Decodes a header block whose checksum was checked. */
export function decodeHeader(h: Buffer, fail: HeaderFail): HeaderBlock {
  let name = cstring(h, 0, 100).toString('utf8');
  if (h.subarray(257, 263).toString('latin1') === 'ustar\0') {
    const prefix = cstring(h, 345, 155).toString('utf8');
    if (prefix) name = `${prefix}/${name}`;
  }
  return {
    flag: String.fromCharCode(h[156]!),
    name,
    mode: unsigned(h, 100, 8, 'mode', fail),
    uid: unsigned(h, 108, 8, 'uid', fail),
    gid: unsigned(h, 116, 8, 'gid', fail),
    size: headerSize(h, fail),
    mtime: numeric(h, 136, 12, 'mtime', fail),
    linkname: cstring(h, 157, 100).toString('utf8'),
    devmajor: unsigned(h, 329, 8, 'devmajor', fail),
    devminor: unsigned(h, 337, 8, 'devminor', fail),
  };
}

/** PAX records `LEN key=value\n` (values are bytes: xattrs may be binary). */
export function parsePax(data: Buffer, fail: HeaderFail): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let pos = 0;
  while (pos < data.length) {
    const sp = data.indexOf(0x20, pos);
    if (sp === -1) break;
    const len = parseInt(data.subarray(pos, sp).toString('latin1'), 10);
    if (!Number.isFinite(len) || len <= 0 || pos + len > data.length) throw fail('bad PAX record');
    const rec = data.subarray(sp + 1, pos + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq === -1) throw fail('bad PAX record');
    out.set(rec.subarray(0, eq).toString('utf8'), Buffer.from(rec.subarray(eq + 1)));
    pos += len;
  }
  return out;
}

/**
 * The extensions that apply to the next entry, gathered from the `x`, `L` and `K` headers before it. PAX wins
 * over GNU long names, which win over the header's own fields.
 */
export class PendingExtensions {
  private pax = new Map<string, Buffer>();
  private longName: string | undefined;
  private longLink: string | undefined;
  /** Bytes of extension bodies taken in so far: a hostile archive could chain extension headers without end. */
  private bytes = 0;

  /**
   * Takes in the body of an extension header of type `flag` (one of {@link EXTENSION_FLAGS}).
   * @throws `fail(…)` once the extensions before one entry exceed {@link MAX_PENDING_EXTENSIONS} bytes.
   */
  add(flag: string, body: Buffer, fail: HeaderFail): void {
    this.bytes += body.length;
    if (this.bytes > MAX_PENDING_EXTENSIONS) throw fail(`extension headers of more than ${MAX_PENDING_EXTENSIONS} bytes before one entry`);
    if (flag === 'x') this.pax = new Map([...this.pax, ...parsePax(body, fail)]);
    else if (flag === 'L') this.longName = cstring(body, 0, body.length).toString('utf8');
    else if (flag === 'K') this.longLink = cstring(body, 0, body.length).toString('utf8');
  }

  /** A PAX record, undefined when absent or empty (Go's archive/tar ignores empty records). */
  private record(key: string): Buffer | undefined {
    const v = this.pax.get(key);
    return v === undefined || v.length === 0 ? undefined : v;
  }

  /** The entry's name. */
  name(h: HeaderBlock): string {
    return this.record('path')?.toString('utf8') ?? this.longName ?? h.name;
  }

  /** The entry's link target. */
  linkname(h: HeaderBlock): string {
    return this.record('linkpath')?.toString('utf8') ?? this.longLink ?? h.linkname;
  }

  /**
   * A numeric PAX record (`size`, `uid`, `gid`: decimal integers; `mtime`: decimal seconds, maybe fractional) as a
   * number, NaN if malformed (`0x10`, `1e3`, spaces: what Go's strconv refuses), or `fallback` when absent.
   */
  number(key: 'size' | 'uid' | 'gid' | 'mtime', fallback: number): number {
    const v = this.record(key)?.toString('latin1');
    if (v === undefined) return fallback;
    const ok = key === 'mtime' ? /^-?\d+(\.\d+)?$/.test(v) : /^[+-]?\d+$/.test(v);
    return ok ? Number(v) : NaN;
  }

  /**
   * Whether the PAX records describe a GNU sparse file (`GNU.sparse.*`, formats 0.x and 1.0): its data is then a sparse
   * map followed by the non-hole parts, not the file's content.
   */
  sparse(): boolean {
    for (const k of this.pax.keys()) if (k.startsWith('GNU.sparse.')) return true;
    return false;
  }

  /** Extended attributes from `SCHILY.xattr.*` records. */
  xattrs(): Map<string, Buffer> {
    const out = new Map<string, Buffer>();
    for (const [k, v] of this.pax) if (k.startsWith('SCHILY.xattr.')) out.set(k.slice('SCHILY.xattr.'.length), v);
    return out;
  }
}

/** Octal `x` in a field of `len` bytes: zero-padded to `len - 1` digits, NUL-terminated (Go's formatOctal). */
function putOctal(buf: Buffer, off: number, len: number, x: number): void {
  const s = x.toString(8).padStart(len - 1, '0');
  if (s.length > len - 1) throw new RangeError(`tar: value ${x} does not fit a ${len}-byte field`);
  buf.write(s, off, 'ascii');
}

/** Splits a long name into ustar `prefix` + `name` (Go's splitUSTARPath), or undefined if impossible. */
function splitUstar(name: string): { prefix: string; name: string } | undefined {
  const bytes = Buffer.byteLength(name);
  if (bytes <= 100) return { prefix: '', name };
  if (bytes > 256 || !/^[\x20-\x7e]*$/.test(name)) return undefined;
  let i = Math.min(name.length - 1, 155);
  while (i > 0 && name[i] !== '/') i--;
  if (i <= 0) return undefined;
  const prefix = name.slice(0, i);
  const rest = name.slice(i + 1);
  if (rest.length === 0 || rest.length > 100) return undefined;
  return { prefix, name: rest };
}

/**
 * One ustar header block as Go's `archive/tar` writes the `tar.FileInfoHeader`s of containers/image: uid/gid 0, empty
 * user/group names, modification time 0, octal fields zero-padded and NUL-terminated; preceded by a PAX block (from
 * the `tar` package) when the name or link target does not fit ustar.
 */
export function encodeHeader(h: { name: string; mode: number; size: number; type: '0' | '2' | '5'; linkname?: string }): Buffer {
  const blocks: Buffer[] = [];
  let split = /^[\x20-\x7e]*$/.test(h.name) ? splitUstar(h.name) : undefined;
  const linkname = h.linkname ?? '';
  const linkFits = Buffer.byteLength(linkname) <= 100 && /^[\x20-\x7e]*$/.test(linkname);
  if (!split || !linkFits) {
    const pax: Record<string, string> = {};
    if (!split) pax.path = h.name;
    if (!linkFits) pax.linkpath = linkname;
    blocks.push(new Pax(pax).encode());
    split ??= { prefix: '', name: Buffer.from(h.name).subarray(0, 100).toString('latin1') };
  }
  const b = Buffer.alloc(BLOCK);
  b.write(split.name, 0, 100, 'utf8');
  putOctal(b, 100, 8, h.mode);
  putOctal(b, 108, 8, 0); // uid
  putOctal(b, 116, 8, 0); // gid
  putOctal(b, 124, 12, h.size);
  putOctal(b, 136, 12, 0); // mtime
  b.write(h.type, 156, 'ascii');
  if (linkFits) b.write(linkname, 157, 100, 'utf8');
  b.write('ustar\u000000', 257, 'latin1');
  putOctal(b, 329, 8, 0); // devmajor
  putOctal(b, 337, 8, 0); // devminor
  b.write(split.prefix, 345, 155, 'utf8');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of b) sum += byte;
  putOctal(b, 148, 7, sum);
  b[154] = 0;
  b[155] = 0x20;
  blocks.push(b);
  return blocks.length === 1 ? b : Buffer.concat(blocks);
}
