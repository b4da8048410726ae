/**
 * A streaming tar reader that keeps the raw bytes of every header (ustar, GNU long names, PAX), as
 * tar-split needs to rebuild the archive byte for byte. Content is not read here: after
 * {@link TarReader.next} the caller consumes exactly `entry.size` bytes with `reader.bytes`.
 */
import { FerryError, ErrorCode } from '../errors.js';
import type { ByteReader } from './byte-reader.js';

/** File types of tar entries (the typeflag, normalized). */
export type TarType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

/** One tar entry's header, after PAX and GNU extensions are applied. */
export interface TarEntry {
  name: string;
  type: TarType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch (fractional from PAX). */
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  /** Extended attributes from PAX `SCHILY.xattr.*` records. */
  xattrs: Map<string, Buffer>;
}

const hostile = (msg: string) => new FerryError(ErrorCode.HostileArchive, `invalid layer tar: ${msg}`);

function cstring(b: Buffer, start: number, len: number): Buffer {
  const f = b.subarray(start, start + len);
  const z = f.indexOf(0);
  return z === -1 ? f : f.subarray(0, z);
}

function numeric(b: Buffer, start: number, len: number, field: string): number {
  const f = b.subarray(start, start + len);
  if (f[0]! & 0x80) {
    // GNU base-256: big-endian two's complement with the top bit as marker.
    let v = 0n;
    for (let i = 0; i < f.length; i++) v = (v << 8n) | BigInt(i === 0 ? f[i]! & 0x7f : f[i]!);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw hostile(`${field} too large`);
    return Number(v);
  }
  const s = f.toString('latin1').replace(/\0.*$/s, '').trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw hostile(`bad ${field} field "${s}"`);
  return parseInt(s, 8);
}

function checksumOk(h: Buffer): boolean {
  const stored = numeric(h, 148, 8, 'checksum');
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
  return sum === stored;
}

/** PAX records `LEN key=value\n` (values are bytes: xattrs may be binary). */
function parsePax(data: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let pos = 0;
  while (pos < data.length) {
    const sp = data.indexOf(0x20, pos);
    if (sp === -1) break;
    const len = parseInt(data.subarray(pos, sp).toString('latin1'), 10);
    if (!Number.isFinite(len) || len <= 0 || pos + len > data.length) throw hostile('bad PAX record');
    const rec = data.subarray(sp + 1, pos + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq === -1) throw hostile('bad PAX record');
    out.set(rec.subarray(0, eq).toString('utf8'), Buffer.from(rec.subarray(eq + 1)));
    pos += len;
  }
  return out;
}

const TYPES: Record<string, TarType> = {
  '0': 'file', '\0': 'file', '7': 'file', '1': 'hardlink', '2': 'symlink', '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo',
};

/** Reads entries one by one; see the module comment. */
export class TarReader {
  readonly bytes: ByteReader;
  private pendingPad = 0;

  constructor(bytes: ByteReader) {
    this.bytes = bytes;
  }

  /**
   * The next entry and the raw bytes before its content (previous padding, extension headers, header),
   * or `{entry: undefined, raw}` at the end, where `raw` is everything left (end blocks, trailing bytes).
   * @throws FerryError(E_HOSTILE_ARCHIVE) for a malformed archive.
   */
  async next(previousSize: number): Promise<{ entry: TarEntry | undefined; raw: Buffer }> {
    const raw: Buffer[] = [];
    const pad = (512 - (previousSize % 512)) % 512;
    if (pad > 0) {
      const p = await this.bytes.read(pad);
      if (p.length < pad) throw hostile('truncated archive');
      raw.push(p);
    }
    let pax = new Map<string, Buffer>();
    let longName: string | undefined;
    let longLink: string | undefined;
    for (;;) {
      const h = await this.bytes.read(512);
      // EOF at a block boundary without end-of-archive blocks is accepted, as Go's archive/tar does.
      if (h.length === 0) return { entry: undefined, raw: Buffer.concat(raw) };
      if (h.length < 512) throw hostile('truncated header');
      if (h.every((x) => x === 0)) {
        raw.push(h, await this.bytes.rest());
        return { entry: undefined, raw: Buffer.concat(raw) };
      }
      if (!checksumOk(h)) throw hostile('header checksum mismatch');
      raw.push(h);
      const flag = String.fromCharCode(h[156]!);
      const size = numeric(h, 124, 12, 'size');
      if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
        if (size > 16 << 20) throw hostile('extension header too large');
        const padded = Math.ceil(size / 512) * 512;
        const data = await this.bytes.read(padded);
        if (data.length < padded) throw hostile('truncated extension header');
        raw.push(data);
        const body = data.subarray(0, size);
        if (flag === 'x') pax = new Map([...pax, ...parsePax(body)]);
        else if (flag === 'L') longName = cstring(body, 0, body.length).toString('utf8');
        else if (flag === 'K') longLink = cstring(body, 0, body.length).toString('utf8');
        continue; // global PAX headers only carry defaults nobody relies on for layers
      }
      const type = TYPES[flag];
      if (type === undefined) throw new FerryError(ErrorCode.Unsupported, `layer tar: unsupported entry type "${flag}"`);
      const magic = h.subarray(257, 263).toString('latin1');
      let name = cstring(h, 0, 100).toString('utf8');
      if (magic === 'ustar\0') {
        const prefix = cstring(h, 345, 155).toString('utf8');
        if (prefix) name = `${prefix}/${name}`;
      }
      const entry: TarEntry = {
        name: pax.get('path')?.toString('utf8') ?? longName ?? name,
        type,
        mode: numeric(h, 100, 8, 'mode') & 0o7777,
        uid: pax.has('uid') ? Number(pax.get('uid')!.toString()) : numeric(h, 108, 8, 'uid'),
        gid: pax.has('gid') ? Number(pax.get('gid')!.toString()) : numeric(h, 116, 8, 'gid'),
        size: pax.has('size') ? Number(pax.get('size')!.toString()) : size,
        mtime: pax.has('mtime') ? Number(pax.get('mtime')!.toString()) : numeric(h, 136, 12, 'mtime'),
        linkname: pax.get('linkpath')?.toString('utf8') ?? longLink ?? cstring(h, 157, 100).toString('utf8'),
        devmajor: numeric(h, 329, 8, 'devmajor'),
        devminor: numeric(h, 337, 8, 'devminor'),
        xattrs: new Map(),
      };
      for (const [k, v] of pax) if (k.startsWith('SCHILY.xattr.')) entry.xattrs.set(k.slice('SCHILY.xattr.'.length), v);
      if (!Number.isSafeInteger(entry.size) || entry.size < 0) throw hostile(`bad size for ${entry.name}`);
      if (entry.type !== 'file') entry.size = 0; // header-only types, as Go's archive/tar reads them
      return { entry, raw: Buffer.concat(raw) };
    }
  }
}
