/**
 * Reading small files whole — manifests, configs, signatures, JSON and other configuration files — with a size
 * limit, so that a huge file, a device (`/dev/zero`) or an endless pipe fails with one clear error naming the
 * file and the limit instead of filling memory. Every whole-file read of such data goes through here.
 */
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { FerryError, ErrorCode, tooLarge } from '../errors.js';

/** What ferry reads into memory at most for a manifest, config, signature or JSON file: 4 MiB, as skopeo. */
export const MAX_JSON_BYTES = 4 * 1024 * 1024;

/** Options of {@link readBoundedFile}. */
export interface BoundedReadOptions {
  /** Most bytes accepted (default {@link MAX_JSON_BYTES}). */
  limit?: number;
  /** Names the file in the too-large error (default the path). */
  what?: string;
  /** Stops reading between chunks (E_ABORTED). */
  signal?: AbortSignal;
  /**
   * Only a regular file (configuration, cache, certificate, key): a FIFO, device, socket or directory is refused with
   * {@link notRegularFile}, and opening a FIFO never waits for a writer that may never come.
   */
  regularFile?: boolean;
}

/** Open flags of a regular-file-only read: O_NONBLOCK so that the open of a FIFO returns at once (to be refused). */
const REGULAR_FILE_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

/** What kind of file `st` is, for {@link notRegularFile}. */
function fileKind(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'something else';
}

/** E_IO `WHAT is a FIFO, not a regular file` (or a directory, a device, a socket). */
export function notRegularFile(what: string, st: Stats): FerryError {
  return new FerryError(ErrorCode.Io, `${what} is ${fileKind(st)}, not a regular file`);
}

const CHUNK = 64 * 1024;

/**
 * Reads the whole file at `path` (regular file, device or pipe) into memory, at most `limit` bytes.
 * @throws FerryError(E_TOO_LARGE) `WHAT is larger than LIMIT: refusing to read it` for a larger file, without
 *   reading more than the limit; FerryError(E_ABORTED); the file system's own error (ENOENT, EISDIR, …) as it is,
 *   so that callers keep their "not found" handling.
 */
export async function readBoundedFile(path: string, opts: BoundedReadOptions = {}): Promise<Buffer> {
  const limit = opts.limit ?? MAX_JSON_BYTES;
  const what = opts.what ?? path;
  checkSignal(opts.signal, what);
  const fh = await open(path, opts.regularFile ? REGULAR_FILE_FLAGS : 'r');
  try {
    if (opts.regularFile) {
      const st = await fh.stat();
      if (!st.isFile()) throw notRegularFile(what, st);
    }
    return await readBoundedHandle(fh, { ...opts, limit, what });
  } finally {
    await fh.close().catch(() => {});
  }
}

/**
 * {@link readBoundedFile} with `regularFile` set, synchronously (for the few configuration files read by synchronous
 * code, such as storage.conf).
 * @throws as {@link readBoundedFile}.
 */
export function readRegularFileSync(path: string, opts: Omit<BoundedReadOptions, 'signal' | 'regularFile'> = {}): Buffer {
  const limit = opts.limit ?? MAX_JSON_BYTES;
  const what = opts.what ?? path;
  const fd = openSync(path, REGULAR_FILE_FLAGS);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw notRegularFile(what, st);
    if (st.size > limit) throw tooLarge(what, limit);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, limit + 1 - total));
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      chunks.push(n === buf.length ? buf : buf.subarray(0, n));
      total += n;
      if (total > limit) throw tooLarge(what, limit);
    }
    return Buffer.concat(chunks, total);
  } finally {
    closeSync(fd);
  }
}

/** {@link readBoundedFile} of an open file handle (read from its current position). */
export async function readBoundedHandle(fh: FileHandle, opts: BoundedReadOptions & { what: string }): Promise<Buffer> {
  const limit = opts.limit ?? MAX_JSON_BYTES;
  const st = await fh.stat();
  if (st.isFile() && st.size > limit) throw tooLarge(opts.what, limit);
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    checkSignal(opts.signal, opts.what);
    const buf = Buffer.allocUnsafe(Math.min(CHUNK, limit + 1 - total));
    const { bytesRead } = await fh.read(buf, 0, buf.length, null);
    if (bytesRead === 0) break;
    chunks.push(bytesRead === buf.length ? buf : buf.subarray(0, bytesRead));
    total += bytesRead;
    if (total > limit) throw tooLarge(opts.what, limit);
  }
  return Buffer.concat(chunks, total);
}

/**
 * Collects a stream (an HTTP body, a tar entry) into memory, at most `limit` bytes; the stream is destroyed as
 * soon as it goes past the limit.
 * @throws FerryError(E_TOO_LARGE) naming `what`; the stream's own error.
 */
export async function readBoundedStream(stream: AsyncIterable<Uint8Array> & { destroy?: (e?: Error) => void }, opts: BoundedReadOptions & { what: string }): Promise<Buffer> {
  const limit = opts.limit ?? MAX_JSON_BYTES;
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const c of stream) {
    checkSignal(opts.signal, opts.what);
    const b = Buffer.isBuffer(c) ? c : Buffer.from(c);
    total += b.length;
    if (total > limit) {
      const e = tooLarge(opts.what, limit);
      stream.destroy?.();
      throw e;
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks, total);
}

function checkSignal(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new FerryError(ErrorCode.Aborted, `reading ${what}: aborted`, { cause: signal.reason });
}

/**
 * {@link readBoundedFile} for a file the user named in a role (`policy file`, `public key`): every failure is one
 * FerryError naming the role and the path — E_NOT_FOUND for a missing file, E_TOO_LARGE over the limit, E_IO else.
 */
export async function readNamedFile(path: string, role: string, opts: Omit<BoundedReadOptions, 'what'> = {}): Promise<Buffer> {
  try {
    return await readBoundedFile(path, { ...opts, what: `${role} ${path}` });
  } catch (e) {
    if (e instanceof FerryError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new FerryError(ErrorCode.NotFound, `reading ${role} ${path}: no such file`, { cause: e });
    if (code === 'EISDIR') throw new FerryError(ErrorCode.Io, `reading ${role} ${path}: is a directory, not a file`, { cause: e });
    throw new FerryError(ErrorCode.Io, `reading ${role} ${path}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}
