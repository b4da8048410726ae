/**
 * bzip2 decompression on `unbzip2-stream` (pure JavaScript), wrapped as a Node Transform with backpressure: the
 * library is an old-style `through` stream that decodes every complete block synchronously inside `write` and
 * emits the output as events. Wrapping it so each input chunk's output is pushed before the next chunk is taken
 * keeps memory to about one bzip2 block (at most 900 kB compressed) plus its output. Concatenated bzip2 streams
 * are read one after the other; the module is loaded on first use.
 */
import { createRequire } from 'node:module';
import type { Stream } from 'node:stream';
import { Transform, type TransformCallback } from 'node:stream';
import { FerryError, ErrorCode } from '../errors.js';

type ThroughStream = Stream & { write(chunk: Buffer): boolean; end(): void };

let loaded: (() => ThroughStream) | undefined;

function unbzip2(): () => ThroughStream {
  try {
    loaded ??= createRequire(import.meta.url)('unbzip2-stream') as () => ThroughStream;
  } catch (e) {
    throw new FerryError(ErrorCode.Unsupported, `bzip2 is not available: the unbzip2-stream module failed to load (${(e as Error).message})`, { cause: e });
  }
  return loaded;
}

function corrupt(e: unknown): FerryError {
  const why = e instanceof Error ? e.message : String(e);
  return new FerryError(ErrorCode.InvalidManifest, `corrupt or truncated bzip2 data: ${why}`, { cause: e });
}

/** A bzip2 decompressing Transform. */
export class Bzip2Decompress extends Transform {
  private readonly inner: ThroughStream;
  private failure: unknown;
  private ended = false;

  constructor() {
    super({ readableHighWaterMark: 1 << 20, writableHighWaterMark: 1 << 20 });
    this.inner = unbzip2()();
    this.inner.on('data', (d: Buffer) => {
      if (d.length > 0) this.push(d);
    });
    this.inner.on('error', (e: unknown) => {
      this.failure ??= e;
    });
    this.inner.on('end', () => {
      this.ended = true;
    });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.failure === undefined) {
      try {
        this.inner.write(chunk);
      } catch (e) {
        this.failure ??= e;
      }
    }
    cb(this.failure !== undefined ? corrupt(this.failure) : null);
  }

  override _flush(cb: TransformCallback): void {
    if (this.failure === undefined) {
      try {
        this.inner.end();
      } catch (e) {
        this.failure ??= e;
      }
    }
    if (this.failure === undefined && !this.ended) this.failure = new Error('the data ends before the bzip2 stream does');
    cb(this.failure !== undefined ? corrupt(this.failure) : null);
  }
}

/**
 * A bzip2 decompression stream.
 * @throws FerryError(E_UNSUPPORTED) if the unbzip2-stream module cannot be loaded.
 */
export function bzip2DecompressStream(): Transform {
  return new Bzip2Decompress();
}
