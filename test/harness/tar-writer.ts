/**
 * Deterministic ustar writing: fixed mtime, uid/gid 0, entries in the order given (callers sort).
 * Streams: file contents come from a generator, so big files never sit in memory.
 */

/** One entry of a tar stream. */
export interface TarEntry {
  /** Path without leading `/`; directories end with `/`. At most 100 bytes. */
  path: string;
  type: 'file' | 'dir';
  /** File size in bytes (files only). */
  size?: number;
  /** File content chunks, totalling `size` bytes (files only). */
  content?: () => Iterable<Buffer> | AsyncIterable<Buffer>;
  /** Default 0o644 for files, 0o755 for directories. */
  mode?: number;
}

/** Modification time of every entry: 2024-01-01T00:00:00Z. */
export const TAR_MTIME = 1704067200;

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

/** The 512-byte ustar header of an entry. */
export function tarHeader(e: TarEntry): Buffer {
  const h = Buffer.alloc(512, 0);
  const name = Buffer.from(e.path, 'utf8');
  if (name.length > 100) throw new Error(`tar path too long for the test writer: ${e.path}`);
  name.copy(h, 0);
  const isDir = e.type === 'dir';
  h.write(octal(e.mode ?? (isDir ? 0o755 : 0o644), 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii'); // uid
  h.write(octal(0, 8), 116, 'ascii'); // gid
  h.write(octal(isDir ? 0 : (e.size ?? 0), 12), 124, 'ascii');
  h.write(octal(TAR_MTIME, 12), 136, 'ascii');
  h.write('        ', 148, 'ascii'); // checksum placeholder
  h.write(isDir ? '5' : '0', 156, 'ascii');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  h.write('root', 265, 'ascii');
  h.write('root', 297, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return h;
}

/** Yields a complete tar stream (headers, contents, padding, two zero end blocks). */
export async function* tarStream(entries: Iterable<TarEntry>): AsyncGenerator<Buffer> {
  for (const e of entries) {
    yield tarHeader(e);
    if (e.type !== 'file') continue;
    const size = e.size ?? 0;
    let written = 0;
    if (e.content) {
      for await (const chunk of e.content()) {
        written += chunk.length;
        yield chunk;
      }
    }
    if (written !== size) throw new Error(`tar entry ${e.path}: content is ${written} bytes, header says ${size}`);
    const pad = (512 - (size % 512)) % 512;
    if (pad) yield Buffer.alloc(pad);
  }
  yield Buffer.alloc(1024);
}
