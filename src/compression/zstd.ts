/**
 * zstd streams. Node's own zlib has zstd from Node 22.15 / 23.8 on, and ferry uses it there. On older Node
 * (20, early 22) it falls back to the optional `zstd-napi` addon, loaded on first use only: when neither is
 * available, only zstd fails (E_UNSUPPORTED, with one line saying how to get it); gzip and everything else work.
 *
 * Both wrap libzstd with the same parameters (level, worker count), so with the same libzstd release they
 * write the same bytes.
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import type { Transform } from 'node:stream';
import * as zlib from 'node:zlib';
import { FerryError, ErrorCode } from '../errors.js';

/** Default zstd level: libzstd's default, 3. */
export const DEFAULT_ZSTD_LEVEL = 3;

/** How ferry creates zstd streams, whichever library provides them. */
interface ZstdImpl {
  /** `nbWorkers` ≥ 1: libzstd's worker threads; the output is the same for any count ≥ 1. */
  compress(level: number, nbWorkers: number): Transform;
  decompress(): Transform;
}

/** The part of Node's zlib with zstd (Node ≥ 22.15 / 23.8; absent from Node 20's types). */
interface NodeZstd {
  createZstdCompress(options: { params: Record<number, number> }): Transform;
  createZstdDecompress(): Transform;
  constants: Partial<{ ZSTD_c_compressionLevel: number; ZSTD_c_nbWorkers: number }>;
}

/** The part of `zstd-napi` ferry uses. */
interface ZstdNapi {
  CompressStream: new (params?: { compressionLevel?: number; nbWorkers?: number }) => Transform;
  DecompressStream: new () => Transform;
}

/** Node's zlib zstd when this Node has it. */
function nodeZstd(): ZstdImpl | undefined {
  const z = zlib as Partial<NodeZstd>;
  const c = z.constants;
  const levelParam = c?.ZSTD_c_compressionLevel;
  const workersParam = c?.ZSTD_c_nbWorkers;
  const { createZstdCompress, createZstdDecompress } = z;
  if (!createZstdCompress || !createZstdDecompress || levelParam === undefined || workersParam === undefined) return undefined;
  return {
    compress: (level, nbWorkers) => createZstdCompress({ params: { [levelParam]: level, [workersParam]: nbWorkers } }),
    decompress: () => createZstdDecompress(),
  };
}

/** The zstd-napi addon, for Node without zstd in zlib. */
function napiZstd(): ZstdImpl {
  let m: ZstdNapi;
  try {
    m = createRequire(import.meta.url)('zstd-napi') as ZstdNapi;
  } catch (e) {
    // One line: the loader's message carries a multi-line require stack.
    const why = /Cannot find module 'zstd-napi'/.test((e as Error).message) ? 'not installed' : 'not built';
    throw new FerryError(
      ErrorCode.Unsupported,
      `zstd needs Node ≥ 22.15 (this is Node ${process.versions.node}) or the optional zstd-napi package, which is ${why}: ` +
        'use a newer Node, or reinstall ferry with install scripts enabled and a C++ compiler (g++, make)',
      { cause: e },
    );
  }
  return {
    compress: (level, nbWorkers) => new m.CompressStream({ compressionLevel: level, nbWorkers }),
    decompress: () => new m.DecompressStream(),
  };
}

let loaded: ZstdImpl | undefined;

function zstd(): ZstdImpl {
  loaded ??= nodeZstd() ?? napiZstd();
  return loaded;
}

/** Which library provides zstd here: Node's zlib, the zstd-napi addon, or none. */
export function zstdProvider(): 'node' | 'zstd-napi' | 'none' {
  if (nodeZstd()) return 'node';
  try {
    zstd();
    return 'zstd-napi';
  } catch {
    return 'none';
  }
}

/** Whether zstd streams can be created (Node's zlib has zstd, or the addon loads). */
export function zstdAvailable(): boolean {
  return zstdProvider() !== 'none';
}

/**
 * Checks that zstd streams can be created, before a copy that needs them moves anything.
 * @param what what needs zstd, for the message (`compressing layers with zstd`).
 * @throws FerryError(E_UNSUPPORTED) on one line: `what`, and how to get zstd.
 */
export function requireZstd(what: string): void {
  try {
    zstd();
  } catch (e) {
    if (!(e instanceof FerryError)) throw e;
    throw new FerryError(e.code, `${what}: ${e.message}`, { cause: e.cause });
  }
}

/**
 * A zstd compression Transform at `level` (1–19; default {@link DEFAULT_ZSTD_LEVEL}).
 * Compression runs in libzstd worker threads (up to 4): the output is identical for any worker
 * count ≥ 1, so digests are reproducible across machines.
 * @throws FerryError(E_UNSUPPORTED) if zstd is unavailable.
 */
export function zstdCompressStream(level: number = DEFAULT_ZSTD_LEVEL): Transform {
  const nbWorkers = Math.max(1, Math.min(4, availableParallelism()));
  return zstd().compress(level, nbWorkers);
}

/**
 * A zstd decompression Transform (multiple concatenated frames are fine).
 * @throws FerryError(E_UNSUPPORTED) if zstd is unavailable.
 */
export function zstdDecompressStream(): Transform {
  return zstd().decompress();
}
