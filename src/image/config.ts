/** Reading an image's config blob: capped, size- and digest-verified. */
import { FerryError, ErrorCode, sizeMismatch } from '../errors.js';
import type { OpOptions } from '../types/context.js';
import type { BlobInfo, ImageSource } from '../types/image.js';
import { verifyDigest } from '../util/digest.js';
import { MAX_JSON_BYTES } from '../util/bounded-read.js';

/** Configs larger than this are refused: 4 MiB, as containers/image. */
export const MAX_CONFIG_SIZE = MAX_JSON_BYTES;

/**
 * Reads the config blob `info` from `source` into memory and verifies it.
 * @throws FerryError(E_INVALID_MANIFEST) if larger than `maxSize`; E_SIZE_MISMATCH, E_DIGEST_MISMATCH, E_ABORTED.
 */
export async function readConfigBlob(
  source: ImageSource,
  info: BlobInfo,
  opts: OpOptions & { maxSize?: number } = {},
): Promise<Buffer> {
  const max = opts.maxSize ?? MAX_CONFIG_SIZE;
  const tooLarge = () => new FerryError(ErrorCode.InvalidManifest, `config blob ${info.digest} is larger than ${max} bytes`);
  if (info.size > max) throw tooLarge();
  opts.signal?.throwIfAborted();
  const { stream } = await source.getBlob(info, { signal: opts.signal });
  const chunks: Buffer[] = [];
  let total = 0;
  const onAbort = () => stream.destroy(new FerryError(ErrorCode.Aborted, 'reading config blob aborted'));
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const chunk of stream) {
      const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      total += b.length;
      if (total > max) throw tooLarge();
      chunks.push(b);
    }
  } catch (e) {
    if (opts.signal?.aborted) throw new FerryError(ErrorCode.Aborted, 'reading config blob aborted', { cause: e });
    throw e;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    stream.destroy();
  }
  const data = Buffer.concat(chunks);
  if (info.size >= 0 && data.length !== info.size) throw sizeMismatch(`config blob ${info.digest}`, info.size, data.length);
  verifyDigest(`config blob`, data, info.digest);
  return data;
}
