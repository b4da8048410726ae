/**
 * zstd streams. Node 20's zlib has no zstd, so this uses the native `zstd-napi` addon (libzstd built
 * from bundled sources at install). It is loaded on first use: if the addon is missing, only zstd
 * fails (E_UNSUPPORTED), gzip and everything else keep working.
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import type { Transform } from 'node:stream';
import { FerryError, ErrorCode } from '../errors.js';

/** Default zstd level: libzstd's default, 3. */
export const DEFAULT_ZSTD_LEVEL = 3;

interface ZstdNapi {
  CompressStream: new (params?: { compressionLevel?: number; nbWorkers?: number; checksumFlag?: boolean }) => Transform;
  DecompressStream: new () => Transform;
}

let loaded: ZstdNapi | undefined;

function zstd(): ZstdNapi {
  if (!loaded) {
    try {
      loaded = createRequire(import.meta.url)('zstd-napi') as ZstdNapi;
    } catch (e) {
      throw new FerryError(ErrorCode.Unsupported, `zstd is not available: the zstd-napi module failed to load (${(e as Error).message})`, { cause: e });
    }
  }
  return loaded;
}

/** Whether zstd streams can be created (the native module loads). */
export function zstdAvailable(): boolean {
  try {
    zstd();
    return true;
  } catch {
    return false;
  }
}

/**
 * A zstd compression Transform at `level` (1–19; default {@link DEFAULT_ZSTD_LEVEL}).
 * Compression runs in libzstd worker threads (up to 4): the output is identical for any worker
 * count ≥ 1, so digests are reproducible across machines.
 * @throws FerryError(E_UNSUPPORTED) if the zstd module is unavailable.
 */
export function zstdCompressStream(level: number = DEFAULT_ZSTD_LEVEL): Transform {
  const nbWorkers = Math.max(1, Math.min(4, availableParallelism()));
  return new (zstd().CompressStream)({ compressionLevel: level, nbWorkers });
}

/**
 * A zstd decompression Transform (multiple concatenated frames are fine).
 * @throws FerryError(E_UNSUPPORTED) if the zstd module is unavailable.
 */
export function zstdDecompressStream(): Transform {
  return new (zstd().DecompressStream)();
}
