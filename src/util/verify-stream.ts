/**
 * The verifying stage of every blob pipeline: hashes and counts bytes as they pass (without copying
 * them), fails as soon as more than the expected size arrives, and at the end fails with a typed
 * error if the size or digest differs. It also resumes: a partially downloaded file is re-hashed from
 * disk first, then the rest of the blob (fetched with a Range request) flows through.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import { FerryError, ErrorCode, digestMismatch, sizeMismatch } from '../errors.js';
import { hashNameForAlgorithm, parseDigest } from './digest.js';

/** Read buffer for hashing files: large chunks keep the per-chunk overhead negligible. */
export const HASH_READ_CHUNK = 1 << 20;

/** Hash state of bytes already seen, to continue a partial blob. */
export interface HashPrefix {
  /** Hash fed with the first `bytes` bytes of the blob (it will be updated further; pass a copy to share). */
  hash: Hash;
  /** How many bytes it has seen. */
  bytes: number;
}

/** Options of {@link VerifyingStream}. */
export interface VerifyingStreamOptions {
  /** Expected digest (`algorithm:hex`). Empty or absent: nothing is verified, the digest is only computed. */
  digest?: string;
  /** Expected size in bytes; -1 or absent when unknown. */
  size?: number;
  /** What is being verified, for error messages (e.g. `blob sha256:…`). */
  what: string;
  /** Algorithm to compute when `digest` is empty (default `sha256`). */
  algorithm?: string;
  /** Called after each chunk with the total byte count so far (including a resumed prefix). Keep it cheap. */
  onProgress?: (bytes: number) => void;
  /** Continue from this state (see {@link VerifyingStream.resume}); `bytes` starts at `prefix.bytes`. */
  prefix?: HashPrefix;
  /**
   * Bytes queued on each side before it pushes back (default 1 MiB). A stage fed small chunks (network reads) and
   * followed by a slower one can take less: what it queues is memory held per blob in flight.
   */
  highWaterMark?: number;
}

const HIGH_WATER_MARK = 1 << 20;

/**
 * A pass-through Transform that hashes, counts and caps the bytes flowing through it.
 *
 * - more than `size` bytes (when `size` ≥ 0) → fails immediately with E_SIZE_MISMATCH;
 * - at the end: fewer than `size` bytes → E_SIZE_MISMATCH, wrong digest → E_DIGEST_MISMATCH,
 *   both naming `what`;
 * - {@link bytes} and {@link digest} tell what passed (`digest` is set once the stream has flushed).
 */
export class VerifyingStream extends Transform {
  /** Bytes seen so far (including a resumed prefix). */
  bytes: number;
  /** The computed digest, set when the input ended (before `finish`/`end` are emitted). */
  digest: string | undefined;
  private readonly expected: string;
  private readonly size: number;
  private readonly what: string;
  private readonly algorithm: string;
  private readonly hash: Hash;
  private readonly onProgress: ((bytes: number) => void) | undefined;

  constructor(opts: VerifyingStreamOptions) {
    super({ readableHighWaterMark: opts.highWaterMark ?? HIGH_WATER_MARK, writableHighWaterMark: opts.highWaterMark ?? HIGH_WATER_MARK });
    this.expected = opts.digest ?? '';
    this.algorithm = this.expected ? parseDigest(this.expected).algorithm : (opts.algorithm ?? 'sha256');
    this.size = opts.size ?? -1;
    this.what = opts.what;
    this.onProgress = opts.onProgress;
    this.hash = opts.prefix?.hash ?? createHash(hashNameForAlgorithm(this.algorithm));
    this.bytes = opts.prefix?.bytes ?? 0;
    if (this.size >= 0 && this.bytes > this.size) throw sizeMismatch(this.what, this.size, this.bytes);
  }

  /**
   * A verifying stream that continues after the first bytes already in `partialPath` (a partial
   * download): they are re-hashed from disk, so the caller then pipes only the rest of the blob
   * (from offset `stream.bytes`) through the returned stream, and the whole blob is verified at the end.
   * @throws FerryError(E_SIZE_MISMATCH) if the partial file is already longer than `size`, E_IO, E_ABORTED.
   */
  static async resume(partialPath: string, opts: VerifyingStreamOptions & { signal?: AbortSignal }): Promise<VerifyingStream> {
    const algorithm = opts.digest ? parseDigest(opts.digest).algorithm : (opts.algorithm ?? 'sha256');
    const prefix = await hashFilePrefix(partialPath, algorithm, { signal: opts.signal });
    return new VerifyingStream({ ...opts, prefix });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    const n = this.bytes + chunk.length;
    if (this.size >= 0 && n > this.size) {
      this.bytes = n;
      cb(new FerryError(ErrorCode.SizeMismatch, `${this.what}: size mismatch: expected ${this.size} bytes, got more`));
      return;
    }
    this.bytes = n;
    this.hash.update(chunk);
    if (this.onProgress) this.onProgress(n);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.size >= 0 && this.bytes !== this.size) {
      cb(sizeMismatch(this.what, this.size, this.bytes));
      return;
    }
    const actual = `${this.algorithm}:${this.hash.digest('hex')}`;
    this.digest = actual;
    if (this.expected && actual !== this.expected) {
      cb(digestMismatch(this.what, this.expected, actual));
      return;
    }
    cb();
  }
}

/** Feeds a whole file into `hash` (1 MiB reads); returns the byte count. Raw errors. */
async function hashInto(path: string, hash: Hash, signal: AbortSignal | undefined): Promise<number> {
  let bytes = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: HASH_READ_CHUNK, signal })) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return bytes;
}

function hashingError(path: string, e: unknown): FerryError {
  const err = e as NodeJS.ErrnoException;
  if (err.code === 'ENOENT') return new FerryError(ErrorCode.NotFound, `hashing ${path}: no such file`, { cause: e });
  if (err.name === 'AbortError') return new FerryError(ErrorCode.Aborted, `hashing ${path}: aborted`, { cause: e });
  return new FerryError(ErrorCode.Io, `hashing ${path}: ${err.message}`, { cause: e });
}

/**
 * Hashes the whole content of a file (streamed in 1 MiB chunks) and returns the hash state, to continue
 * with more bytes, and the byte count. A missing file is an empty prefix.
 * @throws FerryError(E_IO | E_ABORTED)
 */
export async function hashFilePrefix(path: string, algorithm = 'sha256', opts: { signal?: AbortSignal } = {}): Promise<HashPrefix> {
  const name = hashNameForAlgorithm(algorithm);
  const hash = createHash(name);
  try {
    return { hash, bytes: await hashInto(path, hash, opts.signal) };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { hash: createHash(name), bytes: 0 };
    throw hashingError(path, e);
  }
}

/**
 * The digest (`algorithm:hex`) and size of a file's content, streamed.
 * @throws FerryError(E_NOT_FOUND) for a missing file, E_IO, E_ABORTED.
 */
export async function hashFile(path: string, algorithm = 'sha256', opts: { signal?: AbortSignal } = {}): Promise<{ digest: string; size: number }> {
  const hash = createHash(hashNameForAlgorithm(algorithm));
  try {
    const size = await hashInto(path, hash, opts.signal);
    return { digest: `${algorithm}:${hash.digest('hex')}`, size };
  } catch (e) {
    throw hashingError(path, e);
  }
}
