/**
 * A blob served from memory for the partial-download tests (test/copy/resume-reader, partial-deferred): paced
 * chunks, an optional cut of the first stream, the offset of every request recorded.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { BlobInfo, ImageSource } from '../../src/types/image.js';

export const CHUNK = 64 * 1024;

/** A blob served from memory in 64 KiB chunks, `delayMs` apart; `cutAfter` ends the first stream with an error. */
export function pacedSource(blob: Buffer, o: { delayMs?: number; cutAfter?: number } = {}): { source: ImageSource; offsets: number[] } {
  const offsets: number[] = [];
  const source = {
    async getBlob(_info: BlobInfo, opts: { offset?: number } = {}) {
      const start = opts.offset ?? 0;
      offsets.push(start);
      const cut = offsets.length === 1 ? o.cutAfter : undefined;
      async function* gen() {
        for (let at = start; at < blob.length; at += CHUNK) {
          if (o.delayMs) await new Promise((r) => setTimeout(r, o.delayMs));
          if (cut !== undefined && at - start >= cut) throw Object.assign(new Error('read ECONNRESET (test)'), { code: 'ECONNRESET' });
          yield blob.subarray(at, Math.min(at + CHUNK, blob.length));
        }
      }
      return { stream: Readable.from(gen(), { objectMode: false }), size: blob.length - start };
    },
  } as unknown as ImageSource;
  return { source, offsets };
}

/** `size` bytes of a fixed pattern (from `seed`), with their BlobInfo. */
export function blobOf(size: number, seed: number): { blob: Buffer; info: BlobInfo } {
  const blob = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4) blob.writeUInt32LE((i * 2654435761 + seed) >>> 0, i);
  return { blob, info: { digest: `sha256:${createHash('sha256').update(blob).digest('hex')}`, size, mediaType: 'application/octet-stream' } };
}
