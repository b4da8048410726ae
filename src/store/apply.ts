/**
 * Applying a layer tar to an empty `diff/` directory, the way containers/storage's overlay driver does:
 * every entry is created with its ownership, mode (setuid/setgid/sticky included), mtime and xattrs;
 * Docker whiteouts become overlay whiteouts (`.wh.NAME` → 0/0 character device NAME,
 * `.wh..wh..opq` → `trusted.overlay.opaque=y` on the directory). The tar-split records and the diff ID
 * are produced in the same pass.
 *
 * Hostile archives are refused (E_HOSTILE_ARCHIVE): `..` or absolute names, writing through a symlink,
 * hardlinks to anything not extracted earlier in this layer, a file over a directory, a whiteout of `.`,
 * `..` or of nothing (`.wh.`). Whiteouts are also returned as paths so that the store can check them
 * against the lower layers (whiteout-check.ts).
 */
import { createHash } from 'node:crypto';
import {
  closeSync, constants, fchmodSync, fchownSync, futimesSync, linkSync, lchownSync, lstatSync, lutimesSync, mkdirSync, openSync, rmSync,
  symlinkSync, unlinkSync, write, writeSync, chmodSync, utimesSync,
} from 'node:fs';
import { join } from 'node:path';
import { FerryError, ErrorCode } from '../errors.js';
import { ByteReader } from '../tar/byte-reader.js';
import { Crc64 } from './crc64.js';
import { storeNative } from './native.js';
import { FileBatcher, type BatchFailure } from './file-batch.js';
import { inRootlessNamespace } from './userns.js';
import { TarReader, type TarEntry } from '../tar/stream-reader.js';
import { tarPathParts } from '../tar/path.js';
import type { TarSplitWriter } from './tar-split.js';
import type { Whiteouts } from './driver.js';

/** What applying a layer found out. */
export interface AppliedLayer {
  /** sha256 of the uncompressed tar (the diff ID). */
  diffDigest: string;
  diffSize: number;
  uids: number[];
  gids: number[];
  /** What the layer deletes and which directories it makes opaque (in every mode). */
  whiteouts: Whiteouts;
}

/** Options of {@link applyLayerTar}. */
export interface ApplyOptions {
  signal?: AbortSignal;
  /** Whether to chown entries (default: when running as root). */
  chown?: boolean;
  /** How whiteouts are stored (see {@link WhiteoutMode}); `overlay` by default. */
  whiteoutMode?: WhiteoutMode;
  /** The xattr marking an opaque directory in `overlay` mode: `trusted.overlay.opaque` (default) or, rootless, `user.overlay.opaque`. */
  opaqueXattr?: string;
  /** storage.conf's `ignore_chown_errors`: an owner the user namespace lacks leaves the entry owned by its root. */
  ignoreChownErrors?: boolean;
}

/**
 * How a layer's whiteouts are stored, as containers/storage stores them: `overlay` — 0/0 character devices and an
 * opaque xattr on directories (kernel overlayfs); `aufs` — kept as the `.wh.` files of the tar, empty regular files
 * (what fuse-overlayfs reads: containers/storage's format when storage.conf sets a mount_program); `record` — not
 * stored, only returned in {@link AppliedLayer.whiteouts} (vfs applies them itself).
 */
export type WhiteoutMode = 'overlay' | 'aufs' | 'record';

type Kind = 'dir' | 'file' | 'symlink' | 'other';

const hostile = (name: string, why: string) => new FerryError(ErrorCode.HostileArchive, `refusing layer entry "${name}": ${why}`);

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;

/** Splits a tar name into clean components; refuses `..` and absolute names. `[]` means the root. */
export function cleanTarPath(name: string): string[] {
  return tarPathParts(name, (p) => hostile(name, p === 'absolute' ? 'absolute path' : p === 'dotdot' ? 'path contains ".."' : 'NUL in path'));
}

/**
 * Extracts the tar read from `source` (uncompressed bytes) into `diffDir` (must exist and be empty),
 * writing tar-split records to `split`.
 * @throws FerryError(E_HOSTILE_ARCHIVE | E_UNSUPPORTED | E_IO | E_ABORTED); the caller removes diffDir.
 */
export async function applyLayerTar(source: AsyncIterable<Buffer>, diffDir: string, split: TarSplitWriter, opts: ApplyOptions = {}): Promise<AppliedLayer> {
  const diffHash = createHash('sha256');
  let diffSize = 0;
  const bytes = new ByteReader(source, (c) => {
    diffHash.update(c);
    diffSize += c.length;
  });
  const tar = new TarReader(bytes);
  const layer = new LayerWriter(diffDir, bytes, opts);
  let prevSize = 0;
  try {
    for (;;) {
      if (opts.signal?.aborted) throw new FerryError(ErrorCode.Aborted, 'applying layer: aborted', { cause: opts.signal.reason });
      const { entry: e, raw } = await tar.next(prevSize);
      split.segment(raw);
      if (!e) break;
      prevSize = e.size;
      const crc = await layer.apply(e);
      split.file(e.name, e.size, crc);
    }
    await layer.finish();
  } catch (e) {
    // Nothing may still be writing into diffDir when the caller removes it.
    await layer.settle();
    await bytes.cancel().catch(() => {});
    if (e instanceof FerryError) throw e;
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EPERM' && err.syscall === undefined) {
      throw new FerryError(ErrorCode.Io, `applying layer: ${err.message} (device nodes and overlay whiteouts need root)`, { cause: e });
    }
    throw new FerryError(ErrorCode.Io, `applying layer: ${err.message}`, { cause: e });
  }
  split.flush();
  return {
    diffDigest: `sha256:${diffHash.digest('hex')}`,
    diffSize,
    uids: [...layer.uids].sort((a, b) => a - b),
    gids: [...layer.gids].sort((a, b) => a - b),
    whiteouts: layer.whiteouts(),
  };
}

/**
 * The state of one layer being written into its empty `diff/` directory, and one method per kind of entry. Since
 * the directory starts empty and only this code writes to it, {@link created} tells without touching the disk
 * whether a path's parents are real directories.
 */
class LayerWriter {
  readonly uids = new Set<number>();
  readonly gids = new Set<number>();
  /** What this layer created, by clean relative path (`''` is the root). */
  private readonly created = new Map<string, Kind>([['', 'dir']]);
  /** Directory modes and times, applied last (see {@link finishDirectories}). */
  private readonly dirMeta: Array<{ path: string; mode: number; mtime: number }> = [];
  /** Directories the layer has entries for (not the ones created implicitly as parents). */
  private readonly explicitDirs = new Set<string>();
  private readonly recorded: Whiteouts = { whiteouts: [], opaques: [], dirs: [] };
  private readonly record: boolean;
  private readonly aufs: boolean;
  private readonly opaqueXattr: string;
  private readonly doChown: boolean;
  private readonly myUid = process.getuid?.() ?? -1;
  private readonly myGid = process.getgid?.() ?? -1;
  private readonly native = storeNative();
  /** Small new files are created in batches on the thread pool (see file-batch.ts); absent with an older addon. */
  private readonly batcher: FileBatcher | undefined;

  constructor(
    private readonly diffDir: string,
    private readonly bytes: ByteReader,
    private readonly opts: ApplyOptions,
  ) {
    this.record = opts.whiteoutMode === 'record';
    this.aufs = opts.whiteoutMode === 'aufs';
    this.opaqueXattr = opts.opaqueXattr ?? 'trusted.overlay.opaque';
    this.doChown = opts.chown ?? process.getuid?.() === 0;
    this.batcher = typeof this.native.createFiles === 'function'
      ? new FileBatcher(this.native, opts.ignoreChownErrors === true, (f) => this.batchError(f))
      : undefined;
  }

  /** Waits for the files still being created, then sets directory modes and times. */
  async finish(): Promise<void> {
    await this.batcher?.drain();
    this.finishDirectories();
  }

  /** Waits for every file creation in flight, whatever its outcome (on failure, before diffDir is removed). */
  async settle(): Promise<void> {
    await this.batcher?.settle();
  }

  /** Applies one entry (its content is read from the tar stream); returns the CRC-64 of a file's content for tar-split. */
  async apply(e: TarEntry): Promise<Buffer | null> {
    const parts = cleanTarPath(e.name);
    const rel = parts.join('/');
    const base = parts[parts.length - 1] ?? '';
    this.uids.add(e.uid);
    this.gids.add(e.gid);
    // Whiteouts and hard links read or remove paths, and a replaced path may be a file still being created.
    if (this.batcher && (base.startsWith(WHITEOUT) || e.type === 'hardlink' || (this.created.has(rel) && this.created.get(rel) !== 'dir'))) {
      await this.batcher.drain();
    }
    if (base.startsWith(WHITEOUT)) {
      await this.whiteout(e, parts, base);
      return null;
    }
    if (parts.length === 0) {
      // The root directory itself: containers/storage keeps the layer root's own mode and owner (0555, or the
      // parent's), so nothing of the entry applies.
      if (e.type !== 'dir') throw hostile(e.name, 'the layer root must be a directory');
      return null;
    }
    this.ensureParents(parts, e.name);
    const p = this.abs(rel);
    switch (e.type) {
      case 'dir':
        this.directory(e, rel, p);
        return null;
      case 'file':
        return this.file(e, rel, p);
      case 'symlink':
        this.symlink(e, rel, p);
        return null;
      case 'hardlink':
        this.hardlink(e, rel, p);
        return null;
      case 'char':
      case 'block':
      case 'fifo':
        this.device(e, rel, p);
        return null;
    }
  }

  /** Directory modes and times, deepest first (children would change the times; 0555 dirs would refuse children). */
  private finishDirectories(): void {
    for (let i = this.dirMeta.length - 1; i >= 0; i--) {
      const d = this.dirMeta[i]!;
      chmodSync(d.path, d.mode);
      utimesSync(d.path, d.mtime, d.mtime);
    }
  }

  /** What the layer deletes and makes opaque, with the layer's own directories on the way (see Whiteouts.dirs). */
  whiteouts(): Whiteouts {
    const onTheWay = new Set<string>();
    for (const p of [...this.recorded.whiteouts.map((w) => w.slice(0, Math.max(0, w.lastIndexOf('/')))), ...this.recorded.opaques]) {
      const parts = p.split('/');
      for (let i = 1; i <= parts.length; i++) {
        const prefix = parts.slice(0, i).join('/');
        if (this.explicitDirs.has(prefix)) onTheWay.add(prefix);
      }
    }
    this.recorded.dirs = [...onTheWay];
    return this.recorded;
  }

  /**
   * `.wh..wh..opq` makes its directory opaque; `.wh.NAME` deletes NAME (an overlay whiteout: a 0/0 character device).
   * In `aufs` mode both stay files of the layer (see {@link aufsMarker}).
   */
  private async whiteout(e: TarEntry, parts: string[], base: string): Promise<void> {
    this.ensureParents(parts, e.name);
    const parentRel = parts.slice(0, -1).join('/');
    if (this.aufs) {
      await this.aufsMarker(e, parts, base, parentRel);
      return;
    }
    if (base === OPAQUE) {
      this.recorded.opaques.push(parentRel);
      if (!this.record) this.native.lsetxattr(this.abs(parentRel), this.opaqueXattr, Buffer.from('y'));
    } else if (!base.startsWith(WHITEOUT + WHITEOUT)) {
      const hidden = base.slice(WHITEOUT.length);
      // The path check saw ".wh..." as a plain name: what it deletes must be a name too.
      if (hidden === '' || hidden === '.' || hidden === '..') throw hostile(e.name, `a whiteout of "${hidden}"`);
      const targetRel = parentRel === '' ? hidden : `${parentRel}/${hidden}`;
      this.recorded.whiteouts.push(targetRel);
      if (!this.record) {
        const target = this.abs(targetRel);
        if (this.created.get(targetRel) === 'dir') rmSync(target, { recursive: true });
        else if (this.created.has(targetRel)) unlinkSync(target);
        this.native.mknod(target, S_IFCHR, 0, 0);
        if (this.doChown) this.own(e, () => lchownSync(target, e.uid, e.gid));
        this.created.set(targetRel, 'other');
      }
    }
    if (e.size > 0) await this.bytes.forEachChunk(e.size, () => {});
  }

  /**
   * A whiteout kept as the regular file the tar names (with its content, owner, mode and time: what fuse-overlayfs
   * reads); recorded all the same, so that the checks against the lower layers still run.
   */
  private async aufsMarker(e: TarEntry, parts: string[], base: string, parentRel: string): Promise<void> {
    if (base === OPAQUE) this.recorded.opaques.push(parentRel);
    else if (!base.startsWith(WHITEOUT + WHITEOUT)) {
      const hidden = base.slice(WHITEOUT.length);
      this.recorded.whiteouts.push(parentRel === '' ? hidden : `${parentRel}/${hidden}`);
    }
    const rel = parts.join('/');
    await this.file(e, rel, this.abs(rel));
  }

  private directory(e: TarEntry, rel: string, p: string): void {
    const k = this.created.get(rel);
    if (k !== undefined && k !== 'dir') this.replace(rel, e.name);
    if (this.created.get(rel) !== 'dir') mkdirSync(p, 0o700);
    this.created.set(rel, 'dir');
    this.explicitDirs.add(rel);
    if (this.doChown) this.own(e, () => lchownSync(p, e.uid, e.gid));
    this.setXattrs(p, e);
    this.dirMeta.push({ path: p, mode: e.mode, mtime: e.mtime });
  }

  /** A regular file, written as its content streams in; returns the content's CRC-64 (null when empty). */
  private async file(e: TarEntry, rel: string, p: string): Promise<Buffer | null> {
    this.replace(rel, e.name);
    // Whole-second times only: a fractional (PAX) time goes through Node's futimes, whose precision is Node's own
    // (microseconds with Node 20's libuv, nanoseconds with Node 24's), so small and big files of a layer get the same.
    if (this.batcher && e.size <= BATCH_MAX_FILE && e.xattrs.size === 0 && Number.isInteger(e.mtime) && e.mtime >= 0) {
      return this.batchedFile(e, rel, p, this.batcher);
    }
    let crc: Buffer | null;
    const fd = openSync(p, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      const c = e.size > 0 ? new Crc64() : undefined;
      const got = await this.bytes.forEachChunk(e.size, (chunk) => {
        if (chunk.length < ASYNC_WRITE_MIN) {
          c!.update(chunk);
          writeAllSync(fd, chunk);
          return;
        }
        // Big chunks: the write runs on the thread pool while the checksum is computed here.
        const w = writeAll(fd, chunk);
        c!.update(chunk);
        return w;
      });
      if (got < e.size) throw hostile(e.name, 'truncated content');
      crc = c ? c.digest() : null;
      // A new file belongs to us already: chown only to someone else (saves a syscall per file).
      if (this.doChown && (e.uid !== this.myUid || e.gid !== this.myGid)) this.own(e, () => fchownSync(fd, e.uid, e.gid));
      fchmodSync(fd, e.mode);
      futimesSync(fd, e.mtime, e.mtime);
    } finally {
      closeSync(fd);
    }
    this.created.set(rel, 'file');
    this.setXattrs(p, e);
    return crc;
  }

  /**
   * A small file (no xattrs; a time of whole seconds) read whole, then created by the batcher with
   * the same calls as {@link file}; `created` knows it at once, so later entries see it as this layer's file.
   */
  private async batchedFile(e: TarEntry, rel: string, p: string, batcher: FileBatcher): Promise<Buffer | null> {
    const c = e.size > 0 ? new Crc64() : undefined;
    const data: Buffer[] = [];
    const got = await this.bytes.forEachChunk(e.size, (chunk) => {
      c!.update(chunk);
      data.push(chunk);
    });
    if (got < e.size) throw hostile(e.name, 'truncated content');
    const chown = this.doChown && (e.uid !== this.myUid || e.gid !== this.myGid);
    this.created.set(rel, 'file');
    await batcher.add({ path: p, name: e.name, data, size: e.size, uid: e.uid, gid: e.gid, chown, mode: e.mode, mtime: e.mtime });
    return c ? c.digest() : null;
  }

  /** The error for a batched file that could not be created (an owner the user namespace lacks: as {@link own}). */
  private batchError(f: BatchFailure): Error {
    if (f.file && f.error.syscall === 'fchown' && f.error.code === 'EINVAL') return missingIds(f.file.name, f.file.uid, f.file.gid, f.error);
    return f.error;
  }

  private symlink(e: TarEntry, rel: string, p: string): void {
    this.replace(rel, e.name);
    symlinkSync(e.linkname, p);
    this.created.set(rel, 'symlink');
    if (this.doChown) this.own(e, () => lchownSync(p, e.uid, e.gid));
    this.setXattrs(p, e);
    lutimesSync(p, e.mtime, e.mtime);
  }

  /** A hard link to an entry this layer created earlier (never to anything else, nor to a directory). */
  private hardlink(e: TarEntry, rel: string, p: string): void {
    const target = cleanTarPath(e.linkname).join('/');
    const tk = this.created.get(target);
    if (tk === undefined || target === '') throw hostile(e.name, `hardlink to "${e.linkname}", which is not in this layer`);
    if (tk === 'dir') throw hostile(e.name, 'hardlink to a directory');
    if (target !== rel) {
      this.replace(rel, e.name);
      linkSync(this.abs(target), p);
      this.created.set(rel, tk);
    }
    // Like containers/storage, the hardlink header's metadata is applied to the (shared) inode; the owner
    // only when it differs (a chown would drop the file's capabilities and setuid bits).
    if (this.doChown) {
      const st = lstatSync(p);
      if (st.uid !== e.uid || st.gid !== e.gid) this.own(e, () => lchownSync(p, e.uid, e.gid));
    }
    if (tk !== 'symlink') {
      chmodSync(p, e.mode);
      this.setXattrs(p, e);
      utimesSync(p, e.mtime, e.mtime);
    }
  }

  /** Character and block devices, FIFOs. */
  private device(e: TarEntry, rel: string, p: string): void {
    this.replace(rel, e.name);
    const t = e.type === 'char' ? S_IFCHR : e.type === 'block' ? S_IFBLK : S_IFIFO;
    try {
      this.native.mknod(p, t | 0o600, e.devmajor, e.devminor);
    } catch (err) {
      // No device nodes in a user namespace: containers/storage leaves them out there, and so do we.
      if (e.type !== 'fifo' && (err as NodeJS.ErrnoException).code === 'EPERM' && inRootlessNamespace()) return;
      throw err;
    }
    this.created.set(rel, 'other');
    if (this.doChown) this.own(e, () => lchownSync(p, e.uid, e.gid));
    chmodSync(p, e.mode);
    this.setXattrs(p, e);
    lutimesSync(p, e.mtime, e.mtime);
  }

  private abs(rel: string): string {
    return rel === '' ? this.diffDir : join(this.diffDir, rel);
  }

  /** Makes sure every parent of `parts` is a directory of this layer (implicit ones are created 0755). */
  private ensureParents(parts: string[], name: string): void {
    let rel = '';
    for (let i = 0; i < parts.length - 1; i++) {
      rel = rel === '' ? parts[i]! : `${rel}/${parts[i]!}`;
      const k = this.created.get(rel);
      if (k === 'dir') continue;
      if (k === 'symlink') throw hostile(name, `writes through the symlink "${rel}"`);
      if (k !== undefined) throw hostile(name, `"${rel}" is not a directory`);
      mkdirSync(this.abs(rel), 0o755);
      this.created.set(rel, 'dir');
    }
  }

  /** Clears the way for a new non-directory entry at `rel`. */
  private replace(rel: string, name: string): void {
    const k = this.created.get(rel);
    if (k === undefined) return;
    if (k === 'dir') throw hostile(name, 'a file over a directory');
    unlinkSync(this.abs(rel));
    this.created.delete(rel);
  }

  /** Runs a chown; in a user namespace that lacks the owner's IDs (EINVAL), fails clearly or, if told so, keeps ours. */
  private own(e: TarEntry, chown: () => void): void {
    try {
      chown();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
      if (this.opts.ignoreChownErrors) return;
      throw missingIds(e.name, e.uid, e.gid, err);
    }
  }

  private setXattrs(p: string, e: TarEntry): void {
    for (const [k, v] of e.xattrs) this.native.lsetxattr(p, k, v);
  }
}

/** A chown refused because the user namespace lacks the owner's IDs. */
function missingIds(name: string, uid: number, gid: number, cause: unknown): FerryError {
  return new FerryError(
    ErrorCode.Io,
    `applying layer: cannot give "${name}" to ${uid}:${gid}, IDs this user namespace lacks (check /etc/subuid and /etc/subgid, or set ignore_chown_errors in storage.conf)`,
    { cause },
  );
}

/** Files up to this size are created in batches on the thread pool (file-batch.ts); bigger ones are streamed. */
const BATCH_MAX_FILE = 64 << 10;

/** Chunks this big are written asynchronously (thread pool); smaller ones synchronously (cheaper). */
const ASYNC_WRITE_MIN = 128 << 10;

function writeAllSync(fd: number, chunk: Buffer): void {
  let off = 0;
  while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
}

async function writeAll(fd: number, chunk: Buffer): Promise<void> {
  let off = 0;
  while (off < chunk.length) {
    off += await new Promise<number>((resolve, reject) => write(fd, chunk, off, chunk.length - off, null, (err, n) => (err ? reject(err) : resolve(n))));
  }
}

