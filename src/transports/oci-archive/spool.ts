/**
 * The tar of a multi-image OCI archive being written (batch.ts), with the blobs going straight into it as they
 * arrive instead of into a staged layout that is copied into the tar at the end: each blob of known SHA-256 digest
 * and size gets its place in the file (header, data, padding) when it starts, so images and layers copied in
 * parallel write into the same file at once, each at its own offset, every byte written once. The tar begins with
 * `blobs/` and `blobs/sha256/`; what follows the blobs (other blobs, `ferry-archive.json`, `index.json`,
 * `oci-layout`, the end marker) is appended by {@link ArchiveSpool.finish}. Blob entries are in arrival order, so
 * the archive's bytes may differ between two runs with the same content (its blobs, index and digests do not).
 *
 * A blob that failed half-way leaves a region that is not the blob ({@link ArchiveSpool.damaged}): the spool is then
 * only a store of the blobs that were completed ({@link ArchiveSpool.source}), copied into a new tar.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FerryError, ErrorCode, digestMismatch, ioError, sizeMismatch } from '../../errors.js';
import type { OpOptions } from '../../types/context.js';
import type { BlobInfo, PutBlobOptions } from '../../types/image.js';
import { BLOCK, encodeHeader } from '../../tar/header.js';
import { WritebackPacer } from '../../util/writeback.js';
import { TarWriter } from '../../tar/writer.js';
import { parseDigest } from '../../util/digest.js';
import { BLOB_READ_CHUNK } from '../shared/files.js';
import { BLOBS_DIR } from '../oci-layout/layout.js';

/** A blob completed in the spool: its data starts at `offset`. */
interface SpooledBlob {
  offset: number;
  size: number;
}

/** Where a blob of the archive being written comes from (merge.ts). */
export interface SpooledSource {
  size: number;
  open(): Readable;
}

/** Writes into a file from `pos` on, with positional writes (several of them write into one file at once). */
class PositionalWriter extends Writable {
  constructor(
    private readonly fh: FileHandle,
    private pos: number,
    /** Told the bytes of every write (the spool's early writeback). */
    private readonly wrote?: (n: number) => void,
  ) {
    super({ highWaterMark: BLOB_READ_CHUNK });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.take([chunk], cb);
  }

  /** The chunks that arrived while the last write was under way, in one system call. */
  override _writev(chunks: { chunk: Buffer }[], cb: (e?: Error | null) => void): void {
    this.take(
      chunks.map((c) => c.chunk),
      cb,
    );
  }

  /** Writes `chunks` (a subclass checks them first). */
  protected take(chunks: Buffer[], cb: (e?: Error | null) => void): void {
    this.writeAll(chunks).then(() => cb(), cb);
  }

  private async writeAll(chunks: Buffer[]): Promise<void> {
    let rest = chunks;
    while (rest.length > 0) {
      const total = rest.reduce((n, c) => n + c.length, 0);
      const { bytesWritten } = await this.fh.writev(rest, this.pos);
      this.pos += bytesWritten;
      this.wrote?.(bytesWritten);
      if (bytesWritten === total) return;
      // A short write (rare on a regular file): the rest, as one buffer.
      rest = [Buffer.concat(rest).subarray(bytesWritten)];
    }
  }
}

/**
 * Writes a blob into its place, checking its bytes in the same stage instead of a checking stream before the
 * writer (one stream step less per network chunk): hashed against the blob's SHA-256 digest, or, when the copy
 * engine verified them upstream against the same digest and size, only counted. More bytes than the size fail
 * at once; fewer, or another digest, at the end, before the blob counts as written.
 */
class BlobPlaceWriter extends PositionalWriter {
  private bytes = 0;
  /** Undefined when the bytes were verified upstream. */
  private readonly hash: Hash | undefined;

  constructor(
    fh: FileHandle,
    pos: number,
    private readonly info: { digest: string; size: number },
    private readonly what: string,
    verifiedUpstream: boolean,
    wrote?: (n: number) => void,
  ) {
    super(fh, pos, wrote);
    this.hash = verifiedUpstream ? undefined : createHash('sha256');
  }

  protected override take(chunks: Buffer[], cb: (e?: Error | null) => void): void {
    for (const c of chunks) {
      this.bytes += c.length;
      if (this.bytes > this.info.size) return cb(sizeMismatch(this.what, this.info.size, this.bytes));
      this.hash?.update(c);
    }
    super.take(chunks, cb);
  }

  override _final(cb: (e?: Error | null) => void): void {
    if (this.bytes !== this.info.size) return cb(sizeMismatch(this.what, this.info.size, this.bytes));
    if (this.hash) {
      const actual = `sha256:${this.hash.digest('hex')}`;
      if (actual !== this.info.digest) return cb(digestMismatch(this.what, this.info.digest, actual));
    }
    cb();
  }
}

/**
 * Bytes written into the spool between early syncs: the archive is the only file of a sync that is fsynced, at the
 * very end, when nothing else is left to overlap with it; a shorter interval than {@link WritebackPacer}'s default
 * leaves that fsync less to write.
 */
export const SPOOL_WRITEBACK_EVERY = 32 << 20;

/** How the spool's early writeback is paced (tests: a smaller interval, a counting sync). */
export interface SpoolWriteback {
  every?: number;
  sync?: (fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => void;
}

/** See the module comment. */
export class ArchiveSpool {
  /** Offset of the next free place. */
  private end: number;
  /** Blobs being written or written, by digest (a failed one is removed). */
  private readonly blobs = new Map<string, Promise<SpooledBlob>>();
  /** Blobs completed, by digest. */
  private readonly done = new Map<string, SpooledBlob>();
  /** Whether some place holds a blob that failed: the file is then not a tar of the completed blobs as it is. */
  damaged = false;
  private finished = false;
  /**
   * The whole file is fsynced at {@link finish}: its pages are written back while the blobs still arrive, so that
   * fsync is left only the last few (src/util/writeback.ts).
   */
  private readonly writeback: WritebackPacer;

  private constructor(
    /** The file. */
    readonly path: string,
    private readonly fh: FileHandle,
    start: number,
    writeback: SpoolWriteback,
  ) {
    this.end = start;
    this.writeback = new WritebackPacer(fh.fd, writeback.every ?? SPOOL_WRITEBACK_EVERY, writeback.sync);
  }

  /**
   * Creates the spool file `archive.spool` in `dir` (on the archive's file system), its pages written back early as
   * `writeback` says (default: every {@link SPOOL_WRITEBACK_EVERY} bytes).
   * @throws FerryError(E_IO)
   */
  static async create(dir: string, writeback: SpoolWriteback = {}): Promise<ArchiveSpool> {
    const path = join(dir, 'archive.spool');
    try {
      const fh = await open(path, 'wx+', 0o644);
      const head = Buffer.concat([encodeHeader({ name: `${BLOBS_DIR}/`, mode: 0o755, size: 0, type: '5' }), encodeHeader({ name: `${BLOBS_DIR}/sha256/`, mode: 0o755, size: 0, type: '5' })]);
      await fh.write(head, 0, head.length, 0);
      return new ArchiveSpool(path, fh, head.length, writeback);
    } catch (e) {
      throw ioError(`creating ${path}`, e);
    }
  }

  /** Whether {@link put} takes the blob: a SHA-256 digest and a size are known. */
  accepts(info: BlobInfo): boolean {
    return !this.finished && info.size >= 0 && typeof info.digest === 'string' && /^sha256:[a-f0-9]{64}$/.test(info.digest);
  }

  /** The blob, if the spool has it (waiting for one being written). */
  async reuse(info: BlobInfo): Promise<BlobInfo | undefined> {
    const p = this.blobs.get(info.digest);
    const b = p ? await p.catch(() => undefined) : undefined;
    if (!b || (info.size >= 0 && info.size !== b.size)) return undefined;
    return { ...info, size: b.size };
  }

  /**
   * Writes the blob read from `stream` into its place, verified (unless `opts.verifiedUpstream` says it was), or
   * reuses the one written already (the stream is then destroyed unread).
   * @throws FerryError(E_DIGEST_MISMATCH | E_SIZE_MISMATCH | E_IO | E_ABORTED)
   */
  async put(stream: Readable, info: BlobInfo, opts: PutBlobOptions = {}): Promise<BlobInfo> {
    for (let p = this.blobs.get(info.digest); p !== undefined; p = this.blobs.get(info.digest)) {
      const b = await p.catch(() => undefined);
      if (b === undefined) {
        // Failed: the next writer (maybe this one) takes over.
        if (this.blobs.get(info.digest) === p) this.blobs.delete(info.digest);
        continue;
      }
      stream.destroy();
      if (b.size !== info.size) throw sizeMismatch(`blob ${info.digest}`, info.size, b.size);
      return { ...info, size: b.size };
    }
    const p = this.write(stream, info, opts);
    this.blobs.set(info.digest, p);
    try {
      const b = await p;
      this.done.set(info.digest, b);
      return { ...info, size: b.size };
    } catch (e) {
      if (this.blobs.get(info.digest) === p) this.blobs.delete(info.digest);
      throw e;
    }
  }

  private async write(stream: Readable, info: BlobInfo, opts: PutBlobOptions): Promise<SpooledBlob> {
    const what = `blob ${info.digest}`;
    if (this.finished) throw new FerryError(ErrorCode.Io, `writing ${what} to ${this.path}: the archive is complete`);
    const header = encodeHeader({ name: `${BLOBS_DIR}/sha256/${parseDigest(info.digest).hex}`, mode: 0o644, size: info.size, type: '0' });
    const start = this.end;
    const offset = start + header.length;
    this.end = offset + info.size + ((BLOCK - (info.size % BLOCK)) % BLOCK);
    const up = opts.verifiedUpstream;
    const trusted = up !== undefined && up.digest === info.digest && up.size === info.size;
    try {
      await this.fh.write(header, 0, header.length, start);
      await pipeline(stream, new BlobPlaceWriter(this.fh, offset, info, what, trusted, (n) => this.writeback.wrote(n)), { signal: opts.signal });
    } catch (e) {
      this.damaged = true;
      if (!stream.destroyed) stream.destroy();
      throw e instanceof FerryError ? e : ioError(`writing ${what} to ${this.path}`, e);
    }
    return { offset, size: info.size };
  }

  /** Where blob `digest` is, if it was completed. */
  source(digest: string, opts: OpOptions = {}): SpooledSource | undefined {
    const b = this.done.get(digest);
    if (!b) return undefined;
    return {
      size: b.size,
      open: () => (b.size === 0 ? Readable.from([]) : createReadStream(this.path, { start: b.offset, end: b.offset + b.size - 1, highWaterMark: BLOB_READ_CHUNK, signal: opts.signal })),
    };
  }

  /** The digests of the completed blobs. */
  get digests(): ReadonlySet<string> {
    return new Set(this.done.keys());
  }

  /**
   * Appends what `write` writes after the blobs (it finishes the tar), then syncs and closes the file: it is
   * then the whole archive. Call only when no blob is being written.
   * @throws FerryError(E_IO), what `write` throws.
   */
  async finish(write: (tar: TarWriter) => Promise<void>, opts: OpOptions = {}): Promise<void> {
    this.finished = true;
    const out = new PositionalWriter(this.fh, this.end);
    try {
      await write(new TarWriter(out));
      await new Promise<void>((resolve, reject) => {
        out.once('error', reject);
        out.end(resolve);
      });
      if (opts.signal?.aborted) throw new FerryError(ErrorCode.Aborted, `writing ${this.path}: aborted`, { cause: opts.signal.reason });
      await this.writeback.drain();
      await this.fh.sync();
    } catch (e) {
      out.destroy();
      throw e instanceof FerryError ? e : ioError(`writing ${this.path}`, e);
    }
  }

  /** Closes the file (it is removed with the staging directory). */
  async close(): Promise<void> {
    await this.writeback.drain(); // an early sync still running holds the descriptor
    await this.fh.close().catch(() => {});
  }
}
