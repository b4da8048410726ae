/**
 * Atomic file writes: data goes to a temporary file in the target's own directory, is fsynced, then
 * renamed over the target (and the directory fsynced), so readers see either the old file or the
 * complete new one — never a partial file at the final path.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, unlinkSync, type WriteStream } from 'node:fs';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FerryError, ErrorCode, ioError } from '../errors.js';
import { registerExitCleanup } from './temp.js';

/** Write buffer of sink streams: large, so that few syscalls are made for multi-GB layers. */
export const SINK_HIGH_WATER_MARK = 1 << 20;

/** Options of {@link writeFileAtomic} and {@link AtomicFileSink.open}. */
export interface AtomicWriteOptions {
  /** File mode of the new file (default 0o644, minus umask). */
  mode?: number;
  /** Whether to fsync the file and its directory (default true). */
  fsync?: boolean;
  /**
   * With `fsync`: the directory is not fsynced right after the rename but added to this batch, which the caller
   * flushes before writing anything that names the file (see {@link DirSyncBatch}).
   */
  dirSync?: DirSyncBatch;
  /** Aborting removes the temporary file and rejects with E_ABORTED. */
  signal?: AbortSignal;
}

/** The temporary name used next to `finalPath`: `<finalPath>.tmp-<random>` (or `<dir>/.tmp-<random>`). */
function tempNameFor(dir: string, finalPath?: string): string {
  const suffix = `.tmp-${randomBytes(6).toString('hex')}`;
  return finalPath !== undefined ? join(dirname(finalPath), basename(finalPath) + suffix) : join(dir, suffix);
}

function abortedError(what: string, signal: AbortSignal): FerryError {
  return new FerryError(ErrorCode.Aborted, `${what}: aborted`, { cause: signal.reason });
}

/** fsyncs a directory so that a rename in it is durable; file systems that refuse are ignored. */
export async function fsyncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM' && code !== 'EBADF') throw e;
  } finally {
    await fh?.close().catch(() => {});
  }
}

/**
 * Directories whose new entries are made durable together: a destination writing many files into one directory
 * (the blobs of an image) fsyncs each file as it is written, but the directory only once, in {@link flush}, before
 * it writes what names those files (an index, a manifest moved in last). A crash before the flush can lose such an
 * entry, but nothing refers to it yet; the file's bytes were already durable.
 */
export class DirSyncBatch {
  private readonly dirs = new Set<string>();

  /** Records that an entry was renamed or linked into `dir`. */
  add(dir: string): void {
    this.dirs.add(dir);
  }

  /** fsyncs every directory recorded since the last flush, once each. */
  async flush(): Promise<void> {
    const dirs = [...this.dirs];
    this.dirs.clear();
    try {
      for (const d of dirs) await fsyncDir(d);
    } catch (e) {
      for (const d of dirs) this.dirs.add(d); // still owed
      throw e;
    }
  }
}

/** After a rename into `dir`: fsyncs it now, or leaves it to the batch (nothing when `fsync` is off). */
export async function syncDirAfterRename(dir: string, opts: Pick<AtomicWriteOptions, 'fsync' | 'dirSync'>): Promise<void> {
  if (opts.fsync === false) return;
  if (opts.dirSync) opts.dirSync.add(dir);
  else await fsyncDir(dir);
}

/**
 * Writes `data` to `path` atomically (temp file in the same directory, write, fsync, rename, fsync dir).
 * @throws FerryError(E_IO) on failure, E_ABORTED if `signal` aborts; no temp file is left behind.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): Promise<void> {
  const { signal } = opts;
  if (signal?.aborted) throw abortedError(`writing ${path}`, signal);
  const temp = tempNameFor(dirname(path), path);
  const forget = registerExitCleanup(() => unlinkQuiet(temp));
  let fh: FileHandle | undefined;
  try {
    fh = await open(temp, 'wx', opts.mode ?? 0o644);
    await fh.writeFile(data);
    if (opts.fsync !== false) await fh.sync();
    await fh.close();
    fh = undefined;
    if (signal?.aborted) throw abortedError(`writing ${path}`, signal);
    await rename(temp, path);
    forget();
    await syncDirAfterRename(dirname(path), opts);
  } catch (e) {
    await fh?.close().catch(() => {});
    await unlink(temp).catch(() => {});
    forget();
    throw ioError(`writing ${path}`, withoutTempName(e, temp));
  }
}

/**
 * An error about the temporary file stated without its name, which the user never gave and which no longer exists:
 * `no such directory DIR` when the directory is missing, else Node's text without its `, open '…tmp-…'` tail.
 */
function withoutTempName(e: unknown, temp: string): unknown {
  const err = e as NodeJS.ErrnoException;
  if (!(e instanceof Error) || err.path !== temp) return e;
  const dir = dirname(temp);
  const message = err.code === 'ENOENT' || err.code === 'ENOTDIR' ? `no such directory ${dir}` : err.message.replace(`, ${err.syscall ?? ''} '${temp}'`, ` (in ${dir})`);
  return Object.assign(new Error(message, { cause: e }), { code: err.code });
}

function unlinkQuiet(p: string): void {
  try {
    unlinkSync(p);
  } catch {
    // already gone
  }
}

/**
 * A streaming atomic file writer. Write into {@link stream} (typically as the last stage of
 * `stream.pipeline`), then {@link commit} to fsync and rename the temporary file to its final path,
 * or {@link abort} to remove it. A stream error or an abort of the signal aborts automatically.
 * The temporary file is also removed if the process exits before commit.
 *
 * ```ts
 * const sink = await AtomicFileSink.open(finalPath, { signal });
 * try { await pipeline(src, sink.stream, { signal }); await sink.commit(); }
 * catch (e) { await sink.abort(); throw e; }
 * ```
 */
export class AtomicFileSink {
  /** Where the data is written until commit. */
  readonly tempPath: string;
  /** The writable end: write the file's bytes here. It owns the file descriptor (fsync on close). */
  readonly stream: WriteStream;
  private readonly finalPath: string | undefined;
  private readonly opts: AtomicWriteOptions;
  private readonly forgetExit: () => void;
  private state: 'open' | 'committing' | 'committed' | 'aborted' = 'open';
  private aborting: Promise<void> | undefined;
  private readonly onAbort: () => void;

  private constructor(stream: WriteStream, tempPath: string, finalPath: string | undefined, opts: AtomicWriteOptions) {
    this.stream = stream;
    this.tempPath = tempPath;
    this.finalPath = finalPath;
    this.opts = opts;
    this.forgetExit = registerExitCleanup(() => unlinkQuiet(tempPath));
    this.stream.on('error', () => void this.abort());
    this.onAbort = () => {
      this.stream.destroy(abortedError(`writing ${this.finalPath ?? this.tempPath}`, opts.signal!));
    };
    opts.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /**
   * Opens a sink for `finalPath` (temp file `<finalPath>.tmp-<random>` next to it), or, with `{dir}`,
   * a sink whose final name is given only at {@link commit} (temp file `<dir>/.tmp-<random>`; the final
   * path must then be on the same file system, typically inside `dir`).
   * @throws FerryError(E_IO) if the temporary file cannot be created, E_ABORTED if already aborted.
   */
  static async open(target: string | { dir: string }, opts: AtomicWriteOptions = {}): Promise<AtomicFileSink> {
    const finalPath = typeof target === 'string' ? target : undefined;
    const dir = typeof target === 'string' ? dirname(target) : target.dir;
    const what = `writing ${finalPath ?? dir}`;
    if (opts.signal?.aborted) throw abortedError(what, opts.signal);
    const temp = tempNameFor(dir, finalPath);
    const stream = createWriteStream(temp, {
      flags: 'wx',
      mode: opts.mode ?? 0o644,
      highWaterMark: SINK_HIGH_WATER_MARK,
      flush: opts.fsync !== false,
    });
    try {
      await new Promise<void>((resolve, reject) => {
        const onErr = (e: Error) => {
          stream.removeListener('ready', onReady);
          reject(e);
        };
        const onReady = () => {
          stream.removeListener('error', onErr);
          resolve();
        };
        stream.once('error', onErr).once('ready', onReady);
      });
    } catch (e) {
      stream.destroy();
      throw ioError(what, withoutTempName(e, temp));
    }
    return new AtomicFileSink(stream, temp, finalPath, opts);
  }

  /** Whether the sink is still open (neither committed nor aborted). */
  get isOpen(): boolean {
    return this.state === 'open';
  }

  /**
   * Finishes the stream (ending it if the caller did not), which fsyncs and closes the temporary file,
   * renames it to its final path (`finalPath` overrides or supplies it), then fsyncs the directory (or adds it to
   * the `dirSync` batch).
   * On failure the temporary file is removed.
   * @throws FerryError(E_IO | E_ABORTED)
   */
  async commit(finalPath?: string): Promise<void> {
    const target = finalPath ?? this.finalPath;
    if (target === undefined) throw new FerryError(ErrorCode.Io, `committing ${this.tempPath}: no final path given`);
    if (this.state !== 'open') throw new FerryError(ErrorCode.Io, `committing ${target}: sink already ${this.state}`);
    this.state = 'committing';
    const what = `writing ${target}`;
    try {
      if (this.opts.signal?.aborted) throw abortedError(what, this.opts.signal);
      if (this.stream.errored) throw this.stream.errored;
      if (!this.stream.writableEnded) this.stream.end();
      await closed(this.stream);
      if (this.opts.signal?.aborted) throw abortedError(what, this.opts.signal);
      await rename(this.tempPath, target);
      this.state = 'committed';
      this.cleanupListeners();
      await syncDirAfterRename(dirname(target), this.opts);
    } catch (e) {
      if (this.state === 'committed') throw ioError(what, e); // renamed; only the directory fsync failed
      this.state = 'open';
      await this.abort();
      throw ioError(what, e);
    }
  }

  /**
   * Discards everything written: destroys the stream and removes the temporary file.
   * Idempotent (every call resolves once the file is gone), never throws; a no-op after commit.
   */
  abort(): Promise<void> {
    if (this.state === 'committed') return Promise.resolve();
    if (this.state === 'committing') {
      // commit() is in flight: stop its stream; its own failure path removes the file.
      if (!this.stream.destroyed) this.stream.destroy();
      return Promise.resolve();
    }
    this.aborting ??= (async () => {
      this.state = 'aborted';
      this.cleanupListeners();
      if (!this.stream.destroyed) this.stream.destroy();
      await closed(this.stream).catch(() => {});
      await unlink(this.tempPath).catch(() => {});
    })();
    return this.aborting;
  }

  private cleanupListeners(): void {
    this.forgetExit();
    this.opts.signal?.removeEventListener('abort', this.onAbort);
  }
}

/**
 * Resolves once a file write stream has finished and closed its descriptor (fsynced when opened with
 * `flush`); rejects with its error, or if it was destroyed before finishing.
 */
function closed(stream: WriteStream): Promise<void> {
  const settle = (): Error | undefined =>
    stream.errored ?? (stream.writableFinished ? undefined : new Error('write stream destroyed before finishing'));
  if (stream.closed) {
    const e = settle();
    return e ? Promise.reject(e) : Promise.resolve();
  }
  return new Promise((resolve, reject) => {
    stream.once('close', () => {
      const e = settle();
      if (e) reject(e);
      else resolve();
    });
  });
}
