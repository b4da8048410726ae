/**
 * A minimal streaming tar writer producing the same bytes as Go's `archive/tar` does for the `tar.FileInfoHeader`s
 * containers/image writes (headers: header.ts {@link encodeHeader}). Data is copied chunk by chunk with
 * backpressure, so multi-GB files never sit in memory.
 */
import type { Readable, Writable } from 'node:stream';
import { FerryError, ErrorCode, sizeMismatch } from '../errors.js';
import { drained } from '../util/stream-files.js';
import type { OpOptions } from '../types/context.js';
import { checkAborted } from '../util/abort.js';
import { BLOCK, encodeHeader } from './header.js';

const ZERO_BLOCKS = Buffer.alloc(2 * BLOCK);

/**
 * Writes a tar stream into `out` entry by entry. Call {@link finish} at the end (it does not end `out`).
 * Not reentrant: await each call before the next.
 */
export class TarWriter {
  private readonly out: Writable;
  /** Bytes written so far. */
  written = 0;

  constructor(out: Writable) {
    this.out = out;
  }

  private async write(buf: Buffer): Promise<void> {
    if (this.out.destroyed) throw this.out.errored ?? new FerryError(ErrorCode.Io, 'tar: output stream closed');
    this.written += buf.length;
    if (!this.out.write(buf)) await drained(this.out);
  }

  /** Writes bytes that are already whole tar entries (what another TarWriter wrote), as they are. */
  async addRaw(bytes: Buffer): Promise<void> {
    await this.write(bytes);
  }

  /**
   * Adds a regular file of exactly `size` bytes from `content` (mode 0444, like containers/image).
   * @throws FerryError(E_SIZE_MISMATCH) if `content` yields another number of bytes; E_ABORTED.
   */
  async addFile(name: string, size: number, content: Buffer | Readable, opts: OpOptions & { mode?: number } = {}): Promise<void> {
    checkAborted(opts.signal, `writing ${name} to the archive`);
    await this.write(encodeHeader({ name, mode: opts.mode ?? 0o444, size, type: '0' }));
    let n = 0;
    if (Buffer.isBuffer(content)) {
      if (content.length !== size) throw sizeMismatch(`tar entry ${name}`, size, content.length);
      n = size;
      if (size > 0) await this.write(content);
    } else {
      for await (const chunk of content) {
        checkAborted(opts.signal, `writing ${name} to the archive`);
        const c = chunk as Buffer;
        n += c.length;
        if (n > size) {
          content.destroy();
          throw sizeMismatch(`tar entry ${name}`, size, n);
        }
        await this.write(c);
      }
      if (n !== size) throw sizeMismatch(`tar entry ${name}`, size, n);
    }
    const pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if (pad > 0) await this.write(Buffer.alloc(pad));
  }

  /** Adds a symbolic link `name` → `target` (mode 0, as Go's FileInfoHeader writes for containers/image). */
  async addSymlink(name: string, target: string): Promise<void> {
    await this.write(encodeHeader({ name, mode: 0, size: 0, type: '2', linkname: target }));
  }

  /** Adds a directory entry (`name/`). */
  async addDirectory(name: string, mode = 0o755): Promise<void> {
    await this.write(encodeHeader({ name: name.endsWith('/') ? name : `${name}/`, mode, size: 0, type: '5' }));
  }

  /** Writes the end-of-archive marker (two zero blocks). */
  async finish(): Promise<void> {
    await this.write(ZERO_BLOCKS);
  }
}
