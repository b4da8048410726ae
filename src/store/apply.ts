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
 * against the lower layers (src/store/whiteout-check.ts). Because the
 * target directory starts empty and only this code writes to it, an in-memory map of what was created
 * tells, without touching the disk, whether a path's parents are real directories.
 */
import { createHash } from 'node:crypto';
import {
  closeSync, constants, fchmodSync, fchownSync, futimesSync, linkSync, lchownSync, lstatSync, lutimesSync, mkdirSync, openSync, rmSync,
  symlinkSync, unlinkSync, write, writeSync, chmodSync, utimesSync,
} from 'node:fs';
import { join } from 'node:path';
import { FerryError, ErrorCode } from '../errors.js';
import { ByteReader } from './byte-reader.js';
import { Crc64 } from './crc64.js';
import { storeNative } from './native.js';
import { inRootlessNamespace } from './userns.js';
import { TarReader, type TarEntry } from './tar-reader.js';
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

/** Splits a tar name into clean components; refuses `..` and absolute names. '' means the root. */
export function cleanTarPath(name: string): string[] {
  if (name.startsWith('/')) throw hostile(name, 'absolute path');
  const parts: string[] = [];
  for (const p of name.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') throw hostile(name, 'path contains ".."');
    if (p.includes('\0')) throw hostile(name, 'NUL in path');
    parts.push(p);
  }
  return parts;
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
  const doChown = opts.chown ?? process.getuid?.() === 0;
  const myUid = process.getuid?.() ?? -1;
  const myGid = process.getgid?.() ?? -1;
  const created = new Map<string, Kind>([['', 'dir']]);
  const dirMeta: Array<{ path: string; mode: number; mtime: number }> = [];
  const uids = new Set<number>();
  const gids = new Set<number>();
  const record = opts.whiteoutMode === 'record';
  const aufs = opts.whiteoutMode === 'aufs';
  const opaqueXattr = opts.opaqueXattr ?? 'trusted.overlay.opaque';
  const recorded: Whiteouts = { whiteouts: [], opaques: [], dirs: [] };
  const explicitDirs = new Set<string>();
  let prevSize = 0;
  const native = storeNative();

  const abs = (rel: string) => (rel === '' ? diffDir : join(diffDir, rel));
  /** Makes sure every parent of `parts` is a directory of this layer (implicit ones are created 0755). */
  const ensureParents = (parts: string[], name: string) => {
    let rel = '';
    for (let i = 0; i < parts.length - 1; i++) {
      rel = rel === '' ? parts[i]! : `${rel}/${parts[i]!}`;
      const k = created.get(rel);
      if (k === 'dir') continue;
      if (k === 'symlink') throw hostile(name, `writes through the symlink "${rel}"`);
      if (k !== undefined) throw hostile(name, `"${rel}" is not a directory`);
      mkdirSync(abs(rel), 0o755);
      created.set(rel, 'dir');
    }
  };
  /** Clears the way for a new non-directory entry at `rel`. */
  const replace = (rel: string, name: string) => {
    const k = created.get(rel);
    if (k === undefined) return;
    if (k === 'dir') throw hostile(name, 'a file over a directory');
    unlinkSync(abs(rel));
    created.delete(rel);
  };
  /** Runs a chown; in a user namespace that lacks the owner's IDs (EINVAL), fails clearly or, if told so, keeps ours. */
  const own = (e: TarEntry, chown: () => void) => {
    try {
      chown();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
      if (opts.ignoreChownErrors) return;
      throw new FerryError(
        ErrorCode.Io,
        `applying layer: cannot give "${e.name}" to ${e.uid}:${e.gid}, IDs this user namespace lacks (check /etc/subuid and /etc/subgid, or set ignore_chown_errors in storage.conf)`,
        { cause: err },
      );
    }
  };
  const setXattrs = (p: string, e: TarEntry) => {
    for (const [k, v] of e.xattrs) native.lsetxattr(p, k, v);
  };

  try {
    for (;;) {
      if (opts.signal?.aborted) throw new FerryError(ErrorCode.Aborted, 'applying layer: aborted', { cause: opts.signal.reason });
      const { entry: e, raw } = await tar.next(prevSize);
      split.segment(raw);
      if (!e) break;
      prevSize = e.size;
      const parts = cleanTarPath(e.name);
      const rel = parts.join('/');
      const base = parts[parts.length - 1] ?? '';
      uids.add(e.uid);
      gids.add(e.gid);
      let crc: Buffer | null = null;

      if (base.startsWith(WHITEOUT)) {
        ensureParents(parts, e.name);
        const parentRel = parts.slice(0, -1).join('/');
        if (aufs) {
          // Kept as a file of the layer (nothing is deleted here); recorded all the same for the checks below.
          if (base === OPAQUE) recorded.opaques.push(parentRel);
          else if (!base.startsWith(WHITEOUT + WHITEOUT)) recorded.whiteouts.push(parentRel === '' ? base.slice(WHITEOUT.length) : `${parentRel}/${base.slice(WHITEOUT.length)}`);
          replace(rel, e.name);
          const fd = openSync(abs(rel), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
          try {
            if (doChown && (e.uid !== myUid || e.gid !== myGid)) own(e, () => fchownSync(fd, e.uid, e.gid));
            fchmodSync(fd, e.mode);
            futimesSync(fd, e.mtime, e.mtime);
          } finally {
            closeSync(fd);
          }
          created.set(rel, 'file');
        } else if (base === OPAQUE) {
          recorded.opaques.push(parentRel);
          if (!record) native.lsetxattr(abs(parentRel), opaqueXattr, Buffer.from('y'));
        } else if (!base.startsWith(WHITEOUT + WHITEOUT)) {
          const hidden = base.slice(WHITEOUT.length);
          // The path check above saw ".wh..." as a plain name: what it deletes must be a name too.
          if (hidden === '' || hidden === '.' || hidden === '..') throw hostile(e.name, `a whiteout of "${hidden}"`);
          const targetRel = parentRel === '' ? hidden : `${parentRel}/${hidden}`;
          recorded.whiteouts.push(targetRel);
          if (!record) {
            if (created.get(targetRel) === 'dir') rmSync(abs(targetRel), { recursive: true });
            else if (created.has(targetRel)) unlinkSync(abs(targetRel));
            native.mknod(abs(targetRel), S_IFCHR, 0, 0);
            if (doChown) own(e, () => lchownSync(abs(targetRel), e.uid, e.gid));
            created.set(targetRel, 'other');
          }
        }
        if (e.size > 0) await bytes.forEachChunk(e.size, () => {});
        split.file(e.name, e.size, null);
        continue;
      }

      if (parts.length === 0) {
        // The root directory itself: only its metadata applies.
        // containers/storage keeps the layer root's own mode and owner (0555, or the parent's): so do we.
        if (e.type !== 'dir') throw hostile(e.name, 'the layer root must be a directory');
        split.file(e.name, 0, null);
        continue;
      }
      ensureParents(parts, e.name);
      const p = abs(rel);
      switch (e.type) {
        case 'dir': {
          const k = created.get(rel);
          if (k !== undefined && k !== 'dir') replace(rel, e.name);
          if (created.get(rel) !== 'dir') mkdirSync(p, 0o700);
          created.set(rel, 'dir');
          explicitDirs.add(rel);
          if (doChown) own(e, () => lchownSync(p, e.uid, e.gid));
          setXattrs(p, e);
          dirMeta.push({ path: p, mode: e.mode, mtime: e.mtime });
          break;
        }
        case 'file': {
          replace(rel, e.name);
          const fd = openSync(p, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
          try {
            const c = e.size > 0 ? new Crc64() : undefined;
            const got = await bytes.forEachChunk(e.size, (chunk) => {
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
            if (doChown && (e.uid !== myUid || e.gid !== myGid)) own(e, () => fchownSync(fd, e.uid, e.gid));
            fchmodSync(fd, e.mode);
            futimesSync(fd, e.mtime, e.mtime);
          } finally {
            closeSync(fd);
          }
          created.set(rel, 'file');
          setXattrs(p, e);
          break;
        }
        case 'symlink':
          replace(rel, e.name);
          symlinkSync(e.linkname, p);
          created.set(rel, 'symlink');
          if (doChown) own(e, () => lchownSync(p, e.uid, e.gid));
          setXattrs(p, e);
          lutimesSync(p, e.mtime, e.mtime);
          break;
        case 'hardlink': {
          const target = cleanTarPath(e.linkname).join('/');
          const tk = created.get(target);
          if (tk === undefined || target === '') throw hostile(e.name, `hardlink to "${e.linkname}", which is not in this layer`);
          if (tk === 'dir') throw hostile(e.name, 'hardlink to a directory');
          if (target !== rel) {
            replace(rel, e.name);
            linkSync(abs(target), p);
            created.set(rel, tk);
          }
          // Like containers/storage, the hardlink header's metadata is applied to the (shared) inode; the owner
          // only when it differs (a chown would drop the file's capabilities and setuid bits).
          if (doChown) {
            const st = lstatSync(p);
            if (st.uid !== e.uid || st.gid !== e.gid) own(e, () => lchownSync(p, e.uid, e.gid));
          }
          if (tk !== 'symlink') {
            chmodSync(p, e.mode);
            setXattrs(p, e);
            utimesSync(p, e.mtime, e.mtime);
          }
          break;
        }
        case 'char':
        case 'block':
        case 'fifo': {
          replace(rel, e.name);
          const t = e.type === 'char' ? S_IFCHR : e.type === 'block' ? S_IFBLK : S_IFIFO;
          try {
            native.mknod(p, t | 0o600, e.devmajor, e.devminor);
          } catch (err) {
            // No device nodes in a user namespace: containers/storage leaves them out there, and so do we.
            if (e.type !== 'fifo' && (err as NodeJS.ErrnoException).code === 'EPERM' && inRootlessNamespace()) break;
            throw err;
          }
          created.set(rel, 'other');
          if (doChown) own(e, () => lchownSync(p, e.uid, e.gid));
          chmodSync(p, e.mode);
          setXattrs(p, e);
          lutimesSync(p, e.mtime, e.mtime);
          break;
        }
      }
      split.file(e.name, e.size, crc);
    }
    // Directory modes and times last (children would change the times; 0555 dirs would refuse children).
    for (let i = dirMeta.length - 1; i >= 0; i--) {
      const d = dirMeta[i]!;
      chmodSync(d.path, d.mode);
      utimesSync(d.path, d.mtime, d.mtime);
    }
  } catch (e) {
    await bytes.cancel().catch(() => {});
    if (e instanceof FerryError) throw e;
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EPERM' && err.syscall === undefined) {
      throw new FerryError(ErrorCode.Io, `applying layer: ${err.message} (device nodes and overlay whiteouts need root)`, { cause: e });
    }
    throw new FerryError(ErrorCode.Io, `applying layer: ${err.message}`, { cause: e });
  }
  split.flush();
  // The layer's own directories on the way to its whiteouts (see Whiteouts.dirs).
  const onTheWay = new Set<string>();
  for (const p of [...recorded.whiteouts.map((w) => w.slice(0, Math.max(0, w.lastIndexOf('/')))), ...recorded.opaques]) {
    const parts = p.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const prefix = parts.slice(0, i).join('/');
      if (explicitDirs.has(prefix)) onTheWay.add(prefix);
    }
  }
  recorded.dirs = [...onTheWay];
  return {
    diffDigest: `sha256:${diffHash.digest('hex')}`,
    diffSize,
    uids: [...uids].sort((a, b) => a - b),
    gids: [...gids].sort((a, b) => a - b),
    whiteouts: recorded,
  };
}

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

