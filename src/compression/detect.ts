/** Compression detection by magic bytes, and peeking at a stream's first bytes without consuming them. */
import { Readable } from 'node:stream';
import { FerryError, ErrorCode } from '../errors.js';

/** A compression algorithm ferry can recognise (`none`: not compressed, or unknown). */
export type Compression = 'gzip' | 'zstd' | 'bzip2' | 'xz' | 'none';

/** Longest magic number below: this many bytes are enough to detect any algorithm. */
export const MAGIC_LENGTH = 6;

const MAGICS: ReadonlyArray<[Exclude<Compression, 'none'>, readonly number[]]> = [
  ['gzip', [0x1f, 0x8b]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['bzip2', [0x42, 0x5a, 0x68]], // "BZh"
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
];

/** The compression whose magic number starts `firstBytes` (at least {@link MAGIC_LENGTH} bytes when available), else `none`. */
export function detectCompression(firstBytes: Uint8Array): Compression {
  for (const [alg, magic] of MAGICS) {
    if (firstBytes.length >= magic.length && magic.every((b, i) => firstBytes[i] === b)) return alg;
  }
  return 'none';
}

/**
 * Reads up to `n` bytes from the start of `stream` without losing them. Resolves with those bytes
 * (fewer if the stream is shorter) and the stream to read everything from: `stream` itself with the
 * bytes put back (`unshift`), or, if it ended while peeking, a new stream of those bytes.
 * `stream` must not be flowing yet (not piped, no `data` listener).
 * @throws the stream's error; FerryError(E_ABORTED) if `signal` aborts.
 */
export function peekBytes(stream: Readable, n: number, opts: { signal?: AbortSignal } = {}): Promise<{ head: Buffer; stream: Readable }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let have = 0;
    const done = (err: unknown, ended: boolean) => {
      stream.removeListener('readable', onReadable);
      stream.removeListener('end', onEnd);
      stream.removeListener('error', onError);
      opts.signal?.removeEventListener('abort', onAbort);
      if (err !== undefined) {
        reject(err);
        return;
      }
      const head = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      if (ended) {
        resolve({ head, stream: Readable.from(head.length > 0 ? [head] : [], { objectMode: false }) });
        return;
      }
      stream.unshift(head);
      resolve({ head: head.subarray(0, n), stream });
    };
    const onReadable = () => {
      let chunk: Buffer | null;
      while (have < n && (chunk = stream.read() as Buffer | null) !== null) {
        chunks.push(chunk);
        have += chunk.length;
      }
      if (have >= n) done(undefined, false);
    };
    const onEnd = () => done(undefined, true);
    const onError = (e: unknown) => done(e, false);
    const onAbort = () => done(new FerryError(ErrorCode.Aborted, 'peeking at a stream: aborted', { cause: opts.signal?.reason }), false);
    if (opts.signal?.aborted) {
      onAbort();
      return;
    }
    stream.on('readable', onReadable);
    stream.once('end', onEnd);
    stream.once('error', onError);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Detects the compression of a stream from its first bytes without losing them: resolves with the
 * algorithm and the stream to read all bytes from (see {@link peekBytes}).
 */
export async function detectStreamCompression(
  stream: Readable,
  opts: { signal?: AbortSignal } = {},
): Promise<{ compression: Compression; stream: Readable }> {
  const peeked = await peekBytes(stream, MAGIC_LENGTH, opts);
  return { compression: detectCompression(peeked.head), stream: peeked.stream };
}
