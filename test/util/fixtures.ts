/** Test data for the stream tests: deterministic pseudo-random and compressible bytes, and stream helpers. */
import { Readable, Writable } from 'node:stream';

/** `size` pseudo-random bytes from `seed` (xorshift32): the same seed always gives the same bytes. */
export function seededRandom(size: number, seed = 1): Buffer {
  const buf = Buffer.allocUnsafe(size + 3);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    buf.writeUInt32LE(x, i);
  }
  return buf.subarray(0, size);
}

/** `size` bytes of text-like, well compressible data (repeated words with a varying counter). */
export function compressible(size: number): Buffer {
  const parts: string[] = [];
  let n = 0;
  let len = 0;
  while (len < size) {
    const s = `line ${n++} of some layer content /usr/lib/ferry/file-${n % 97}.so\n`;
    parts.push(s);
    len += s.length;
  }
  return Buffer.from(parts.join('')).subarray(0, size);
}

/** A Readable yielding `data` in chunks of `chunk` bytes. */
export function chunked(data: Buffer, chunk = 64 * 1024): Readable {
  let off = 0;
  return new Readable({
    read() {
      if (off >= data.length) {
        this.push(null);
        return;
      }
      this.push(data.subarray(off, off + chunk));
      off += chunk;
    },
  });
}

/** A Writable collecting everything; `result()` concatenates it. */
export function collector(): Writable & { result(): Buffer } {
  const chunks: Buffer[] = [];
  const w = new Writable({
    write(c: Buffer, _e, cb) {
      chunks.push(c);
      cb();
    },
  }) as Writable & { result(): Buffer };
  w.result = () => Buffer.concat(chunks);
  return w;
}
