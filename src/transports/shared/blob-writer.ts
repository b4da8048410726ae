/**
 * The blob writer of the file-based destinations (oci, dir, archives): streams a blob into a
 * temporary file while verifying it, then renames it to its content-addressed path.
 */
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FerryError, ErrorCode, ioError, sizeMismatch } from '../../errors.js';
import type { BlobInfo } from '../../types/image.js';
import { AtomicFileSink, type DirSyncBatch } from '../../util/atomic.js';
import { isDigest } from '../../util/digest.js';
import { VerifyingStream } from '../../util/verify-stream.js';
import { makeDirs } from '../../util/make-dirs.js';

/** Options of {@link putBlobFile}. */
export interface PutBlobFileOptions {
  /** Aborting stops the copy and removes everything written. */
  signal?: AbortSignal;
  /** Where the blob with this digest lives (e.g. `<layout>/blobs/sha256/<hex>`); parents are created. */
  pathFor(digest: string): string;
  /** Called with the byte count after each chunk. */
  onProgress?: (bytes: number) => void;
  /** fsync file and directory before returning (default true). */
  fsync?: boolean;
  /** With `fsync`: the blob's directory goes to this batch instead of being fsynced per blob (see DirSyncBatch). */
  dirSync?: DirSyncBatch;
  /** Called with the final path when this call created the blob file (not when it reused one already there). */
  onCreated?: (path: string) => void;
  /** `PutBlobOptions.verifiedUpstream` of the `putBlob` call: with `info`'s digest and size, the bytes are not hashed again. */
  verifiedUpstream?: { readonly digest: string; readonly size: number };
  /**
   * Checks the blob's final path before anything is reused or renamed there (size -1 when not known yet): throws to
   * refuse it, e.g. a symbolic link a destination never replaces.
   */
  checkTarget?: (path: string, size: number) => Promise<void>;
}

/**
 * Stores the blob read from `stream` at `opts.pathFor(digest)`:
 * - known digest, and a file already there (of the right size, if known): the stream is destroyed
 *   unread and the existing blob is reused;
 * - otherwise bytes go through a {@link VerifyingStream} into an {@link AtomicFileSink} in the blob's
 *   directory (or in `dir` when the digest is unknown, i.e. `info.digest` is empty, e.g. after
 *   re-compression: the file is then named by the computed digest).
 * On any failure (mismatch, stream error, abort) nothing is left at the final path nor as a temporary file.
 * @returns `info` with the verified or computed digest and the actual size.
 * @throws FerryError(E_DIGEST_MISMATCH | E_SIZE_MISMATCH | E_IO | E_ABORTED)
 */
export async function putBlobFile(dir: string, stream: Readable, info: BlobInfo, opts: PutBlobFileOptions): Promise<BlobInfo> {
  const known = info.digest !== '' && info.digest !== undefined;
  if (known && !isDigest(info.digest)) {
    stream.destroy();
    throw new FerryError(ErrorCode.InvalidReference, `invalid blob digest "${info.digest}"`);
  }
  const what = known ? `blob ${info.digest}` : 'blob';
  const { signal } = opts;
  try {
    if (signal?.aborted) throw new FerryError(ErrorCode.Aborted, `writing ${what}: aborted`, { cause: signal.reason });
    const finalPath = known ? opts.pathFor(info.digest) : undefined;
    if (finalPath !== undefined) {
      await opts.checkTarget?.(finalPath, info.size);
      const existing = await existingSize(finalPath);
      if (existing !== undefined && (info.size < 0 || existing === info.size)) {
        if (opts.fsync !== false) opts.dirSync?.add(dirname(finalPath)); // its entry may not be durable yet
        stream.destroy();
        return { ...info, size: existing };
      }
      await makeDirs(dirname(finalPath));
    } else {
      await makeDirs(dir);
    }
    // The copy engine already verifies what it hands over (and fails the stream on a mismatch): hash once.
    const up = opts.verifiedUpstream;
    const trusted = known && opts.onProgress === undefined && up !== undefined && up.digest === info.digest && info.size >= 0 && up.size === info.size;
    const verifier = trusted ? undefined : new VerifyingStream({ digest: known ? info.digest : '', size: info.size, what, onProgress: opts.onProgress });
    const sink = await AtomicFileSink.open(finalPath ?? { dir }, { signal, fsync: opts.fsync, dirSync: opts.dirSync });
    try {
      if (verifier) await pipeline(stream, verifier, sink.stream, { signal });
      else await pipeline(stream, sink.stream, { signal });
      const digest = verifier ? verifier.digest! : info.digest;
      const size = verifier ? verifier.bytes : sink.stream.bytesWritten;
      if (size !== info.size && !verifier) throw sizeMismatch(what, info.size, size);
      const target = finalPath ?? opts.pathFor(digest);
      if (finalPath === undefined) {
        await opts.checkTarget?.(target, size);
        await makeDirs(dirname(target));
      }
      await sink.commit(target);
      opts.onCreated?.(target);
      return { ...info, digest, size };
    } catch (e) {
      await sink.abort();
      throw e;
    }
  } catch (e) {
    if (!stream.destroyed) stream.destroy();
    throw ioError(`writing ${what}${finalPathOrDir(info, opts, dir)}`, e);
  }
}

/** ` to PATH` for error messages: the blob's final path when known, else the directory it goes to. */
function finalPathOrDir(info: BlobInfo, opts: PutBlobFileOptions, dir: string): string {
  try {
    return ` to ${info.digest ? opts.pathFor(info.digest) : dir}`;
  } catch {
    return ` to ${dir}`;
  }
}

/** Size of the regular file at `path`, or undefined if there is none. */
async function existingSize(path: string): Promise<number | undefined> {
  try {
    const st = await stat(path);
    return st.isFile() ? st.size : undefined;
  } catch {
    return undefined;
  }
}
