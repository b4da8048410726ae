/** File reading shared by the file-based transports: small JSON files and streamed blobs. */
import { createReadStream } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { FerryError, ErrorCode, ioError } from '../../errors.js';
import type { OpOptions } from '../../types/context.js';
import { MAX_JSON_BYTES, openRegularFile, readRegularFile } from '../../util/bounded-read.js';
import { checkAborted } from '../../util/abort.js';

/** Chunk size for blob streams: large chunks keep per-chunk overhead (hashing, progress) low. */
export const BLOB_READ_CHUNK = 1 << 20;

/** Whether `e` is a "no such file" error (including a path component that is not a directory). */
export function isNotFoundError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

export { ioError } from '../../errors.js';
export { checkAborted };

/** Opens `path` for reading: E_NOT_FOUND (`WHAT: no such file PATH`) when it is missing, E_IO otherwise. */
export async function openForReading(path: string, what: string): Promise<FileHandle> {
  try {
    return await open(path, 'r');
  } catch (e) {
    if (isNotFoundError(e)) throw new FerryError(ErrorCode.NotFound, `${what}: no such file ${path}`, { cause: e });
    throw ioError(`opening ${what}`, e);
  }
}


/**
 * Reads a whole (small) regular file — a manifest, index, signature or other JSON — of at most `limit` bytes
 * (default 4 MiB), with {@link readRegularFile}. A missing file is FerryError(E_NOT_FOUND) with `what` in the
 * message, a larger one E_TOO_LARGE, anything but a regular file (a FIFO is never waited for) and other failures
 * E_IO. `noFollow` (a file no digest checks): a symbolic link at `path` is refused rather than followed.
 */
export async function readWholeFile(path: string, what: string, opts: OpOptions & { limit?: number; noFollow?: boolean } = {}): Promise<Buffer> {
  const named = `${what} (${path})`;
  try {
    return await readRegularFile(path, { what: named, limit: opts.limit ?? MAX_JSON_BYTES, signal: opts.signal, noFollow: opts.noFollow });
  } catch (e) {
    if (isNotFoundError(e)) throw new FerryError(ErrorCode.NotFound, `${what} not found (${path})`, { cause: e });
    throw ioError(`reading ${named}`, e);
  }
}

/** Throws E_NOT_FOUND (with `what`) unless `path` is an existing directory. */
export async function requireDirectory(path: string, what: string): Promise<void> {
  let isDir: boolean;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch (e) {
    if (isNotFoundError(e)) throw new FerryError(ErrorCode.NotFound, `${what}: no such directory ${path}`, { cause: e });
    throw ioError(`${what}: ${path}`, e);
  }
  if (!isDir) throw new FerryError(ErrorCode.NotFound, `${what}: ${path} is not a directory`);
}

/**
 * Opens a file as a blob stream from byte `offset`, in {@link BLOB_READ_CHUNK} chunks.
 * `size` is the whole file's size. Missing file → E_NOT_FOUND naming `what`.
 * The stream is destroyed when `opts.signal` aborts.
 */
export async function openFileBlob(
  path: string,
  what: string,
  opts: OpOptions & { offset?: number } = {},
): Promise<{ stream: Readable; size: number }> {
  checkAborted(opts.signal, `reading ${what}`);
  const offset = opts.offset ?? 0;
  let handle, st;
  try {
    ({ handle, stats: st } = await openRegularFile(path, { what: `${what} (${path})` }));
  } catch (e) {
    if (isNotFoundError(e)) throw new FerryError(ErrorCode.NotFound, `${what} not found (${path})`, { cause: e });
    throw ioError(`opening ${what} (${path})`, e);
  }
  try {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > st.size) {
      throw new FerryError(ErrorCode.Io, `${what}: cannot read from offset ${offset}, the blob has ${st.size} bytes`);
    }
    checkAborted(opts.signal, `reading ${what}`);
    const stream = createReadStream('', { fd: handle, start: offset, highWaterMark: BLOB_READ_CHUNK, signal: opts.signal });
    return { stream, size: st.size };
  } catch (e) {
    await handle.close().catch(() => {});
    throw ioError(`reading ${what} (${path})`, e);
  }
}
