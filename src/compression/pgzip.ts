/**
 * Parallel gzip (the pigz scheme): the input is cut into fixed-size blocks, each deflated on its own
 * in the libuv thread pool with the previous block's last 32 KiB as dictionary and ended with a sync
 * flush (byte-aligned, not final), and the raw deflate pieces are written in order between one gzip
 * header and trailer (CRC-32 and length, computed on the way in). The result is one ordinary gzip
 * member that any gunzip reads, and it is deterministic: the same bytes and level always give the same
 * output, whatever the number of workers.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { constants, crc32, deflateRaw, type ZlibOptions } from 'node:zlib';

/** Uncompressed bytes per block. */
export const PGZIP_BLOCK_SIZE = 1 << 20;
/** Deflate's window: the dictionary carried from one block to the next. */
const WINDOW = 32 * 1024;

/** gzip header: magic, CM=deflate, no flags, mtime 0, no extra flags, OS "unknown" (like Go's writer). */
const HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff]);

function deflateBlock(block: Buffer, dictionary: Buffer | undefined, level: number, last: boolean): Promise<Buffer> {
  const opts: ZlibOptions = {
    level,
    chunkSize: PGZIP_BLOCK_SIZE,
    finishFlush: last ? constants.Z_FINISH : constants.Z_SYNC_FLUSH,
  };
  if (dictionary) opts.dictionary = dictionary;
  return new Promise((resolve, reject) => deflateRaw(block, opts, (err, out) => (err ? reject(err) : resolve(out))));
}

/** Options of {@link ParallelGzip}. */
export interface ParallelGzipOptions {
  /** zlib level 1–9. */
  level: number;
  /** Blocks deflated at the same time (default 4; the thread pool has 4 threads by default). */
  jobs?: number;
  /** Uncompressed block size (default {@link PGZIP_BLOCK_SIZE}); changes the output bytes. */
  blockSize?: number;
}

/** A Transform producing a gzip stream, deflating blocks in parallel in the thread pool. */
export class ParallelGzip extends Transform {
  private readonly level: number;
  private readonly jobs: number;
  private readonly blockSize: number;
  private block: Buffer;
  private fill = 0;
  private prevTail: Buffer | undefined;
  private crc = 0;
  private length = 0;
  private readonly inFlight: Promise<Buffer>[] = [];
  private headerSent = false;

  constructor(opts: ParallelGzipOptions) {
    super({ readableHighWaterMark: PGZIP_BLOCK_SIZE, writableHighWaterMark: PGZIP_BLOCK_SIZE });
    this.level = opts.level;
    this.jobs = Math.max(1, opts.jobs ?? 4);
    this.blockSize = opts.blockSize ?? PGZIP_BLOCK_SIZE;
    this.block = Buffer.allocUnsafe(this.blockSize);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.crc = crc32(chunk, this.crc);
    this.length += chunk.length;
    this.consume(chunk, 0).then(() => cb(), cb);
  }

  override _flush(cb: TransformCallback): void {
    const last = this.block.subarray(0, this.fill);
    this.start(last, true);
    (async () => {
      while (this.inFlight.length > 0) this.emit1(await this.inFlight.shift()!);
      const trailer = Buffer.allocUnsafe(8);
      trailer.writeUInt32LE(this.crc >>> 0, 0);
      trailer.writeUInt32LE(this.length % 2 ** 32, 4);
      this.push(trailer);
    })().then(() => cb(), cb);
  }

  /** Copies `chunk[from..]` into blocks, starting a job for each full block (waiting when all jobs are busy). */
  private async consume(chunk: Buffer, from: number): Promise<void> {
    let off = from;
    while (off < chunk.length) {
      const n = Math.min(chunk.length - off, this.blockSize - this.fill);
      chunk.copy(this.block, this.fill, off, off + n);
      this.fill += n;
      off += n;
      if (this.fill === this.blockSize) {
        if (this.inFlight.length >= this.jobs) this.emit1(await this.inFlight.shift()!);
        this.start(this.block, false);
        this.block = Buffer.allocUnsafe(this.blockSize);
        this.fill = 0;
      }
    }
  }

  /** Starts deflating `block` (owned by the job from now on) with the previous block's tail as dictionary. */
  private start(block: Buffer, last: boolean): void {
    const job = deflateBlock(block, this.prevTail, this.level, last);
    job.catch(() => {}); // observed when awaited in order; avoid unhandled rejections meanwhile
    this.inFlight.push(job);
    this.prevTail = block.subarray(Math.max(0, block.length - WINDOW));
  }

  private emit1(out: Buffer): void {
    if (!this.headerSent) {
      this.headerSent = true;
      this.push(HEADER);
    }
    this.push(out);
  }
}
