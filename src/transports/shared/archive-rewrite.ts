/**
 * Rewriting an archive file that holds several images (`oci-archive:`, `docker-archive:`): the new archive is
 * written to a temporary file in a directory beside it, then fsynced and renamed over it, all under a lock beside
 * it (`.NAME.ferry-lock`), so that two writers adding images to the same archive never lose one another's image,
 * and a reader sees the old archive or the new one, never a mix. The old archive is read as a tar index (headers
 * only; a gzip-compressed one is decompressed into the temporary-files directory first), and entries are copied
 * from it by offset.
 */
import { rename, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FerryError, ErrorCode } from '../../errors.js';
import type { OpOptions } from '../../types/context.js';
import { AtomicFileSink, fsyncDir } from '../../util/atomic.js';
import { acquireLock } from '../../util/lock.js';
import type { TempOptions } from '../../util/temp.js';
import { uncompressedTar } from './uncompressed-tar.js';
import { indexTar, type TarEntry, type TarIndex } from '../../tar/file-index.js';
import { TarWriter } from '../../tar/writer.js';
import { ioError, isNotFoundError } from './files.js';

/** How long a writer waits for another one to finish rewriting the same archive (large archives take minutes). */
const LOCK_TIMEOUT_MS = 30 * 60_000;

/** The lock file guarding rewrites of the archive at `path`. */
export function archiveLockPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.ferry-lock`);
}

/** Whether `path` is an existing regular file with content (an archive to add to). */
export async function hasArchiveContent(path: string): Promise<boolean> {
  try {
    const st = await stat(path);
    return st.isFile() && st.size > 0;
  } catch (e) {
    if (isNotFoundError(e)) return false;
    throw ioError(`reading ${path}`, e);
  }
}

/** Options of {@link rewriteArchive}. */
export interface RewriteOptions extends OpOptions, TempOptions {
  /** Directory for the new archive's temporary file: on the archive's file system, typically an owned directory beside it. */
  sinkDir: string;
  /** Read the old archive (default); false: `write` gets none and the archive is replaced. */
  keepOld?: boolean;
  /** A complete archive (in `sinkDir`) to rename into place as it is when there is no old archive. */
  whenNew?: string;
  /** Runs once the new archive is in place, still under the lock (e.g. to write a file that describes it). */
  afterCommit?: () => Promise<void>;
  /** Where the old archive is read from, when not at `path` (the first part of a split archive). */
  readFrom?: string;
  /** Puts the complete new archive (a file in `sinkDir`) in place instead of renaming it to `path` (splits it). */
  place?: (file: string) => Promise<void>;
}

/**
 * Writes a new archive at `path` from the old one: `write` gets the old archive's index (undefined when there is
 * none, or it is empty) and a tar writer, writes every entry of the new archive and finishes the tar; the result
 * replaces `path` atomically. Errors name the archive (`what`); on failure the old archive is left as it was.
 * @throws FerryError from reading the old archive (E_INVALID_MANIFEST, E_HOSTILE_ARCHIVE, …), from `write`, E_IO.
 */
export async function rewriteArchive(
  path: string,
  what: string,
  write: (old: TarIndex | undefined, tar: TarWriter) => Promise<void>,
  opts: RewriteOptions,
): Promise<void> {
  const lock = await acquireLock(archiveLockPath(path), { signal: opts.signal, timeoutMs: LOCK_TIMEOUT_MS });
  let spool: Awaited<ReturnType<typeof uncompressedTar>>['temp'];
  let sink: AtomicFileSink | undefined;
  try {
    let old: TarIndex | undefined;
    const from = opts.readFrom ?? path;
    if (opts.keepOld !== false && (await hasArchiveContent(from))) {
      const { tarPath, temp } = await uncompressedTar(from, what, opts);
      spool = temp;
      old = await indexTar(tarPath, what, opts);
    }
    if (old === undefined && opts.whenNew !== undefined) {
      if (opts.place) await opts.place(opts.whenNew);
      else {
        await rename(opts.whenNew, path);
        await fsyncDir(dirname(path));
      }
      await opts.afterCommit?.();
      return;
    }
    sink = await AtomicFileSink.open({ dir: opts.sinkDir }, { signal: opts.signal });
    await write(old, new TarWriter(sink.stream));
    if (opts.place) {
      const whole = join(opts.sinkDir, 'archive.whole');
      await sink.commit(whole);
      await opts.place(whole);
    } else await sink.commit(path);
    await opts.afterCommit?.();
  } catch (e) {
    await sink?.abort();
    if (e instanceof FerryError) throw e;
    throw ioError(`writing ${what}`, e);
  } finally {
    await spool?.remove().catch(() => {});
    await lock.release();
  }
}

/**
 * Copies an entry of `old` into `tar` as it is: directories and symbolic links as such, files (and hard links,
 * as copies of their targets) with their permission bits. Other kinds are left out.
 * @throws FerryError(E_INVALID_MANIFEST) for a hard link to nothing; E_IO, E_SIZE_MISMATCH.
 */
export async function copyTarEntry(old: TarIndex, e: TarEntry, tar: TarWriter, opts: OpOptions = {}): Promise<void> {
  if (e.kind === 'directory') return tar.addDirectory(e.name, e.mode & 0o7777);
  if (e.kind === 'symlink') return tar.addSymlink(e.name, e.linkpath ?? '');
  if (e.kind !== 'file' && e.kind !== 'hardlink') return;
  const file = e.kind === 'file' ? e : old.resolve(e.name);
  if (!file) throw new FerryError(ErrorCode.InvalidManifest, `${old.what}: ${e.name} links to nothing`);
  await tar.addFile(e.name, file.size, old.openEntry(file, { signal: opts.signal }), { ...opts, mode: e.mode & 0o7777 });
}
