/**
 * gzip streams on node:zlib, with large buffers (zlib's default 16 KiB output chunks make gunzip
 * measurably slower on layer data: see bench/micro/gunzip.mjs and docs/performance.md).
 */
import { availableParallelism } from 'node:os';
import type { Transform } from 'node:stream';
import { createGunzip, createGzip, type Gunzip } from 'node:zlib';
import { ParallelGzip } from './pgzip.js';

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

/**
 * A gzip Transform at `level` (1–9, default {@link DEFAULT_GZIP_LEVEL}). By default blocks are deflated
 * in parallel ({@link ParallelGzip}: faster on more than one core, deterministic output); with
 * `parallel: false`, one plain zlib stream.
 */
export function gzipStream(level: number = DEFAULT_GZIP_LEVEL, opts: { parallel?: boolean } = {}): Transform {
  if (opts.parallel === false) return createGzip({ level, chunkSize: GZIP_CHUNK_SIZE });
  // Leave one thread of libuv's pool (4 by default) free for file reads and writes.
  return new ParallelGzip({ level, jobs: Math.min(3, Math.max(1, availableParallelism())) });
}
