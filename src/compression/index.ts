/**
 * Compression entry points for the copy engine: streams by algorithm name. (Which layer media type goes with which
 * compression is the manifest's business: manifest/layer-compression.ts.)
 */
import { type Duplex, PassThrough, type Transform } from 'node:stream';
import { FerryError, ErrorCode } from '../errors.js';
import type { Compression } from './detect.js';
import { bzip2DecompressStream } from './bzip2.js';
import { DEFAULT_GZIP_LEVEL, gunzipStream, gzipStream } from './gzip.js';
import { xzDecompressStream } from './xz.js';
import { DEFAULT_ZSTD_LEVEL, zstdCompressStream, zstdDecompressStream } from './zstd.js';

export { type Compression, detectCompression, detectStreamCompression, peekBytes, MAGIC_LENGTH } from './detect.js';
export { gunzipStream, gzipStream, DEFAULT_GZIP_LEVEL, GZIP_CHUNK_SIZE } from './gzip.js';
export { ParallelGzip, PGZIP_BLOCK_SIZE } from './pgzip.js';
export { zstdCompressStream, zstdDecompressStream, zstdAvailable, DEFAULT_ZSTD_LEVEL } from './zstd.js';
export { xzDecompressStream } from './xz.js';
export { bzip2DecompressStream } from './bzip2.js';

/** Algorithms ferry can compress with. */
export type CompressionAlgorithm = 'gzip' | 'zstd';

/**
 * A stream that decompresses `alg` (`none` passes bytes through). Corrupt or truncated bzip2/xz data fails the
 * stream with FerryError(E_INVALID_MANIFEST); gzip and zstd fail with their library's error.
 * @throws FerryError(E_UNSUPPORTED) when the algorithm's module cannot be loaded.
 */
export function decompressStream(alg: Compression): Duplex {
  switch (alg) {
    case 'gzip':
      return gunzipStream();
    case 'zstd':
      return zstdDecompressStream();
    case 'xz':
      return xzDecompressStream();
    case 'bzip2':
      return bzip2DecompressStream();
    case 'none':
      return new PassThrough({ highWaterMark: 1 << 20 });
    default:
      throw new FerryError(ErrorCode.Unsupported, `decompressing ${alg} is not supported`);
  }
}

/**
 * A Transform that compresses with `alg` at `level` (algorithm's default when omitted).
 * @throws FerryError(E_UNSUPPORTED) for zstd without its module.
 */
export function compressStream(alg: CompressionAlgorithm, level?: number): Transform {
  switch (alg) {
    case 'gzip':
      return gzipStream(level ?? DEFAULT_GZIP_LEVEL);
    case 'zstd':
      return zstdCompressStream(level ?? DEFAULT_ZSTD_LEVEL);
    default:
      throw new FerryError(ErrorCode.Unsupported, `compressing with ${String(alg)} is not supported`);
  }
}
