/**
 * A seekable index of an uncompressed tar file: one pass over the headers (the data is never read),
 * then any entry can be streamed straight from the file with `createReadStream(path, {start, end})`.
 * Archives of several GB are therefore read without extracting them.
 *
 * Headers are decoded by header.ts. Every entry name is checked while indexing (path.ts, plus the Windows
 * forms of absolute and `..` names): absolute names, names escaping the archive root with `..`, and links pointing
 * outside it make the archive hostile (E_HOSTILE_ARCHIVE).
 */
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { FerryError, ErrorCode, ioError } from '../errors.js';
import type { OpOptions } from '../types/context.js';
import { checkAborted } from '../util/abort.js';
import { BLOCK, checksumOk, decodeHeader, EXTENSION_FLAGS, isZeroBlock, PendingExtensions } from './header.js';
import { tarPathParts } from './path.js';

/** Chunk size of entry streams: large chunks keep per-chunk overhead (hashing, progress) low. */
const READ_CHUNK = 1 << 20;

/** Kinds of entries the index distinguishes. */
export type TarEntryKind = 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';

/** One entry of a tar file. */
export interface TarEntry {
  /** Normalized relative name (`a/b`, no leading `./` or `/`, no trailing `/`). */
  name: string;
  kind: TarEntryKind;
  /** Byte offset of the entry's data in the tar file. */
  offset: number;
  /** Data size in bytes (0 for links and directories). */
  size: number;
  /** Link target as stored (symlinks: relative to the entry's directory; hard links: relative to the root). */
  linkpath?: string;
  /** Permission bits from the header. */
  mode: number;
}

/** Longest PAX / GNU long-name body accepted (a hostile archive could declare gigabytes). */
const MAX_META_SIZE = 1 << 20;
/** Longest chain of links followed by {@link TarIndex.resolve}. */
const MAX_LINK_HOPS = 32;

/** A name from the archive as a message shows it: quoted, and cut short (a PAX or GNU name may be a megabyte long). */
function shown(name: string): string {
  return JSON.stringify(name.length > 256 ? `${name.slice(0, 256)}…` : name);
}

function hostile(what: string, why: string): FerryError {
  return new FerryError(ErrorCode.HostileArchive, `${what}: refusing hostile archive: ${why}`);
}

function invalidArchive(what: string, why: string): FerryError {
  return new FerryError(ErrorCode.InvalidManifest, `${what}: ${why}`);
}

/**
 * Normalizes a tar entry name to a relative path inside the archive root.
 * @returns `''` for the root itself (`./`).
 * @throws FerryError(E_HOSTILE_ARCHIVE) for absolute names, names escaping the root, or NUL bytes.
 */
export function cleanEntryName(raw: string, what: string): string {
  const refuse = (problem: 'absolute' | 'dotdot' | 'nul') =>
    hostile(what, problem === 'nul' ? `entry name ${shown(raw)} contains a NUL byte`
      : problem === 'absolute' ? `entry ${shown(raw)} has an absolute path`
      : `entry ${shown(raw)} contains a ".." component`);
  if (raw.includes('\0')) throw refuse('nul');
  // Archives may come from Windows: refuse its absolute and `..` forms too.
  if (/^[A-Za-z]:[\\/]/.test(raw) || raw.startsWith('\\')) throw refuse('absolute');
  if (raw.split('\\').includes('..')) throw refuse('dotdot');
  return tarPathParts(raw, refuse).join('/');
}

/**
 * The archive-relative target of a link entry, or throws if it points outside the archive.
 * Symlink targets are relative to the link's directory; hard-link targets to the root.
 */
function linkTarget(entry: TarEntry, what: string): string {
  const lp = entry.linkpath ?? '';
  if (lp.startsWith('/')) throw hostile(what, `link ${shown(entry.name)} points to the absolute path ${shown(lp)}`);
  const joined = entry.kind === 'symlink' ? posix.join(posix.dirname(entry.name), lp) : posix.normalize(lp);
  if (joined === '..' || joined.startsWith('../')) {
    throw hostile(what, `link ${shown(entry.name)} -> ${shown(lp)} points outside the archive`);
  }
  return joined === '.' ? '' : joined.replace(/\/+$/, '');
}

/** An indexed tar file; see the module comment. */
export class TarIndex {
  /** The tar file. */
  readonly path: string;
  /** Entries by normalized name (a later entry of the same name replaces an earlier one, as on extraction). */
  readonly entries: ReadonlyMap<string, TarEntry>;
  /** Entries in archive order. */
  readonly list: readonly TarEntry[];
  /** What the archive is, for error messages. */
  readonly what: string;

  constructor(path: string, list: TarEntry[], what: string) {
    this.path = path;
    this.list = list;
    this.what = what;
    this.entries = new Map(list.map((e) => [e.name, e] as const));
  }

  /**
   * The regular-file entry at `name` (normalized like entry names), following symbolic and hard links
   * inside the archive (docker save links duplicate layers). Undefined if there is none.
   * @throws FerryError(E_HOSTILE_ARCHIVE) for a name or link leaving the archive, or a link loop.
   */
  resolve(name: string): TarEntry | undefined {
    let current = cleanEntryName(name, this.what);
    for (let hops = 0; hops <= MAX_LINK_HOPS; hops++) {
      const e = this.entries.get(current);
      if (!e) return undefined;
      if (e.kind === 'file') return e;
      if (e.kind !== 'symlink' && e.kind !== 'hardlink') return undefined;
      current = linkTarget(e, this.what);
    }
    throw hostile(this.what, `too many levels of links at ${shown(name)}`);
  }

  /**
   * Streams the data of a file entry from byte `offset` of the entry (default 0).
   * The stream is destroyed when `opts.signal` aborts.
   */
  openEntry(entry: TarEntry, opts: OpOptions & { offset?: number } = {}): Readable {
    checkAborted(opts.signal, `reading ${entry.name} from ${this.what}`);
    const from = opts.offset ?? 0;
    if (!Number.isSafeInteger(from) || from < 0 || from > entry.size) {
      throw new FerryError(ErrorCode.Io, `${entry.name} in ${this.what}: cannot read from offset ${from}, it has ${entry.size} bytes`);
    }
    // `end` is inclusive, and createReadStream refuses start > end: an empty range (an empty entry, or a read resumed
    // at its end) is an empty stream.
    if (from === entry.size) return Readable.from([]);
    return createReadStream(this.path, {
      start: entry.offset + from,
      end: entry.offset + entry.size - 1,
      highWaterMark: READ_CHUNK,
      signal: opts.signal,
    });
  }

  /**
   * Reads a whole (small) file entry, refusing more than `maxSize` bytes.
   * @throws FerryError(E_INVALID_MANIFEST) if it is larger, E_IO on read errors.
   */
  async readEntry(entry: TarEntry, maxSize: number, opts: OpOptions = {}): Promise<Buffer> {
    if (entry.size > maxSize) {
      throw invalidArchive(this.what, `${entry.name} is too large (${entry.size} bytes, at most ${maxSize} accepted)`);
    }
    checkAborted(opts.signal, `reading ${entry.name} from ${this.what}`);
    let fh: FileHandle | undefined;
    try {
      fh = await open(this.path, 'r');
      const buf = Buffer.alloc(entry.size);
      const { bytesRead } = await fh.read(buf, 0, entry.size, entry.offset);
      if (bytesRead !== entry.size) throw invalidArchive(this.what, `truncated archive: ${entry.name} ends past the end of the file`);
      return buf;
    } catch (e) {
      throw ioError(`reading ${entry.name} from ${this.what}`, e);
    } finally {
      await fh?.close().catch(() => {});
    }
  }
}

function kindOf(flag: string): TarEntryKind {
  switch (flag) {
    case '0':
    case '\0':
    case '7':
      return 'file';
    case '5':
      return 'directory';
    case '2':
      return 'symlink';
    case '1':
      return 'hardlink';
    default:
      return 'other';
  }
}

/** Opens `path` for reading: E_NOT_FOUND (`WHAT: no such file PATH`) when it is missing, E_IO otherwise. */
async function openForReading(path: string, what: string): Promise<FileHandle> {
  try {
    return await open(path, 'r');
  } catch (e) {
    const code = (e as { code?: unknown } | null)?.code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new FerryError(ErrorCode.NotFound, `${what}: no such file ${path}`, { cause: e });
    throw ioError(`opening ${what}`, e);
  }
}

/** Reads exactly `len` bytes at `pos`, or fails as a truncated archive. */
async function readExact(fh: FileHandle, pos: number, len: number, fileSize: number, what: string, entryName: string): Promise<Buffer> {
  if (pos + len > fileSize) throw invalidArchive(what, `truncated archive: ${entryName} ends past the end of the file`);
  const buf = Buffer.alloc(len);
  const { bytesRead } = await fh.read(buf, 0, len, pos);
  if (bytesRead !== len) throw invalidArchive(what, `truncated archive: ${entryName} ends past the end of the file`);
  return buf;
}

/**
 * Indexes the tar file at `path` (headers only).
 * @param what names the archive in error messages, e.g. `docker archive /tmp/x.tar`.
 * @throws FerryError(E_NOT_FOUND) for a missing file; E_HOSTILE_ARCHIVE for entries escaping the root;
 *         E_INVALID_MANIFEST for a truncated or corrupt tar (bad header checksum); E_IO, E_ABORTED.
 */
export async function indexTar(path: string, what: string, opts: OpOptions = {}): Promise<TarIndex> {
  checkAborted(opts.signal, `reading ${what}`);
  const fh = await openForReading(path, what);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new FerryError(ErrorCode.Io, `${what}: ${path} is not a regular file`);
    const fileSize = st.size;
    const list: TarEntry[] = [];
    let pos = 0;
    const bad = (why: string) => invalidArchive(what, `not a valid tar file (${why} at offset ${pos})`);
    let ext = new PendingExtensions();
    let sawEnd = false;
    const head = Buffer.alloc(BLOCK);
    while (pos + BLOCK <= fileSize) {
      checkAborted(opts.signal, `reading ${what}`);
      const { bytesRead } = await fh.read(head, 0, BLOCK, pos);
      if (bytesRead !== BLOCK) break;
      if (isZeroBlock(head)) {
        sawEnd = true;
        break;
      }
      if (!checksumOk(head, bad)) throw invalidArchive(what, `not a valid tar file (bad header checksum at offset ${pos})`);
      const h = decodeHeader(head, bad);
      const size = EXTENSION_FLAGS.has(h.flag) ? h.size : ext.number('size', h.size);
      if (!Number.isSafeInteger(size) || size < 0) throw invalidArchive(what, `invalid entry size at offset ${pos}`);
      const dataOffset = pos + BLOCK;
      const next = dataOffset + Math.ceil(size / BLOCK) * BLOCK;
      if (EXTENSION_FLAGS.has(h.flag)) {
        if (size > MAX_META_SIZE) throw invalidArchive(what, `oversized extension header (type ${JSON.stringify(h.flag)}) at offset ${pos}`);
        ext.add(h.flag, await readExact(fh, dataOffset, size, fileSize, what, `header at offset ${pos}`), bad);
        pos = next;
        continue;
      }
      const rawName = ext.name(h);
      const linkpath = ext.linkname(h);
      ext = new PendingExtensions();
      const kind = kindOf(h.flag);
      const name = cleanEntryName(rawName, what);
      if (next > fileSize || dataOffset + size > fileSize) {
        throw invalidArchive(what, `truncated archive: ${shown(rawName)} ends past the end of the file`);
      }
      const entry: TarEntry = { name, kind, offset: dataOffset, size: kind === 'file' ? size : 0, mode: h.mode };
      if (kind === 'symlink' || kind === 'hardlink') {
        entry.linkpath = linkpath;
        linkTarget(entry, what); // refuse escaping links up front
      }
      if (name !== '') list.push(entry);
      pos = next;
    }
    if (!sawEnd) {
      // A tar ends with zero blocks; without them (or with a partial header) the file was cut short.
      if (pos !== fileSize || list.length === 0) throw invalidArchive(what, 'truncated archive: no end-of-archive marker');
    }
    return new TarIndex(path, list, what);
  } catch (e) {
    throw ioError(`reading ${what}`, e);
  } finally {
    await fh.close().catch(() => {});
  }
}
