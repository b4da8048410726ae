/**
 * Gathers small chunks into large ones before a stage that pays per chunk: node:zlib hands every written
 * chunk to the thread pool as one job, so feeding it ~64 KiB network chunks costs one hand-off (and often a
 * context switch on a busy machine) per 64 KiB. Copying them into 1 MiB chunks first costs one memcpy.
 */
import { Transform, type TransformCallback } from 'node:stream';

/** Default size of the chunks produced by {@link Rechunker}. */
export const RECHUNK_BYTES = 1 << 20;

/** A Transform passing the same bytes on in chunks of at least `size` bytes (the last one may be shorter). */
export class Rechunker extends Transform {
  private readonly size: number;
  private parts: Buffer[] = [];
  private have = 0;

  constructor(size: number = RECHUNK_BYTES) {
    super({ readableHighWaterMark: size, writableHighWaterMark: size });
    this.size = size;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.have === 0 && chunk.length >= this.size) {
      cb(null, chunk);
      return;
    }
    this.parts.push(chunk);
    this.have += chunk.length;
    if (this.have >= this.size) this.emitParts();
    cb();
  }

  override _flush(cb: TransformCallback): void {
    if (this.have > 0) this.emitParts();
    cb();
  }

  private emitParts(): void {
    const out = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.have);
    this.parts = [];
    this.have = 0;
    this.push(out);
  }
}
