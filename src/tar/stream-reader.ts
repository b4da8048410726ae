/**
 * A streaming tar reader that keeps the raw bytes of every header (ustar, GNU long names, PAX; decoded by
 * header.ts), as tar-split needs to rebuild the archive byte for byte. Content is not read here: after
 * {@link TarReader.next} the caller consumes exactly `entry.size` bytes with `reader.bytes`.
 */
import { FerryError, ErrorCode } from '../errors.js';
import type { ByteReader } from './byte-reader.js';
import { checksumOk, decodeHeader, EXTENSION_FLAGS, headerSize, isZeroBlock, PendingExtensions, type HeaderBlock } from './header.js';

/** File types of tar entries (the typeflag, normalized). */
export type TarType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

/** One tar entry's header: the fields of its {@link HeaderBlock} after PAX and GNU extensions are applied. */
export interface TarEntry extends Omit<HeaderBlock, 'flag' | 'mtime'> {
  type: TarType;
  /** Seconds since the epoch (fractional from PAX). */
  mtime: number;
  /** Extended attributes from PAX `SCHILY.xattr.*` records. */
  xattrs: Map<string, Buffer>;
}

const hostile = (msg: string) => new FerryError(ErrorCode.HostileArchive, `invalid layer tar: ${msg}`);

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
    const ext = new PendingExtensions();
    for (;;) {
      const h = await this.bytes.read(512);
      // EOF at a block boundary without end-of-archive blocks is accepted, as Go's archive/tar does.
      if (h.length === 0) return { entry: undefined, raw: Buffer.concat(raw) };
      if (h.length < 512) throw hostile('truncated header');
      if (isZeroBlock(h)) {
        raw.push(h, await this.bytes.rest());
        return { entry: undefined, raw: Buffer.concat(raw) };
      }
      if (!checksumOk(h, hostile)) throw hostile('header checksum mismatch');
      raw.push(h);
      const flag = String.fromCharCode(h[156]!);
      if (EXTENSION_FLAGS.has(flag)) {
        const size = headerSize(h, hostile);
        if (size > 16 << 20) throw hostile('extension header too large');
        const padded = Math.ceil(size / 512) * 512;
        const data = await this.bytes.read(padded);
        if (data.length < padded) throw hostile('truncated extension header');
        raw.push(data);
        ext.add(flag, data.subarray(0, size), hostile);
        continue;
      }
      const type = TYPES[flag];
      if (type === undefined) throw new FerryError(ErrorCode.Unsupported, `layer tar: unsupported entry type "${flag}"`);
      const b = decodeHeader(h, hostile);
      // Go's archive/tar expands sparse files; their data read as content would be the sparse map, not the file
      if (ext.sparse()) throw new FerryError(ErrorCode.Unsupported, `layer tar: ${JSON.stringify(ext.name(b).slice(0, 256))} is a GNU sparse file (PAX), which is not supported`);
      const entry: TarEntry = {
        name: ext.name(b),
        type,
        mode: b.mode & 0o7777,
        uid: ext.number('uid', b.uid),
        gid: ext.number('gid', b.gid),
        size: ext.number('size', b.size),
        mtime: ext.number('mtime', b.mtime),
        linkname: ext.linkname(b),
        devmajor: b.devmajor,
        devminor: b.devminor,
        xattrs: ext.xattrs(),
      };
      if (!Number.isSafeInteger(entry.size) || entry.size < 0) throw hostile(`bad size for ${entry.name}`);
      if (!Number.isSafeInteger(entry.uid) || entry.uid < 0 || !Number.isSafeInteger(entry.gid) || entry.gid < 0) throw hostile(`bad owner for ${entry.name}`);
      if (!Number.isFinite(entry.mtime)) throw hostile(`bad modification time for ${entry.name}`);
      if (entry.type !== 'file') entry.size = 0; // header-only types, as Go's archive/tar reads them
      return { entry, raw: Buffer.concat(raw) };
    }
  }
}
