/**
 * Staging one layer: compressed stream → digest check → decompress → untar into a staging `diff/`,
 * with the diff ID and tar-split computed in the same pass; nothing is buffered in a file.
 * The staged layer is renamed into place by the store's commit, or discarded.
 */
import { unlinkSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Duplex, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FerryError, ErrorCode } from '../errors.js';
import { decompressStream, detectStreamCompression, type Compression } from '../compression/index.js';
import { makeOwnedTempDir } from '../util/owned-temp-dir.js';
import { registerExitCleanup } from '../util/temp.js';
import type { WhiteoutMode } from './apply.js';
import { VerifyingStream } from '../util/verify-stream.js';
import { applyToFiles } from './apply-files.js';
import type { Whiteouts } from './driver.js';

/** A layer unpacked into a staging directory, not yet in layers.json. */
export interface StagedLayer {
  /** Staging directory holding `diff/` (and, until {@link StagedLayer.disown}, its owner lock). */
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
  /** What the layer deletes in its parents (overlay: also present as whiteout devices and opaque xattrs). */
  whiteouts: Whiteouts;
  /**
   * Drops the owner lock, just before the staging directory is moved into the store. The caller holds the
   * store's layers lock, which `store prune` takes too, so the directory is never seen unowned.
   */
  disown(): Promise<void>;
  /** Removes what is left of the staged layer (idempotent). */
  discard(): Promise<void>;
}

const COMPRESSION_NUMBER: Record<Compression, number> = { none: 0, bzip2: 1, gzip: 2, xz: 3, zstd: 4 };

/** Prefix of the staging directories in a driver's staging root. */
export const STAGING_PREFIX = 'layer-';

/** The tar-split file (in the layers directory) of the staging directory `stagingDir`: `store prune` pairs them. */
export function tarSplitTempFor(tarSplitDir: string, stagingDir: string): string {
  return join(tarSplitDir, `${TAR_SPLIT_TEMP_PREFIX}${basename(stagingDir)}${TAR_SPLIT_TEMP_SUFFIX}`);
}
export const TAR_SPLIT_TEMP_PREFIX = '.ferry-';
export const TAR_SPLIT_TEMP_SUFFIX = '.tar-split.gz';

const isPrematureClose = (e: unknown) => (e as NodeJS.ErrnoException | undefined)?.code === 'ERR_STREAM_PREMATURE_CLOSE';

/**
 * Unpacks `input` (a layer blob, compressed or not) into a new owner-locked directory `stagingRoot/layer-XXXXXX`
 * (its `diff/`), writing tar-split records next to layers.json in `tarSplitDir`. Verifies `digest`/`size` when
 * given. Errors of every stage (source, digest check, decompression, unpacking) end the whole pipeline.
 * @throws FerryError(E_DIGEST_MISMATCH | E_SIZE_MISMATCH | E_HOSTILE_ARCHIVE | E_IO | E_ABORTED); nothing is left behind.
 */
export async function stageLayer(
  input: Readable,
  stagingRoot: string,
  tarSplitDir: string,
  info: { digest?: string; size?: number },
  opts: { signal?: AbortSignal; whiteoutMode?: WhiteoutMode; opaqueXattr?: string; ignoreChownErrors?: boolean } = {},
): Promise<StagedLayer> {
  let owned;
  try {
    await mkdir(tarSplitDir, { recursive: true, mode: 0o700 });
    owned = await makeOwnedTempDir(stagingRoot, STAGING_PREFIX);
    await mkdir(join(owned.path, 'diff'), { mode: 0o755 });
  } catch (e) {
    input.destroy();
    await owned?.remove();
    if (e instanceof FerryError) throw e;
    throw new FerryError(ErrorCode.Io, `staging layer: ${(e as Error).message}`, { cause: e });
  }
  const stagingDir = owned.path;
  const tarSplitPath = tarSplitTempFor(tarSplitDir, stagingDir);
  const removeTarSplit = () => {
    try {
      unlinkSync(tarSplitPath);
    } catch {
      /* already gone */
    }
  };
  const forgetTarSplit = registerExitCleanup(removeTarSplit);
  let discarded = false;
  const discard = async () => {
    if (discarded) return;
    discarded = true;
    // The tar-split first: a prune meanwhile removes a tar-split whose staging directory is gone, never the reverse.
    removeTarSplit();
    forgetTarSplit();
    await owned.remove();
  };

  const verifier = new VerifyingStream({ digest: info.digest, size: info.size ?? -1, what: `layer ${info.digest ?? ''}`.trim() });
  let inputError: unknown;
  const inputDone = pipeline(input, verifier).catch((e: unknown) => {
    inputError = e;
  });
  let dec: Duplex | undefined;
  let decError: unknown;
  let decDone: Promise<void> = Promise.resolve();
  const onAbort = () => input.destroy(new FerryError(ErrorCode.Aborted, 'staging layer: aborted', { cause: opts.signal?.reason }));
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (opts.signal?.aborted) onAbort();
    const detected = await detectStreamCompression(verifier);
    const d = decompressStream(detected.compression);
    dec = d;
    decDone = pipeline(detected.stream, d).catch((e: unknown) => {
      decError = e;
    });
    let applied;
    try {
      applied = await applyToFiles(d, join(stagingDir, 'diff'), tarSplitPath, opts);
    } catch (e) {
      // Whatever stopped unpacking, stop the streams feeding it, then report the source's own failure first
      // (a cut or corrupt blob makes the tar look truncated).
      d.destroy();
      await Promise.all([inputDone, decDone]);
      throw inputError !== undefined && !isPrematureClose(inputError) ? inputError : e;
    }
    await Promise.all([inputDone, decDone]);
    if (inputError !== undefined) throw inputError;
    if (decError !== undefined) throw new FerryError(ErrorCode.Io, `decompressing layer: ${(decError as Error).message}`, { cause: decError });
    return {
      dir: stagingDir,
      tarSplitPath,
      compressedDigest: verifier.digest!,
      compressedSize: verifier.bytes,
      compression: COMPRESSION_NUMBER[detected.compression],
      ...applied,
      disown: async () => {
        await owned.disown();
      },
      discard,
    };
  } catch (e) {
    input.destroy();
    dec?.destroy();
    await discard();
    if (e instanceof FerryError) throw e;
    throw new FerryError(ErrorCode.Io, `staging layer: ${(e as Error).message}`, { cause: e });
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
}
