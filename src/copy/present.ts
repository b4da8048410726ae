/**
 * Skipping an image the destination already has (containers/image `OptimizeDestinationImageAlreadyExists`, which
 * skopeo sync turns on).
 *
 * 1. From the source's top-level manifest alone, the digest the copy would write if nothing about the image changed:
 *    the source's digest (an image, a whole index, the index only), the chosen instance's digest (one platform of an
 *    index), or the digest of the index of the selected platforms (`platforms`).
 * 2. One question to the destination (`ImageDestination.existingManifestDigest`: a HEAD at a registry). A different
 *    digest, none, or no answer: the image is copied.
 * 3. Only when the digests are equal: a check that the copy really would write those bytes unchanged — no manifest
 *    conversion, no layer (re)compression, no layers substituted by the source, no signatures to carry. A copy that
 *    would change the manifest is never skipped, so the answer is never wrong, only sometimes "copy".
 *
 * A cold copy thus costs one HEAD more; a copy of an image already there costs the source's manifests and one HEAD.
 */
import { FerryError, ErrorCode } from '../errors.js';
import { compressionOfMediaType } from '../manifest/layer-compression.js';
import { UnparsedImage, type VerifiedManifest } from '../image/unparsed.js';
import { manifestDigest } from '../manifest/manifest-digest.js';
import { MediaType, isIndexType } from '../manifest/media-types.js';
import { parseManifest } from '../manifest/parse.js';
import { choosePlatformInstance } from '../manifest/platform.js';
import { serializeManifestList } from '../manifest/serialize.js';
import type { ManifestList } from '../manifest/types.js';
import { compressionStep } from './blob.js';
import { chooseImageType, chooseListType, familyOf, forcedImageType, forcedListType } from './format.js';
import { instancesForPlatforms } from './multiple.js';
import type { DestinationProperties, ImageDestination, ImageSource } from '../types/image.js';
import type { CopyOptions } from './options.js';

/**
 * What the check needs of a copy: its source and options, and of the destination its properties and its answer to
 * "which manifest do you hold" (a copy's `ImageCopyContext`, or a read-only probe in a plan).
 */
export interface PresenceContext {
  source: ImageSource;
  dest: { readonly properties: DestinationProperties; existingManifestDigest?: ImageDestination['existingManifestDigest'] };
  opts: CopyOptions;
  signal: AbortSignal;
}

/** What a copy would write if the image were copied unchanged. */
interface Candidate {
  /** The top-level digest written. */
  digest: string;
  /** Whether a list is written (its signatures must be checked too). */
  list: boolean;
  /** The source images to check: undefined for the top-level image, else an instance digest. */
  images: Array<string | undefined>;
}

function isAbort(e: unknown, signal: AbortSignal): boolean {
  return signal.aborted || (e instanceof FerryError && e.code === ErrorCode.Aborted);
}

/** The candidate for `top`, or undefined when the copy would write a list of another type (never skipped). */
function candidateFor(c: PresenceContext, top: VerifiedManifest): Candidate | undefined {
  const { opts, dest } = c;
  if (!isIndexType(top.mediaType)) return { digest: top.digest, list: false, images: [undefined] };
  const list = parseManifest(top.bytes, top.mediaType) as ManifestList;
  const platforms = opts.platforms ?? [];
  const all = list.manifests.map((d) => d.digest);
  const sameListType = (): boolean => {
    try {
      return chooseListType(list.mediaType, dest.properties.supportedManifestMIMETypes, forcedListType(opts.format)) === list.mediaType;
    } catch {
      return false;
    }
  };
  if (platforms.length > 0) {
    if (!sameListType()) return undefined;
    const positions = instancesForPlatforms(list, platforms);
    if (positions.length === list.manifests.length) return { digest: top.digest, list: true, images: all };
    // the index of the selected platforms, as copyMultipleImages writes it when no instance changes
    const bytes = serializeManifestList({ ...list, manifests: positions.map((i) => ({ ...list.manifests[i]! })) });
    return { digest: manifestDigest(bytes), list: true, images: positions.map((i) => list.manifests[i]!.digest) };
  }
  if (opts.multiArch === 'all') return sameListType() ? { digest: top.digest, list: true, images: all } : undefined;
  if (opts.multiArch === 'index-only') return sameListType() ? { digest: top.digest, list: true, images: [] } : undefined;
  const chosen = choosePlatformInstance(list, opts.srcCtx?.platform ?? {});
  return { digest: chosen.digest, list: false, images: [chosen.digest] };
}

/** Whether copying the image `vm` (source instance `instance`) would write its manifest bytes as they are. */
async function copiesUnchanged(c: PresenceContext, vm: VerifiedManifest, instance: string | undefined, expectedType?: string): Promise<boolean> {
  const { opts, dest, source, signal } = c;
  const m = parseManifest(vm.bytes, vm.mediaType);
  if (m.kind !== 'image' || m.schema1 !== undefined) return false;
  if (expectedType !== undefined && expectedType !== m.mediaType) return false;
  if (!opts.removeSignatures && (await source.getSignatures(instance, { signal })).length > 0) return false;
  if (source.layerInfosForCopy && (await source.layerInfosForCopy(instance, { signal })) !== undefined) return false;
  const canModify = !opts.preserveDigests;
  const desired = opts.compress && opts.compress.mode !== 'preserve' ? opts.compress.mode : dest.properties.desiredLayerCompression;
  const explicitFormat = opts.compress?.format;
  const prefer = canModify && desired === 'compress' && explicitFormat === 'zstd' ? MediaType.OciManifest : undefined;
  let target: string;
  try {
    target = chooseImageType(m.mediaType, dest.properties.supportedManifestMIMETypes, { forced: forcedImageType(opts.format), prefer });
  } catch {
    return false;
  }
  if (target !== m.mediaType) return false;
  if (canModify && desired === 'compress' && explicitFormat === 'zstd' && familyOf(target) === 'docker') return false;
  for (const layer of m.layers) {
    if (dest.properties.acceptsForeignLayerURLs && layer.urls !== undefined && layer.urls.length > 0) continue;
    const compression = compressionOfMediaType(layer.mediaType ?? '');
    const step = compressionStep(compression ?? 'none', { canModify: canModify && compression !== undefined, desired, explicitFormat });
    if (step.op !== 'preserve') return false;
  }
  return true;
}

/**
 * The digest of the image the destination already holds exactly as this copy would write it, or undefined when the
 * image must be copied. Source errors are thrown (the copy would fail on them too); a destination that cannot answer
 * means "copy".
 */
export async function imageAlreadyPresent(c: PresenceContext, top: VerifiedManifest): Promise<string | undefined> {
  const { dest, signal } = c;
  if (!dest.existingManifestDigest) return undefined;
  const cand = candidateFor(c, top);
  if (cand === undefined) return undefined;
  let existing: string | undefined;
  try {
    existing = await dest.existingManifestDigest({ signal });
  } catch (e) {
    if (isAbort(e, signal)) throw e;
    return undefined;
  }
  if (existing !== cand.digest) return undefined;
  return (await unchangedImages(c, top, cand)) !== undefined ? cand.digest : undefined;
}

/** The image manifests of `cand`, when the copy would write each (and the list) exactly as the source has it. */
async function unchangedImages(c: PresenceContext, top: VerifiedManifest, cand: Candidate): Promise<VerifiedManifest[] | undefined> {
  const { signal } = c;
  if (cand.list && !c.opts.removeSignatures && (await c.source.getSignatures(undefined, { signal })).length > 0) return undefined;
  const list = cand.list ? (parseManifest(top.bytes, top.mediaType) as ManifestList) : undefined;
  const out: VerifiedManifest[] = [];
  for (const instance of cand.images) {
    const vm = instance === undefined ? top : await new UnparsedImage(c.source, instance).manifest({ signal });
    const described = list?.manifests.find((d) => d.digest === instance)?.mediaType;
    if (!(await copiesUnchanged(c, vm, instance, described))) return undefined;
    out.push(vm);
  }
  return out;
}

/**
 * What a copy of `top` would write when it writes the source's manifests unchanged (the only case in which an image
 * can be skipped): the top-level digest and the image manifests, whose blobs it would write. Undefined when the copy
 * would change something (a conversion, a recompression, substituted layers, signatures to carry): then what it
 * writes is not known before it is done.
 */
export async function unchangedCopy(c: PresenceContext, top: VerifiedManifest): Promise<{ digest: string; images: VerifiedManifest[] } | undefined> {
  const cand = candidateFor(c, top);
  if (cand === undefined) return undefined;
  const images = await unchangedImages(c, top, cand);
  return images === undefined ? undefined : { digest: cand.digest, images };
}

/** The digest the copy of `top` would write if it wrote it unchanged (undefined: a list of another type). */
export function candidateDigest(c: PresenceContext, top: VerifiedManifest): string | undefined {
  return candidateFor(c, top)?.digest;
}
