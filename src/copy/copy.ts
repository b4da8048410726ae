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
import { shareMemoized } from '../util/context-memo.js';
import { parseManifest } from '../manifest/parse.js';
import type { ManifestList } from '../manifest/types.js';
import type { ImageDestination } from '../types/image.js';
import type { ImageReference } from '../types/reference.js';
import { copyMultipleImages } from './multiple.js';
import { SourceInstances } from './source-instances.js';
import { checkSourcePolicy } from './source-policy.js';
import type { DestinationContext } from '../types/context.js';
import { destinationContext } from './dest-context.js';
import type { CopyOptions, CopyResult } from './options.js';
import { imageEvent } from './progress.js';
import { PartialStore, partialLocationFor } from './partial.js';
import { imageAlreadyPresent } from './present.js';
import type { ReferrerSubject } from './referrers.js';
import { copySingleImage, type ImageCopyContext, type WrittenManifest } from './single.js';

export type { CopyOptions, CopyResult, CopyPhase, DestinationContext, CompressOptions, MultiArch } from './options.js';

/**
 * The signers and identity of a signing copy, checked before anything is copied (as skopeo): the destination must
 * store signatures, and the identity is `signIdentity` or the destination's docker reference.
 */
function signingFor(opts: CopyOptions, destRef: ImageReference, dest: ImageDestination): ImageCopyContext['signing'] {
  if (!opts.signers || opts.signers.length === 0) return undefined;
  if (!dest.properties.supportsSignatures) {
    throw new FerryError(ErrorCode.Unsupported, `cannot sign the image: ${destRef.toString()} does not support signatures`);
  }
  const identity = opts.signIdentity ?? destRef.dockerReference();
  if (identity === undefined) {
    throw new FerryError(ErrorCode.Usage, `cannot determine the identity to sign ${destRef.toString()} as: give it with --sign-identity`);
  }
  return { signers: opts.signers, identity };
}

/**
 * The instances of `list` that the written list names, each as written (an instance converted on the way is named
 * in the written list by its new digest, at the same position).
 */
function copiedInstances(list: ManifestList, written: WrittenManifest): ReferrerSubject[] {
  const writtenList = parseManifest(written.bytes, written.mediaType) as ManifestList;
  if (writtenList.manifests.length === list.manifests.length) {
    return list.manifests.map((d, i) => ({ source: d.digest, written: writtenList.manifests[i]!.digest }));
  }
  // a platform subset: the instances kept, those unchanged matched by digest
  const kept = new Set(writtenList.manifests.map((d) => d.digest));
  return list.manifests.filter((d) => kept.has(d.digest)).map((d) => ({ source: d.digest, written: d.digest }));
}

function checkOptions(opts: CopyOptions): void {
  const usage = (m: string) => new FerryError(ErrorCode.Usage, m);
  if (opts.parallel !== undefined && (!Number.isInteger(opts.parallel) || opts.parallel < 1)) throw usage(`parallel copies must be a positive integer, got ${opts.parallel}`);
  if (opts.platforms !== undefined && opts.platforms.length > 0 && opts.multiArch === 'index-only') throw usage('a platform list cannot be combined with copying the index only');
  if (opts.compress?.level !== undefined && !Number.isInteger(opts.compress.level)) throw usage(`compression level must be an integer, got ${opts.compress.level}`);
}

/**
 * Copies the image `srcRef` names to `destRef`, once the trust policy (`opts.policy`) accepts the source's top-level
 * manifest and its signatures and, for a list, each instance to be copied with its own signatures (the policy checks
 * the list too, where containers/image checks only the instances: a list is accepted when it and every instance
 * copied are).
 * @returns the digest of the top-level manifest written.
 * @throws FerryError naming what failed (blob digest, image); E_POLICY if the policy refuses the image (the
 *   destination is then never opened); E_ABORTED if `opts.signal` aborted.
 */
export async function copyImage(srcRef: ImageReference, destRef: ImageReference, opts: CopyOptions): Promise<CopyResult> {
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

async function run(srcRef: ImageReference, destRef: ImageReference, opts: CopyOptions, signal: AbortSignal): Promise<CopyResult> {
  if (opts.compress?.format === 'zstd' && opts.compress.mode !== 'decompress') {
    // before anything is opened: the copy may compress layers with zstd, which this Node may lack
    (await import('../compression/zstd.js')).requireZstd('compressing layers with zstd');
  }
  const srcCtx = opts.srcCtx ?? {};
  const destCtx = destinationContext(opts);
  // what both sides read from the same files (registries.conf, certificates, registries.d) is read once per copy
  shareMemoized(srcCtx, destCtx);

  const source = await srcRef.newImageSource(srcCtx, { signal });
  try {
    const top = new UnparsedImage(source);
    const vm = await top.manifest({ signal });
    let topSigs: Promise<Buffer[]> | undefined;
    const topSignatures = () => (topSigs ??= source.getSignatures(undefined, { signal }));
    const instances = new SourceInstances(source, signal);
    const listed = await checkSourcePolicy(srcRef, vm, topSignatures, instances, opts, signal);
    const dest = await destRef.newImageDestination(destCtx, { signal });
    let committed = false;
    let failure: unknown;
    // Partial downloads only where the source asks for them (network sources), where the destination wants them.
    const partials = source.properties?.resumableDownloads ? new PartialStore(partialLocationFor(dest, destCtx)) : undefined;
    try {
      const c: ImageCopyContext = {
        signing: signingFor(opts, destRef, dest),
        topSignatures,
        instances,
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
      // a copy that signs always writes (its new signatures); otherwise an image already there is left alone
      if (opts.skipIfPresent && c.signing === undefined && !opts.includeReferrers) {
        const present = await imageAlreadyPresent(c, vm);
        if (present !== undefined) return { manifestDigest: present, skipped: true };
      }
      let digest: string;
      let sourceList: { bytes: Buffer; digest: string } | undefined;
      /** What was copied, for `includeReferrers`: each manifest's digest at the source and as written. */
      let subjects: ReferrerSubject[];
      if (listed === undefined) {
        digest = (await copySingleImage(c, top, { asInstance: false })).digest;
        subjects = [{ source: vm.digest, written: digest }];
      } else if ('selection' in listed.plan) {
        const { list } = listed;
        const written = await copyMultipleImages(c, list, vm.bytes, vm.digest, listed.plan.selection);
        digest = written.digest;
        subjects = [{ source: vm.digest, written: digest }];
        if (opts.multiArch !== 'index-only') subjects.push(...copiedInstances(list, written));
      } else {
        const d = listed.plan.system;
        digest = (await copySingleImage(c, instances.get(d.digest).image, { sourceInstance: d.digest, asInstance: false })).digest;
        sourceList = { bytes: vm.bytes, digest: vm.digest };
        subjects = [{ source: d.digest, written: digest }];
      }
      if (opts.includeReferrers) {
        const { copyReferrers } = await import('./referrers.js');
        await copyReferrers({ ...c, onImage: opts.onImage, blobBudget: opts.blobBudget, from: srcRef.toString(), to: destRef.toString() }, subjects);
      }
      if (signal.aborted) throw new FerryError(ErrorCode.Aborted, 'aborted before commit', { cause: signal.reason });
      await dest.commit({ signal, ...(sourceList ? { sourceList } : {}) });
      committed = true;
      imageEvent(opts.onImage, { kind: 'image-done', digest });
      await partials?.committed().catch(() => {});
      return { manifestDigest: digest };
    } catch (e) {
      failure = e;
      throw e;
    } finally {
      await partials?.close(failure).catch(() => {});
      await dest.close().catch((e: unknown) => {
        if (committed) throw e;
      });
    }
  } finally {
    await source.close().catch(() => {});
  }
}
