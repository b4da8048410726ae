/**
 * Small regular files of a layer, created in batches on libuv's thread pool by the native addon's `createFiles`
 * (open O_CREAT|O_EXCL|O_NOFOLLOW, write, fchown, fchmod, futimens, close per file), so that creating files in the
 * kernel — the bulk of applying a layer of many small files — overlaps with decompression and tar parsing on the
 * main thread, with the other layers, and with the other batches.
 *
 * The caller (apply.ts) hands over only files whose path is new to the layer, whose parents it has created
 * already, and which have no xattrs; it calls {@link FileBatcher.drain} before anything that reads or replaces a
 * path a pending file may hold (replacements, hard links, whiteouts) and before directory modes and times.
 */
import type { StoreNative } from './native.js';

/** One file to create: `path` must not exist; `data` is its whole content. */
export interface BatchedFile {
  path: string;
  /** The tar entry's name, for error messages. */
  name: string;
  data: Buffer[];
  size: number;
  uid: number;
  gid: number;
  /** Whether to fchown to uid:gid. */
  chown: boolean;
  mode: number;
  /** Seconds since the epoch, finite and ≥ 0. */
  mtime: number;
}

/** A batch's failure: the native error (code, errno, syscall, path) and the tar entry it was creating. */
export interface BatchFailure {
  error: NodeJS.ErrnoException;
  file: BatchedFile | undefined;
}

const META_FIELDS = 6;
/** A batch is sent when it holds this many files or bytes. */
const BATCH_FILES = 64;
const BATCH_BYTES = 512 << 10;
/** Batches in flight per layer: enough to keep creation going while the next batch fills, without taking the whole pool. */
const IN_FLIGHT = 2;

export class FileBatcher {
  private files: BatchedFile[] = [];
  private bytes = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private failure: BatchFailure | undefined;

  constructor(
    private readonly native: StoreNative,
    /** An fchown failing with EINVAL (an ID the user namespace lacks) leaves the file ours instead of failing. */
    private readonly ignoreChownEinval: boolean,
    /** Turns a batch's failure into the error to throw. */
    private readonly onFailure: (f: BatchFailure) => Error,
  ) {}

  /**
   * Queues a file; waits while too many batches are in flight.
   * @throws the first failure of an earlier batch, through `onFailure`.
   */
  async add(f: BatchedFile): Promise<void> {
    this.throwFailure();
    this.files.push(f);
    this.bytes += f.size;
    if (this.files.length >= BATCH_FILES || this.bytes >= BATCH_BYTES) await this.send();
  }

  /** Sends what is queued and waits for every batch; throws the first failure. */
  async drain(): Promise<void> {
    if (this.files.length > 0) await this.send();
    await this.settle();
    this.throwFailure();
  }

  /** Waits for every batch in flight, ignoring failures (before the caller removes the layer's directory). */
  async settle(): Promise<void> {
    this.files = [];
    this.bytes = 0;
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private async send(): Promise<void> {
    while (this.inFlight.size >= IN_FLIGHT) await Promise.race(this.inFlight);
    this.throwFailure();
    const files = this.files;
    this.files = [];
    this.bytes = 0;
    const meta = new Float64Array(files.length * META_FIELDS);
    const chunks: Buffer[] = [];
    files.forEach((f, i) => {
      meta.set([f.uid, f.gid, f.mode, f.mtime, f.size, f.chown ? 1 : 0], i * META_FIELDS);
      chunks.push(...f.data);
    });
    const run = this.native
      .createFiles(files.map((f) => f.path), meta, Buffer.concat(chunks), this.ignoreChownEinval ? 1 : 0)
      .catch((e: NodeJS.ErrnoException & { index?: number }) => {
        this.failure ??= { error: e, file: typeof e.index === 'number' ? files[e.index] : undefined };
      })
      .finally(() => this.inFlight.delete(run));
    this.inFlight.add(run);
  }

  private throwFailure(): void {
    if (this.failure) throw this.onFailure(this.failure);
  }
}
