/**
 * Archive paths that are streams rather than files: FIFOs, character devices (`/dev/null`, a terminal) and the
 * process's own descriptors (`/dev/stdout`, `/dev/stdin`, `/dev/fd/N`, `/proc/self/fd/N`, or a symlink to one).
 *
 * Written to, such a path is opened and written from start to end, never replaced: a regular file (or a missing
 * one) is the only kind of path an archive replaces, through a temporary file renamed over it. Anything else that
 * exists there — a directory, a socket, a block device, a symlink to anything but a stream — is refused.
 *
 * Read from, a path that is not a regular file is read once, from start to end (see {@link openArchiveInput}).
 */
import { constants, createWriteStream, fstatSync, readlinkSync, realpathSync, statSync, type Stats } from 'node:fs';
import { lstat, open, stat, type FileHandle } from 'node:fs/promises';
import { Socket } from 'node:net';
import { basename, dirname, join, resolve } from 'node:path';
import { type Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { FerryError, ErrorCode, ioError } from '../errors.js';

/** Write/read buffer of stream outputs and inputs. */
const CHUNK = 1 << 20;

/** `/proc/PID/fd/N` or `/proc/PID/task/TID/fd/N`, as `/proc/self/...` and `/proc/thread-self/...` resolve. */
const PROC_FD = /^\/proc\/(\d+)(?:\/task\/\d+)?\/fd\/(\d+)$/;

function errnoCode(e: unknown): unknown {
  return (e as { code?: unknown } | null)?.code;
}

function notFound(e: unknown): boolean {
  return errnoCode(e) === 'ENOENT' || errnoCode(e) === 'ENOTDIR';
}

/**
 * The descriptor of this process that `path` names: `/dev/stdout`, `/dev/fd/N`, `/proc/self/fd/N` or a chain of
 * symlinks ending at one of them; undefined for any other path. Follows the links one at a time, without opening
 * anything (the last link, `/proc/PID/fd/N`, names the descriptor, whatever it is open on).
 */
export function processFdOf(path: string): number | undefined {
  let p = resolve(path);
  for (let hops = 0; hops < 40; hops++) {
    let dir: string;
    try {
      dir = realpathSync(dirname(p));
    } catch {
      return undefined;
    }
    p = join(dir, basename(p));
    const m = PROC_FD.exec(p);
    if (m && Number(m[1]) === process.pid) return Number(m[2]);
    let target: string;
    try {
      target = readlinkSync(p);
    } catch {
      return undefined; // missing, or not a symlink
    }
    p = resolve(dir, target);
  }
  return undefined;
}

/**
 * Whether an archive written to `path` goes into a stream (one of the process's descriptors, a FIFO or a character
 * device, possibly through symlinks) rather than a file: then nothing is to be created beside it.
 */
export function isStreamPath(path: string): boolean {
  if (processFdOf(path) !== undefined) return true;
  try {
    const st = statSync(path);
    return st.isFIFO() || st.isCharacterDevice();
  } catch {
    return false;
  }
}

/** Where an archive destination writes. */
export type ArchiveTarget =
  /** Missing or a regular file: written to a temporary file renamed over the path at commit. */
  | { kind: 'file' }
  /** One of the process's descriptors (`/dev/stdout`, `/dev/fd/N`): written sequentially. */
  | { kind: 'fd'; fd: number }
  /** A FIFO or character device (possibly through symlinks): opened and written sequentially. */
  | { kind: 'device'; path: string };

function kindName(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isSocket()) return 'a socket';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isFile()) return 'a regular file';
  return 'not a regular file';
}

function refused(what: string, path: string, is: string): FerryError {
  return new FerryError(
    ErrorCode.Unsupported,
    `${what}: ${path} is ${is}, which is never replaced: an archive is written to a regular file (created or replaced), a FIFO, a character device, /dev/stdout or /dev/fd/N`,
  );
}

/**
 * Tells how an archive destination writes `path` (see the module comment).
 * @param what names the destination in messages (`docker-archive`).
 * @throws FerryError(E_UNSUPPORTED) for a path that exists and is neither a regular file nor a stream; E_IO.
 */
export async function classifyArchiveTarget(path: string, what: string): Promise<ArchiveTarget> {
  const fd = processFdOf(path);
  if (fd !== undefined) return { kind: 'fd', fd };
  let st: Stats;
  try {
    st = await lstat(path);
  } catch (e) {
    if (notFound(e)) return { kind: 'file' };
    throw ioError(`${what}: ${path}`, e);
  }
  if (st.isFile()) return { kind: 'file' };
  if (st.isFIFO() || st.isCharacterDevice()) return { kind: 'device', path };
  if (!st.isSymbolicLink()) throw refused(what, path, kindName(st));
  let target: Stats;
  try {
    target = await stat(path);
  } catch (e) {
    if (notFound(e)) throw refused(what, path, 'a dangling symbolic link');
    throw ioError(`${what}: ${path}`, e);
  }
  if (target.isFIFO() || target.isCharacterDevice()) return { kind: 'device', path };
  throw refused(what, path, `a symbolic link to ${kindName(target)}`);
}

/**
 * A stream target opened for writing: write {@link stream} in order, then {@link finish} or {@link abort}.
 *
 * The last {@link HELD_BACK} bytes written are only sent by `finish`: an output that fails or is aborted stops
 * short of them, so it never ends where a tar entry ends — a reader gets a truncated-tar error instead of an
 * archive that looks whole (tar readers take an archive ending at an entry boundary for a complete one).
 */
export interface SequentialOutput {
  /** The writable end. Not to be ended by the caller: {@link finish} does it. */
  readonly stream: Writable;
  /** Sends the bytes held back, waits until everything has been handed to the kernel, and releases the output. */
  finish(): Promise<void>;
  /** Stops writing (what was sent stays sent, what was held back is dropped) and releases the output. Never throws; idempotent. */
  abort(): Promise<void>;
}

/** How many bytes a {@link SequentialOutput} holds back until `finish`: one tar block. */
export const HELD_BACK = 512;

/** Resolves at `out`'s next 'drain'; rejects if it fails or closes first (a destroyed stream never drains). */
export function drained(out: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const settle = (e?: unknown) => {
      out.off('drain', onDrain).off('error', onError).off('close', onClose);
      if (e === undefined) resolve();
      else reject(e);
    };
    const onDrain = () => settle();
    const onError = (e: unknown) => settle(e);
    const onClose = () => settle(out.errored ?? new FerryError(ErrorCode.Io, 'output closed'));
    out.on('drain', onDrain).on('error', onError).on('close', onClose);
  });
}

/** Passes its bytes on to `inner`, all but the last {@link HELD_BACK}, sent when it ends (then `inner` finishes). */
class HoldBack extends Writable {
  private held: Buffer = Buffer.alloc(0);

  constructor(private readonly inner: SequentialOutput) {
    super({ highWaterMark: CHUNK });
    inner.stream.on('error', (e) => this.destroy(e));
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    let out: Buffer[];
    if (chunk.length >= HELD_BACK) {
      out = [this.held, chunk.subarray(0, chunk.length - HELD_BACK)];
      this.held = Buffer.from(chunk.subarray(chunk.length - HELD_BACK));
    } else {
      const all = Buffer.concat([this.held, chunk]);
      const cut = Math.max(0, all.length - HELD_BACK);
      out = [all.subarray(0, cut)];
      this.held = all.subarray(cut);
    }
    this.send(out, cb);
  }

  private send(bufs: Buffer[], cb: (e?: Error | null) => void): void {
    let ok = true;
    for (const b of bufs) if (b.length > 0) ok = this.inner.stream.write(b);
    if (ok) cb();
    else drained(this.inner.stream).then(() => cb(), cb);
  }

  override _final(cb: (e?: Error | null) => void): void {
    const last = this.held;
    this.held = Buffer.alloc(0);
    this.send([last], (e) => {
      if (e) cb(e);
      else this.inner.finish().then(() => cb(), cb);
    });
  }
}

/** Wraps an output so that it holds back its last bytes (see {@link SequentialOutput}). */
function holdingBack(inner: SequentialOutput): SequentialOutput {
  const stream = quiet(new HoldBack(inner));
  let aborted: Promise<void> | undefined;
  return {
    stream,
    async finish() {
      stream.end();
      await finished(stream);
    },
    abort() {
      aborted ??= (async () => {
        stream.destroy();
        await inner.abort();
      })();
      return aborted;
    },
  };
}

/**
 * Keeps a stream's failure (EPIPE: the reader went away) from being an unhandled 'error' event: it is reported by
 * the next write, by a pending one, or by `finish`.
 */
function quiet<T extends Writable>(stream: T): T {
  stream.on('error', () => {});
  return stream;
}

/** An output whose write stream is ended when done (or destroyed, then `afterAbort`). */
function endedOutput(stream: Writable, afterAbort: () => Promise<void> = async () => {}): SequentialOutput {
  return {
    stream,
    async finish() {
      stream.end();
      await finished(stream);
    },
    async abort() {
      stream.destroy();
      await finished(stream).catch(() => {});
      await afterAbort().catch(() => {});
    },
  };
}

/** An output on a descriptor of our own, closed when done. */
function ownOutput(fh: FileHandle): SequentialOutput {
  return endedOutput(quiet(fh.createWriteStream({ highWaterMark: CHUNK })), () => fh.close());
}

/** An output on a stream we must not close (the process's stdout or stderr, an inherited descriptor). */
function borrowedOutput(stream: Writable, release: () => void = () => {}): SequentialOutput {
  quiet(stream);
  let done = false;
  return {
    stream,
    async finish() {
      // Callbacks run in order: this one once everything before it is written.
      await new Promise<void>((res, rej) => stream.write(Buffer.alloc(0), (e) => (e ? rej(e) : res())));
      done = true;
      release();
    },
    async abort() {
      if (done) return;
      done = true;
      release();
    },
  };
}

/** Whether `a` and `b` are the same open file. */
function sameFile(a: Stats | undefined, b: Stats): boolean {
  return a !== undefined && a.dev === b.dev && a.ino === b.ino;
}

async function openProcessFd(fd: number, what: string): Promise<SequentialOutput> {
  let st: Stats;
  try {
    st = fstatSync(fd);
  } catch (e) {
    throw new FerryError(ErrorCode.Io, `${what}: descriptor ${fd} is not open`, { cause: e });
  }
  if (st.isFIFO() || st.isCharacterDevice()) {
    // A pipe or device is opened again: a description of our own, blocking, written from the thread pool (Node
    // makes the process's own stdout pipe non-blocking). Where /proc cannot do that, the descriptor is used as it is.
    const fh = await open(`/proc/self/fd/${fd}`, constants.O_WRONLY | constants.O_NOCTTY).catch(() => undefined);
    if (fh) {
      if (sameFile(await fh.stat().catch(() => undefined), st)) return ownOutput(fh);
      await fh.close().catch(() => {});
    }
  }
  if (fd === 1) return borrowedOutput(process.stdout);
  if (fd === 2) return borrowedOutput(process.stderr);
  if (st.isSocket() || st.isFIFO()) {
    const sock = new Socket({ fd, readable: false, writable: true });
    return borrowedOutput(sock, () => sock.destroy());
  }
  // A regular file (`> out.tar`, `>> all.tar`) or device: written at its current offset, left open.
  return endedOutput(quiet(createWriteStream('', { fd, autoClose: false, highWaterMark: CHUNK })));
}

/**
 * Opens a stream target for writing (a FIFO's open waits for its reader). A FIFO or device path is opened without
 * creating or truncating anything, and must still be one once open.
 * @throws FerryError(E_UNSUPPORTED) if the path changed into something else meanwhile; E_IO.
 */
export async function openSequentialOutput(target: Exclude<ArchiveTarget, { kind: 'file' }>, what: string): Promise<SequentialOutput> {
  return holdingBack(await openStream(target, what));
}

async function openStream(target: Exclude<ArchiveTarget, { kind: 'file' }>, what: string): Promise<SequentialOutput> {
  if (target.kind === 'fd') return openProcessFd(target.fd, what);
  let fh: FileHandle;
  try {
    fh = await open(target.path, constants.O_WRONLY | constants.O_NOCTTY);
  } catch (e) {
    throw ioError(`${what}: opening ${target.path}`, e);
  }
  const st = await fh.stat().catch(async (e: unknown) => {
    await fh.close().catch(() => {});
    throw ioError(`${what}: ${target.path}`, e);
  });
  if (!st.isFIFO() && !st.isCharacterDevice()) {
    await fh.close().catch(() => {});
    throw refused(what, target.path, `${kindName(st)} (it changed while being opened)`);
  }
  return ownOutput(fh);
}

/** What an archive source reads. */
export type ArchiveInput =
  /** A regular file: read in place, with positional reads. */
  | { kind: 'file' }
  /** Anything else that can be read (pipe, FIFO, character device, socket): read once, in order. */
  | { kind: 'stream'; stream: Readable; close(): Promise<void> };

/**
 * Opens an archive source for reading, telling a regular file (read in place) from a stream (read once).
 * `/dev/stdin` or `/dev/fd/N` on a socket, which cannot be opened again, is read through the descriptor itself.
 * @throws FerryError(E_NOT_FOUND) for a missing path; E_IO (a directory, or the open failing).
 */
export async function openArchiveInput(path: string, what: string): Promise<ArchiveInput> {
  let fh: FileHandle;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NOCTTY);
  } catch (e) {
    if (notFound(e)) throw new FerryError(ErrorCode.NotFound, `${what}: no such file ${path}`, { cause: e });
    const fd = errnoCode(e) === 'ENXIO' ? processFdOf(path) : undefined;
    if (fd === undefined) throw ioError(`opening ${what}`, e);
    const stream: Readable = fd === 0 ? process.stdin : new Socket({ fd, readable: true, writable: false });
    return {
      kind: 'stream',
      stream,
      async close() {
        if (stream !== process.stdin) stream.destroy();
        else stream.pause();
      },
    };
  }
  let st: Stats;
  try {
    st = await fh.stat();
  } catch (e) {
    await fh.close().catch(() => {});
    throw ioError(`reading ${what}`, e);
  }
  if (st.isFile()) {
    await fh.close().catch(() => {});
    return { kind: 'file' };
  }
  if (st.isDirectory()) {
    await fh.close().catch(() => {});
    throw new FerryError(ErrorCode.Io, `${what}: ${path} is a directory, not an archive`);
  }
  const stream = fh.createReadStream({ highWaterMark: CHUNK });
  return {
    kind: 'stream',
    stream,
    async close() {
      stream.destroy();
      await finished(stream).catch(() => {});
      await fh.close().catch(() => {});
    },
  };
}
