/**
 * `copyImage`: the copy engine's entry point. Opens source and destination, verifies the source
 * manifest, copies one image or a multi-platform list, and commits — or, on any error or abort,
 * closes the destination without committing, so nothing becomes visible.
 *
 * Blobs read from a registry go through a partial-download store (`partial.ts`): a copy that failed or
 * was killed continues its blobs where they stopped when run again; blob streams failing mid-way are
 * resumed at once (`resume.ts`), up to `srcCtx.retryTimes` times.
 */
import { FerryError, ErrorCode } from '../errors.js';
import { UnparsedImage } from '../image/unparsed.js';
import { isIndexType } from '../manifest/media-types.js';
import { parseManifest } from '../manifest/parse.js';
import { choosePlatformInstance } from '../manifest/platform.js';
import type { ManifestList } from '../manifest/types.js';
import type { ImageReference } from '../types/reference.js';
import { copyMultipleImages } from './multiple.js';
import type { CopyOptions, CopyResult, DestinationContext } from './options.js';
import { PartialStore, partialLocationFor } from './partial.js';
import { imageAlreadyPresent } from './present.js';
import { copySingleImage, type ImageCopyContext } from './single.js';

export type { CopyOptions, CopyResult, CopyPhase, DestinationContext, CompressOptions, MultiArch } from './options.js';

function checkOptions(opts: CopyOptions): void {
  const usage = (m: string) => new FerryError(ErrorCode.Usage, m);
  if (opts.parallel !== undefined && (!Number.isInteger(opts.parallel) || opts.parallel < 1)) throw usage(`parallel copies must be a positive integer, got ${opts.parallel}`);
  if (opts.platforms !== undefined && opts.platforms.length > 0 && opts.multiArch === 'index-only') throw usage('a platform list cannot be combined with copying the index only');
  if (opts.compress?.level !== undefined && !Number.isInteger(opts.compress.level)) throw usage(`compression level must be an integer, got ${opts.compress.level}`);
}

/**
 * Copies the image `srcRef` names to `destRef`.
 * @returns the digest of the top-level manifest written.
 * @throws FerryError naming what failed (blob digest, image); E_ABORTED if `opts.signal` aborted.
 */
export async function copyImage(srcRef: ImageReference, destRef: ImageReference, opts: CopyOptions = {}): Promise<CopyResult> {
  checkOptions(opts);
  const signal = opts.signal ?? new AbortController().signal;
  try {
    return await run(srcRef, destRef, opts, signal);
  } catch (e) {
    if (signal.aborted && !(e instanceof FerryError && e.code === ErrorCode.Aborted)) {
      throw new FerryError(ErrorCode.Aborted, `copying ${srcRef.toString()} to ${destRef.toString()}: aborted`, { cause: e });
    }
    throw e;
  }
}

/**
 * Whether blobs from `src` are kept as partial downloads across runs: only for network sources (a local
 * source is read again faster than a partial copy of it would be written).
 */
function usesPartials(src: ImageReference): boolean {
  return src.transport.name === 'docker';
}

async function run(srcRef: ImageReference, destRef: ImageReference, opts: CopyOptions, signal: AbortSignal): Promise<CopyResult> {
  const destCtx: DestinationContext = { ...(opts.destCtx ?? {}) };
  if (opts.ociAcceptUncompressedLayers !== undefined) destCtx.ociAcceptUncompressedLayers = opts.ociAcceptUncompressedLayers;
  if (opts.additionalTags !== undefined) destCtx.additionalTags = opts.additionalTags;

  const source = await srcRef.newImageSource(opts.srcCtx ?? {}, { signal });
  try {
    const dest = await destRef.newImageDestination(destCtx, { signal });
    let committed = false;
    const partials = usesPartials(srcRef) ? new PartialStore(partialLocationFor(destRef, destCtx)) : undefined;
    try {
      const c: ImageCopyContext = {
        source,
        dest,
        signal,
        onProgress: opts.onProgress,
        progressIntervalMs: opts.progressIntervalMs,
        partials,
        retry: { retryTimes: opts.srcCtx?.retryTimes, retryDelayMs: opts.srcCtx?.retryDelayMs },
        opts,
        phase: (p) => {
          try {
            opts.onPhase?.(p);
          } catch {
            // a renderer failure must not break the copy
          }
        },
      };
      const top = new UnparsedImage(source);
      const vm = await top.manifest({ signal });
      if (opts.skipIfPresent) {
        const present = await imageAlreadyPresent(c, vm);
        if (present !== undefined) return { manifestDigest: present, skipped: true };
      }
      let digest: string;
      if (!isIndexType(vm.mediaType)) {
        digest = (await copySingleImage(c, top, { asInstance: false })).digest;
      } else {
        const list = parseManifest(vm.bytes, vm.mediaType) as ManifestList;
        if (opts.platforms !== undefined && opts.platforms.length > 0) {
          digest = (await copyMultipleImages(c, list, vm.bytes, vm.digest, { kind: 'platforms', platforms: opts.platforms })).digest;
        } else if (opts.multiArch === 'all') {
          digest = (await copyMultipleImages(c, list, vm.bytes, vm.digest, { kind: 'all' })).digest;
        } else if (opts.multiArch === 'index-only') {
          digest = (await copyMultipleImages(c, list, vm.bytes, vm.digest, { kind: 'none' })).digest;
        } else {
          const d = choosePlatformInstance(list, opts.srcCtx?.platform ?? {});
          const instance = new UnparsedImage(source, d.digest);
          digest = (await copySingleImage(c, instance, { sourceInstance: d.digest, asInstance: false })).digest;
        }
      }
      if (signal.aborted) throw new FerryError(ErrorCode.Aborted, 'aborted before commit', { cause: signal.reason });
      await dest.commit({ signal });
      committed = true;
      await partials?.committed().catch(() => {});
      return { manifestDigest: digest };
    } finally {
      await partials?.close().catch(() => {});
      await dest.close().catch((e: unknown) => {
        if (committed) throw e;
      });
    }
  } finally {
    await source.close().catch(() => {});
  }
}
