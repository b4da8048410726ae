/**
 * Staging one layer: compressed stream → digest check → decompress → untar into a staging `diff/`,
 * with the diff ID and tar-split computed in the same pass; nothing is buffered in a file.
 * The staged layer is renamed into place by the store's commit, or discarded.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, pipeline } from 'node:stream';
import { FerryError, ErrorCode } from '../errors.js';
import { decompressStream, detectStreamCompression, type Compression } from '../compression/index.js';
import { registerExitCleanup } from '../util/temp.js';
import { VerifyingStream } from '../util/verify-stream.js';
import { applyToFiles } from './apply-files.js';
import type { Whiteouts } from './driver.js';

/** A layer unpacked into a staging directory, not yet in layers.json. */
export interface StagedLayer {
  /** Staging directory holding `diff/`. */
  dir: string;
  /** The gzip'd tar-split file, next to layers.json. */
  tarSplitPath: string;
  compressedDigest: string;
  compressedSize: number;
  /** containers/storage's compression number (0 none, 2 gzip, 4 zstd). */
  compression: number;
  diffDigest: string;
  diffSize: number;
  uids: number[];
  gids: number[];
  /** Whiteouts recorded for drivers that apply them at commit (vfs). */
  whiteouts?: Whiteouts;
  /** Removes what is left of the staged layer (idempotent). */
  discard(): void;
}

const COMPRESSION_NUMBER: Record<Compression, number> = { none: 0, bzip2: 1, gzip: 2, xz: 3, zstd: 4 };

/**
 * Unpacks `input` (a layer blob, compressed or not) into `stagingDir/diff`, writing tar-split records to
 * `tarSplitDir`. Verifies `digest`/`size` when given.
 * @throws FerryError(E_DIGEST_MISMATCH | E_SIZE_MISMATCH | E_HOSTILE_ARCHIVE | E_IO | E_ABORTED); nothing is left behind.
 */
export async function stageLayer(
  input: Readable,
  stagingDir: string,
  tarSplitDir: string,
  info: { digest?: string; size?: number },
  opts: { signal?: AbortSignal; whiteoutMode?: 'overlay' | 'record' } = {},
): Promise<StagedLayer> {
  mkdirSync(tarSplitDir, { recursive: true, mode: 0o700 });
  const tarSplitPath = join(tarSplitDir, `.ferry-${randomBytes(12).toString('hex')}.tar-split.gz`);
  const cleanup = () => {
    rmSync(stagingDir, { recursive: true, force: true });
    try {
      unlinkSync(tarSplitPath);
    } catch {
      /* already gone */
    }
  };
  const unregister = registerExitCleanup(cleanup);
  const verifier = new VerifyingStream({ digest: info.digest, size: info.size ?? -1, what: `layer ${info.digest ?? ''}`.trim() });
  let inputError: unknown;
  const inputDone = new Promise<void>((resolve) =>
    pipeline(input, verifier, (err) => {
      inputError = err ?? undefined;
      resolve();
    }),
  );
  const onAbort = () => input.destroy(new FerryError(ErrorCode.Aborted, 'staging layer: aborted', { cause: opts.signal?.reason }));
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (opts.signal?.aborted) onAbort();
    const detected = await detectStreamCompression(verifier);
    const dec = decompressStream(detected.compression);
    let decError: unknown;
    const decDone = new Promise<void>((resolve) =>
      pipeline(detected.stream, dec, (err) => {
        decError = err ?? undefined;
        resolve();
      }),
    );
    let applied;
    try {
      applied = await applyToFiles(dec as AsyncIterable<Buffer>, join(stagingDir, 'diff'), tarSplitPath, opts);
    } catch (e) {
      await inputDone;
      throw inputError instanceof FerryError ? inputError : e;
    }
    await Promise.all([inputDone, decDone]);
    if (inputError) throw inputError;
    if (decError) throw new FerryError(ErrorCode.Io, `decompressing layer: ${(decError as Error).message}`, { cause: decError });
    unregister();
    let discarded = false;
    return {
      dir: stagingDir,
      tarSplitPath,
      compressedDigest: verifier.digest!,
      compressedSize: verifier.bytes,
      compression: COMPRESSION_NUMBER[detected.compression],
      ...applied,
      discard: () => {
        if (!discarded) {
          discarded = true;
          cleanup();
        }
      },
    };
  } catch (e) {
    input.destroy();
    cleanup();
    unregister();
    if (e instanceof FerryError) throw e;
    throw new FerryError(ErrorCode.Io, `staging layer: ${(e as Error).message}`, { cause: e });
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
}
