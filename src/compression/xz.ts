/**
 * xz decompression on `xz-decompress` (xz-embedded compiled to WebAssembly: no native code, nothing to compile at
 * install), wrapped as a Node Duplex. The module is loaded on first use, so loading ferry stays cheap.
 *
 * The library decodes xz streams one after the other (any number of blocks each, as `xz -T` writes them; streams
 * concatenated as `xz -d` reads them) and takes one decoder context at a time in the whole process: a context is
 * taken when a decoder starts and given back when it ends, fails or is cancelled. So the decoder here starts only
 * when the first output is asked for, and every way out of the Duplex (end, error, destroy) cancels it.
 */
import { createRequire } from 'node:module';
import { Duplex, PassThrough, Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream, ReadableStreamDefaultReader } from 'node:stream/web';
import { FerryError, ErrorCode } from '../errors.js';

interface XzDecompressModule {
  XzReadableStream: new (compressed: WebReadableStream<Uint8Array>) => WebReadableStream<Uint8Array>;
}

let loaded: XzDecompressModule | undefined;

function xzModule(): XzDecompressModule {
  try {
    loaded ??= createRequire(import.meta.url)('xz-decompress') as XzDecompressModule;
  } catch (e) {
    throw new FerryError(ErrorCode.Unsupported, `xz is not available: the xz-decompress module failed to load (${(e as Error).message})`, { cause: e });
  }
  return loaded;
}

const CHUNK = 1 << 20;

/** An xz decompressing Duplex: compressed bytes in, the decoded bytes out. */
export class XzDecompress extends Duplex {
  private readonly input = new PassThrough({ highWaterMark: CHUNK });
  private reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  /** The decoder is done with its input (or the Duplex is gone): further input is dropped. */
  private finished = false;

  constructor() {
    super({ readableHighWaterMark: CHUNK, writableHighWaterMark: CHUNK });
    xzModule();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.finished || this.input.write(chunk)) {
      cb();
      return;
    }
    const onDrain = () => {
      this.input.removeListener('close', onDrain);
      this.input.removeListener('drain', onDrain);
      cb();
    };
    this.input.once('drain', onDrain);
    this.input.once('close', onDrain);
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (!this.finished) this.input.end();
    cb();
  }

  override _read(): void {
    if (!this.reader) {
      const web = new (xzModule().XzReadableStream)(Readable.toWeb(this.input) as unknown as WebReadableStream<Uint8Array>);
      this.reader = web.getReader();
    }
    this.reader.read().then(
      (r) => {
        if (r.done) {
          this.stopInput();
          this.push(null);
        } else if (r.value.byteLength > 0) {
          this.push(Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength));
        } else {
          this._read();
        }
      },
      (e: unknown) => this.destroy(corrupt(e)),
    );
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.stopInput();
    const reader = this.reader;
    this.reader = undefined;
    if (!reader) {
      cb(err);
      return;
    }
    reader.cancel().then(
      () => cb(err),
      () => cb(err),
    );
  }

  /** No more input goes to the decoder; pending writes are released. */
  private stopInput(): void {
    if (this.finished) return;
    this.finished = true;
    this.input.destroy();
  }
}

/** xz-embedded's `enum xz_ret` failures, by number. */
const XZ_ERRORS: Record<string, string> = {
  '2': 'unsupported integrity check',
  '3': 'out of memory',
  '4': 'the dictionary is larger than the decoder allows',
  '5': 'not xz data',
  '6': 'unsupported xz options',
  '7': 'corrupt data',
  '8': 'the data ends before the xz stream does',
};

function corrupt(e: unknown): FerryError {
  if (e instanceof FerryError) return e;
  const message = e instanceof Error ? e.message : String(e);
  const code = /error code (\d+)/.exec(message)?.[1];
  // The library reads past the end of its input when the data stops mid-stream (a TypeError).
  const why = e instanceof TypeError ? XZ_ERRORS['8'] : code !== undefined ? (XZ_ERRORS[code] ?? message) : message;
  return new FerryError(ErrorCode.InvalidManifest, `corrupt or truncated xz data: ${why}`, { cause: e });
}

/**
 * An xz decompression stream.
 * @throws FerryError(E_UNSUPPORTED) if the xz-decompress module cannot be loaded.
 */
export function xzDecompressStream(): Duplex {
  return new XzDecompress();
}
