/**
 * Taking a complete blob file into a file-based destination without copying its bytes: the copy engine has
 * already written the blob to a partial-download file (to resume after a crash) and verified every byte on
 * the way; the destination then renames that file to the blob's path (or hard-links it, when the partial must
 * stay until commit) instead of receiving the same bytes once more through `putBlob`.
 */
import { link, open, rename, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AdoptBlobFileOptions, BlobInfo } from '../../types/image.js';
import { syncDirAfterRename, type DirSyncBatch } from '../../util/atomic.js';
import { ioError } from '../../errors.js';
import { checkAborted } from './files.js';
import { makeDirs } from '../../util/make-dirs.js';

/** Mode of blob files before the umask, as written by `putBlob` (AtomicFileSink's default). */
const BLOB_FILE_MODE = 0o644;

/** Errors that mean "this file system cannot rename/link here": fall back to copying. */
const CANNOT_LINK = new Set(['EXDEV', 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK', 'ENOSYS']);

/**
 * Puts the verified blob file `src` at `finalPath` (see `ImageDestination.adoptBlobFile`, src/types/image.ts): reuses a file
 * of the right size already there; else fsyncs `src`, renames or hard-links it to `finalPath`, and fsyncs the
 * directory (or adds it to `opts.dirSync`). Readers of `finalPath` only ever see the complete file.
 * @returns undefined when the file system refuses the rename/link (the caller copies instead).
 * @throws FerryError(E_SIZE_MISMATCH) if `src` is not `info.size` bytes long, E_IO, E_ABORTED.
 */
export async function adoptFileAt(
  src: string,
  finalPath: string,
  info: BlobInfo,
  opts: AdoptBlobFileOptions & { fsync?: boolean; dirSync?: DirSyncBatch; onCreated?: (path: string) => void },
): Promise<BlobInfo | undefined> {
  const what = `storing blob ${info.digest} at ${finalPath}`;
  checkAborted(opts.signal, what);
  try {
    const existing = await stat(finalPath).catch(() => undefined);
    if (existing?.isFile() && existing.size === info.size) {
      if (opts.fsync !== false) opts.dirSync?.add(dirname(finalPath)); // its entry may not be durable yet
      if (!opts.keepSource) await unlink(src).catch(() => {});
      return { ...info, size: existing.size };
    }
    const fh = await open(src, 'r');
    try {
      const st = await fh.stat();
      if (st.size !== info.size) return undefined; // not what the caller thinks: let putBlob verify
      // Partials are private (0600); blobs get the mode putBlob gives them.
      await fh.chmod(BLOB_FILE_MODE & ~process.umask());
      if (opts.fsync !== false) await fh.sync();
    } finally {
      await fh.close();
    }
    checkAborted(opts.signal, what);
    await makeDirs(dirname(finalPath));
    try {
      if (opts.keepSource) {
        await link(src, finalPath).catch(async (e: NodeJS.ErrnoException) => {
          if (e.code !== 'EEXIST') throw e;
          await unlink(finalPath); // a stale or wrong-sized file: replaced
          await link(src, finalPath);
        });
      } else {
        await rename(src, finalPath);
      }
    } catch (e) {
      if (CANNOT_LINK.has((e as NodeJS.ErrnoException).code ?? '')) return undefined;
      throw e;
    }
    opts.onCreated?.(finalPath);
    await syncDirAfterRename(dirname(finalPath), opts);
    return { ...info };
  } catch (e) {
    throw ioError(what, e);
  }
}
