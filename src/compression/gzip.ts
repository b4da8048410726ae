/** gzip streams on node:zlib, with large buffers (zlib's default 16 KiB output chunks make gunzip several times slower). */
import { createGunzip, createGzip, type Gunzip, type Gzip } from 'node:zlib';

/** Output chunk size of the zlib streams. */
export const GZIP_CHUNK_SIZE = 1 << 20;

/** Default gzip level: zlib's (and Go's) default, 6. */
export const DEFAULT_GZIP_LEVEL = 6;

/**
 * A gunzip Transform. Concatenated gzip members (as some layer writers produce) are decompressed one
 * after the other; zero padding after the last member is ignored, other trailing bytes are an error.
 */
export function gunzipStream(): Gunzip {
  return createGunzip({ chunkSize: GZIP_CHUNK_SIZE });
}

/** A gzip Transform at `level` (1–9, default {@link DEFAULT_GZIP_LEVEL}). */
export function gzipStream(level: number = DEFAULT_GZIP_LEVEL): Gzip {
  return createGzip({ level, chunkSize: GZIP_CHUNK_SIZE });
}
