/**
 * The pass-through that stands for a {@link VerifyingStream} where the bytes' digest was checked already (by the
 * copy engine, upstream in the same pipeline): it counts and caps the bytes without hashing them again, failing as
 * soon as more than `size` bytes arrive and, at the end, when fewer did.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { sizeMismatch } from '../errors.js';

/** See the module comment. */
export class SizeCheckingStream extends Transform {
  /** Bytes seen so far. */
  bytes = 0;
  /** The digest the bytes were verified against upstream, set once all of them passed. */
  digest: string | undefined;

  constructor(
    private readonly verified: { readonly digest: string; readonly size: number },
    private readonly what: string,
  ) {
    super({ readableHighWaterMark: 1 << 20, writableHighWaterMark: 1 << 20 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.verified.size) cb(sizeMismatch(this.what, this.verified.size, this.bytes));
    else cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.bytes !== this.verified.size) return cb(sizeMismatch(this.what, this.verified.size, this.bytes));
    this.digest = this.verified.digest;
    cb();
  }
}
