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

/** Options of {@link readRegularFile}, {@link openRegularFile} and {@link readRegularFileSync}. */
export interface RegularFileOptions extends Omit<BoundedReadOptions, 'regularFile'> {
  /** Refuses a symbolic link at `path` itself (O_NOFOLLOW) instead of reading what it points to. */
  noFollow?: boolean;
  /** A directory: `refuse` it (the default) as any other file that is not regular, or `skip` it (read as undefined). */
  directory?: 'refuse' | 'skip';
  /**
   * The code of every refusal (not a regular file, a symbolic link with `noFollow`, larger than the limit), for a
   * caller whose refusals mean something of their own (E_SIGNATURE, E_CONFIG). Default E_IO, and E_TOO_LARGE over
   * the limit.
   */
  code?: ErrorCode;
}

/**
 * Open flags of a regular-file-only read. O_NONBLOCK: the open of a FIFO returns at once (to be refused) instead of
 * waiting for a writer that may never come; O_NOCTTY: a terminal never becomes the controlling one.
 */
function regularFileFlags(opts: RegularFileOptions): number {
  return constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY | (opts.noFollow ? constants.O_NOFOLLOW : 0);
}

/** What kind of file `st` is (`a FIFO`, `a directory`, `a symbolic link` for an lstat), for messages. */
export function fileKind(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'something else';
}

/** E_IO (or `code`) `WHAT is a FIFO, not a regular file` (or a directory, a device, a socket). */
export function notRegularFile(what: string, st: Stats, code: ErrorCode = ErrorCode.Io): FerryError {
  return new FerryError(code, `${what} is ${fileKind(st)}, not a regular file`);
}

/** `err` with the caller's code, if it set one. */
function withCode(err: FerryError, code: ErrorCode | undefined): FerryError {
  return code === undefined || code === err.code ? err : new FerryError(code, err.message, { cause: err.cause });
}

const CHUNK = 64 * 1024;

/** The bytes read so far of a bounded read, refused as soon as they go past the limit. */
class BoundedBuffer {
  private readonly chunks: Buffer[] = [];
  private total = 0;
  private readonly limit: number;

  /** @throws the refusal at once when `st` is a regular file already larger than the limit. */
  constructor(st: Stats, private readonly opts: RegularFileOptions & { what: string }) {
    this.limit = opts.limit ?? MAX_JSON_BYTES;
    if (st.isFile() && st.size > this.limit) throw this.tooLarge();
  }

  /** The buffer to read the next chunk into: never more than one byte past the limit. */
  next(): Buffer {
    checkSignal(this.opts.signal, this.opts.what);
    return Buffer.allocUnsafe(Math.min(CHUNK, this.limit + 1 - this.total));
  }

  /** Keeps the `n` bytes read into `buf`; false at the end of the file. @throws past the limit. */
  took(buf: Buffer, n: number): boolean {
    if (n === 0) return false;
    this.chunks.push(n === buf.length ? buf : buf.subarray(0, n));
    this.total += n;
    if (this.total > this.limit) throw this.tooLarge();
    return true;
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks, this.total);
  }

  private tooLarge(): FerryError {
    return withCode(tooLarge(this.opts.what, this.limit), this.opts.code);
  }
}

/** The open's error: with `noFollow`, ELOOP (a symbolic link at the path) becomes the refusal naming the file. */
function openError(e: unknown, what: string, opts: RegularFileOptions): unknown {
  if (opts.noFollow && (e as NodeJS.ErrnoException).code === 'ELOOP') {
    return new FerryError(opts.code ?? ErrorCode.Io, `${what} is a symbolic link, not a regular file`, { cause: e });
  }
  return e;
}

/** Whether the opened file is read (true), skipped (false, a directory with `directory: 'skip'`) or refused (throws). */
function acceptKind(st: Stats, what: string, opts: RegularFileOptions): boolean {
  if (st.isFile()) return true;
  if (st.isDirectory() && opts.directory === 'skip') return false;
  throw notRegularFile(what, st, opts.code);
}

/** A regular file opened by {@link openRegularFile}: its handle and what fstat said of it. */
export interface OpenedFile {
  handle: FileHandle;
  stats: Stats;
}

/**
 * Opens a regular file for reading, refusing at once anything else (a FIFO is never waited for); undefined for a
 * directory with `directory: 'skip'`. The caller closes the handle.
 * @throws FerryError (E_IO or `code`) `WHAT is a FIFO, not a regular file` (a directory, a device, a socket, a
 *   symbolic link with `noFollow`); FerryError(E_ABORTED); the open's own error (ENOENT, EACCES, …) as it is, so
 *   that callers keep their "not found" handling.
 */
export async function openRegularFile(path: string, opts: RegularFileOptions & { directory: 'skip' }): Promise<OpenedFile | undefined>;
export async function openRegularFile(path: string, opts?: RegularFileOptions & { directory?: 'refuse' }): Promise<OpenedFile>;
export async function openRegularFile(path: string, opts?: RegularFileOptions): Promise<OpenedFile | undefined>;
export async function openRegularFile(path: string, opts: RegularFileOptions = {}): Promise<OpenedFile | undefined> {
  const what = opts.what ?? path;
  checkSignal(opts.signal, what);
  let handle: FileHandle;
  try {
    handle = await open(path, regularFileFlags(opts));
  } catch (e) {
    throw openError(e, what, opts);
  }
  try {
    const stats = await handle.stat();
    if (acceptKind(stats, what, opts)) return { handle, stats };
  } catch (e) {
    await handle.close().catch(() => {});
    throw e;
  }
  await handle.close();
  return undefined;
}

/**
 * The one way ferry reads a small file that must be a regular file (a configuration file, a signature, a layout's
 * JSON): {@link openRegularFile}, then at most `limit` bytes (default {@link MAX_JSON_BYTES}).
 * @returns the bytes; undefined for a directory with `directory: 'skip'`.
 * @throws as {@link openRegularFile}; E_TOO_LARGE (or `code`) `WHAT is larger than LIMIT: refusing to read it`
 *   without reading more than the limit.
 */
export async function readRegularFile(path: string, opts: RegularFileOptions & { directory: 'skip' }): Promise<Buffer | undefined>;
export async function readRegularFile(path: string, opts?: RegularFileOptions & { directory?: 'refuse' }): Promise<Buffer>;
export async function readRegularFile(path: string, opts?: RegularFileOptions): Promise<Buffer | undefined>;
export async function readRegularFile(path: string, opts: RegularFileOptions = {}): Promise<Buffer | undefined> {
  const opened = await openRegularFile(path, opts);
  if (opened === undefined) return undefined;
  try {
    return await readBoundedHandle(opened.handle, { ...opts, what: opts.what ?? path });
  } finally {
    await opened.handle.close().catch(() => {});
  }
}

/**
 * {@link readBoundedFile} of the whole file at `path` (regular file, device or pipe) into memory, at most `limit`
 * bytes; with `regularFile`, {@link readRegularFile}.
 * @throws FerryError(E_TOO_LARGE) `WHAT is larger than LIMIT: refusing to read it` for a larger file, without
 *   reading more than the limit; FerryError(E_ABORTED); the file system's own error (ENOENT, EISDIR, …) as it is,
 *   so that callers keep their "not found" handling.
 */
export async function readBoundedFile(path: string, opts: BoundedReadOptions = {}): Promise<Buffer> {
  const { regularFile, ...rest } = opts;
  if (regularFile) return readRegularFile(path, rest);
  const what = opts.what ?? path;
  checkSignal(opts.signal, what);
  const fh = await open(path, 'r');
  try {
    return await readBoundedHandle(fh, { ...rest, what });
  } finally {
    await fh.close().catch(() => {});
  }
}

/**
 * {@link readRegularFile}, synchronously (for the few configuration files read by synchronous code, such as
 * storage.conf).
 * @throws as {@link readRegularFile}.
 */
export function readRegularFileSync(path: string, opts: Omit<RegularFileOptions, 'signal' | 'directory'> = {}): Buffer {
  const what = opts.what ?? path;
  let fd: number;
  try {
    fd = openSync(path, regularFileFlags(opts));
  } catch (e) {
    throw openError(e, what, opts);
  }
  try {
    const st = fstatSync(fd);
    acceptKind(st, what, opts);
    const acc = new BoundedBuffer(st, { ...opts, what });
    for (;;) {
      const buf = acc.next();
      if (!acc.took(buf, readSync(fd, buf, 0, buf.length, null))) return acc.bytes();
    }
  } finally {
    closeSync(fd);
  }
}

/** {@link readBoundedFile} of an open file handle (read from its current position). */
export async function readBoundedHandle(fh: FileHandle, opts: Omit<RegularFileOptions, 'noFollow' | 'directory'> & { what: string }): Promise<Buffer> {
  const acc = new BoundedBuffer(await fh.stat(), opts);
  for (;;) {
    const buf = acc.next();
    if (!acc.took(buf, (await fh.read(buf, 0, buf.length, null)).bytesRead)) return acc.bytes();
  }
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
