/**
 * A minimal streaming tar writer producing the same headers as Go's `archive/tar` does for the
 * `tar.FileInfoHeader`s containers/image writes: ustar format, uid/gid 0, empty user/group names,
 * modification time 0 (1970-01-01), octal fields zero-padded and NUL-terminated. Names that do not fit
 * ustar get a PAX extended header (from the `tar` package). Data is copied chunk by chunk with
 * backpressure, so multi-GB files never sit in memory.
 */
import type { Readable, Writable } from 'node:stream';
import { Pax } from 'tar';
import { FerryError, ErrorCode, sizeMismatch } from '../../errors.js';
import { drained } from '../../util/stream-files.js';
import type { OpOptions } from '../../types/context.js';
import { checkAborted } from '../shared/files.js';
import { BLOCK } from './tar-index.js';

const ZERO_BLOCKS = Buffer.alloc(2 * BLOCK);

/** Octal `x` in a field of `len` bytes: zero-padded to `len - 1` digits, NUL-terminated (Go's formatOctal). */
function putOctal(buf: Buffer, off: number, len: number, x: number): void {
  const s = x.toString(8).padStart(len - 1, '0');
  if (s.length > len - 1) throw new RangeError(`tar: value ${x} does not fit a ${len}-byte field`);
  buf.write(s, off, 'ascii');
}

/** Splits a long name into ustar `prefix` + `name` (Go's splitUSTARPath), or undefined if impossible. */
function splitUstar(name: string): { prefix: string; name: string } | undefined {
  const bytes = Buffer.byteLength(name);
  if (bytes <= 100) return { prefix: '', name };
  if (bytes > 256 || !/^[\x20-\x7e]*$/.test(name)) return undefined;
  let i = Math.min(name.length - 1, 155);
  while (i > 0 && name[i] !== '/') i--;
  if (i <= 0) return undefined;
  const prefix = name.slice(0, i);
  const rest = name.slice(i + 1);
  if (rest.length === 0 || rest.length > 100) return undefined;
  return { prefix, name: rest };
}

/** One ustar header block (preceded by a PAX block when a name does not fit). Exported for headers written after their data. */
export function encodeHeader(h: { name: string; mode: number; size: number; type: '0' | '2' | '5'; linkname?: string }): Buffer {
  const blocks: Buffer[] = [];
  let split = /^[\x20-\x7e]*$/.test(h.name) ? splitUstar(h.name) : undefined;
  const linkname = h.linkname ?? '';
  const linkFits = Buffer.byteLength(linkname) <= 100 && /^[\x20-\x7e]*$/.test(linkname);
  if (!split || !linkFits) {
    const pax: Record<string, string> = {};
    if (!split) pax.path = h.name;
    if (!linkFits) pax.linkpath = linkname;
    blocks.push(new Pax(pax).encode());
    split ??= { prefix: '', name: Buffer.from(h.name).subarray(0, 100).toString('latin1') };
  }
  const b = Buffer.alloc(BLOCK);
  b.write(split.name, 0, 100, 'utf8');
  putOctal(b, 100, 8, h.mode);
  putOctal(b, 108, 8, 0); // uid
  putOctal(b, 116, 8, 0); // gid
  putOctal(b, 124, 12, h.size);
  putOctal(b, 136, 12, 0); // mtime
  b.write(h.type, 156, 'ascii');
  if (linkFits) b.write(linkname, 157, 100, 'utf8');
  b.write('ustar\u000000', 257, 'latin1');
  putOctal(b, 329, 8, 0); // devmajor
  putOctal(b, 337, 8, 0); // devminor
  b.write(split.prefix, 345, 155, 'utf8');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of b) sum += byte;
  putOctal(b, 148, 7, sum);
  b[154] = 0;
  b[155] = 0x20;
  blocks.push(b);
  return blocks.length === 1 ? b : Buffer.concat(blocks);
}

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
