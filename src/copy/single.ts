/**
 * Copying one image (a single manifest): signatures check, manifest format decision, layers in
 * parallel, config, updated manifest, signatures (containers/image `copy/single.go`).
 */
import { setMaxListeners } from 'node:events';
import { FerryError, ErrorCode } from '../errors.js';
import { compressionOfMediaType, layerMediaTypeWithCompression } from '../manifest/layer-compression.js';
import { schema2ToOci, ociToSchema2 } from '../manifest/convert.js';
import { manifestDigest } from '../manifest/manifest-digest.js';
import { MediaType } from '../manifest/media-types.js';
import { parseManifest } from '../manifest/parse.js';
import { serializeImageManifest } from '../manifest/serialize.js';
import { hasConfigBlob, type ImageManifest } from '../manifest/types.js';
import type { UnparsedImage, VerifiedManifest } from '../image/unparsed.js';
import type { BlobInfo } from '../types/image.js';
import { createLimit } from '../util/limit.js';
import { compressionStep, copyBlob, putSmallBlob, readSmallBlob, type BlobCopyContext, type CompressionPolicy, type CopiedBlob } from './blob.js';
import { chooseImageType, familyOf, forcedImageType } from './format.js';
import { layersForCopy, type LayersForCopy } from './layer-infos.js';
import { planLayerSizes } from './written-sizes.js';
import type { CopyOptions, CopyPhase } from './options.js';
import { imageEvent, imagePlan } from './progress.js';
import type { ManifestSigner } from '../signature/signer.js';
import type { SourceInstances } from './source-instances.js';

/** Everything a single-image copy needs. */
export interface ImageCopyContext extends BlobCopyContext {
  opts: CopyOptions;
  phase: (p: CopyPhase) => void;
  /** Signers and the identity they sign as (checked before anything is copied), when signing. */
  signing?: { signers: ManifestSigner[]; identity: string };
  /**
   * The signatures of the top-level manifest, read once per copy: the set the trust policy judged is the set that
   * is copied (a registry could answer a second read differently).
   */
  topSignatures: () => Promise<Buffer[]>;
  /** The instances of the source's list, each with its manifest and signatures read once per copy. */
  instances: SourceInstances;
}

/** New signatures of `manifest` (as written), one per signer; none when not signing. */
export async function createSignatures(c: ImageCopyContext, manifest: Buffer): Promise<Buffer[]> {
  if (!c.signing) return [];
  const { signers, identity } = c.signing;
  const out: Buffer[] = [];
  for (const [i, signer] of signers.entries()) {
    c.phase({ kind: 'signing', signer: signer.kind, index: i + 1, count: signers.length });
    try {
      out.push(await signer.sign(manifest, identity, { signal: c.signal }));
    } catch (e) {
      if (!(e instanceof FerryError) || e.code === ErrorCode.Aborted) throw e;
      const which = signers.length > 1 ? ` ${i + 1} of ${signers.length}` : '';
      throw new FerryError(e.code, `creating signature${which}: ${e.message}`, { cause: e });
    }
  }
  return out;
}

/** A manifest as written to the destination. */
export interface WrittenManifest {
  digest: string;
  size: number;
  mediaType: string;
  bytes: Buffer;
}

/** Where an image sits: the source instance (for reading signatures) and whether it is written as an instance of a list. */
export interface ImagePlacement {
  /** The instance digest at the source, if the image is an instance of a source list. */
  sourceInstance?: string;
  /** True when the image is written as an instance of a list (putManifest/putSignatures get its new digest). */
  asInstance: boolean;
}

/** Why a manifest cannot be changed, or undefined if it can. */
export function cannotModifyReason(opts: CopyOptions, signatures: number): string | undefined {
  if (opts.preserveDigests) return 'preserving digests (--preserve-digests) was requested';
  if (signatures > 0) return 'it would invalidate signatures (use --remove-signatures)';
  return undefined;
}

/** Reads the signatures to carry over and checks that the destination can store them. */
export async function sourceSignatures(c: ImageCopyContext, instance: string | undefined, list: boolean): Promise<Buffer[]> {
  if (c.opts.removeSignatures) return [];
  c.phase({ kind: 'signatures-get', list });
  const sigs = instance === undefined ? await c.topSignatures() : await c.instances.get(instance).signatures();
  if (sigs.length > 0 && !c.dest.properties.supportsSignatures) {
    throw new FerryError(
      ErrorCode.Unsupported,
      `cannot copy signatures to ${c.dest.reference.toString()}: the destination does not support signatures (use --remove-signatures)`,
    );
  }
  return sigs;
}

/**
 * Runs `tasks` through the concurrency limit; the first failure aborts the others (through `abort`)
 * and is rethrown once all have settled.
 */
async function runAll<T>(tasks: Array<() => Promise<T>>, concurrency: number, signal: AbortSignal, abort: (e: unknown) => void): Promise<T[]> {
  const limit = createLimit(concurrency, { signal });
  let first: { e: unknown } | undefined;
  const settled = await Promise.allSettled(
    tasks.map((t) =>
      limit(t).catch((e: unknown) => {
        if (!first) {
          first = { e };
          abort(e);
        }
        throw e;
      }),
    ),
  );
  if (first) throw first.e;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

/** What a copy makes of one image's manifest: its format at the destination, and how layers may be (de)compressed. */
interface ImagePlan {
  /** The manifest's media type as written. */
  targetType: string;
  /** Whether the manifest is converted to `targetType` (from the source's format). */
  convert: boolean;
  /** The layers' compression policy (per layer: only layer types ferry knows may change). */
  policyFor: (layer: BlobInfo) => CompressionPolicy;
}

/**
 * Chooses the manifest format and compression for the image and checks the copy can make them: a conversion needs
 * a manifest that may change, between two known families, never from schema1; zstd needs an OCI manifest.
 * @param noModify why the manifest may not change, if it may not.
 * @throws FerryError(E_UNSUPPORTED) naming what cannot be done.
 */
function planImage(c: ImageCopyContext, m: ImageManifest, noModify: string | undefined): ImagePlan {
  const { opts, dest } = c;
  const canModify = noModify === undefined;
  const desired = opts.compress && opts.compress.mode !== 'preserve' ? opts.compress.mode : dest.properties.desiredLayerCompression;
  const explicitFormat = opts.compress?.format;
  const zstd = canModify && desired === 'compress' && explicitFormat === 'zstd';
  const prefer = zstd ? MediaType.OciManifest : undefined;
  const targetType = chooseImageType(m.mediaType, dest.properties.supportedManifestMIMETypes, { forced: forcedImageType(opts.format), prefer });
  const convert = targetType !== m.mediaType;
  if (convert) {
    if (!canModify) {
      throw new FerryError(ErrorCode.Unsupported, `copying this image requires converting its manifest from ${m.mediaType} to ${targetType}, which cannot be done: ${noModify}`);
    }
    if (familyOf(m.mediaType) === undefined || familyOf(targetType) === undefined || m.schema1 !== undefined) {
      throw new FerryError(ErrorCode.Unsupported, `converting manifests from ${m.mediaType} to ${targetType} is not supported`);
    }
  }
  if (zstd && familyOf(targetType) === 'docker') {
    throw new FerryError(ErrorCode.Unsupported, 'zstd compression is not supported for Docker schema2 manifests; use --format oci');
  }
  const policyFor = (layer: BlobInfo): CompressionPolicy => ({
    canModify: canModify && compressionOfMediaType(layer.mediaType ?? '') !== undefined,
    desired,
    explicitFormat,
    level: opts.compress?.level,
  });
  return { targetType, convert, policyFor };
}

/**
 * Fails before any blob of the image moves when a layer that will be changed is zstd-compressed (by its media type)
 * and this Node cannot decompress zstd. (Compressing with zstd is checked once for the whole copy, in `copy.ts`.)
 * @throws FerryError(E_UNSUPPORTED) saying how to get zstd.
 */
async function checkZstd(m: ImageManifest, plan: ImagePlan): Promise<void> {
  for (const l of m.layers) {
    if (compressionOfMediaType(l.mediaType ?? '') !== 'zstd') continue;
    const p = plan.policyFor(l);
    if (compressionStep('zstd', p).op === 'preserve') continue;
    // loaded only here: a copy that changes no zstd layer never loads the compression modules
    const { requireZstd } = await import('../compression/zstd.js');
    requireZstd(`decompressing the zstd layer ${l.digest}`);
    return;
  }
}

/**
 * Copies the image's layers, as many at once as the destination allows, and with them the config when `withConfig`;
 * the first failure of a layer stops the others. Foreign layers a destination accepts by reference are not copied.
 * Announces the image's blobs first (progress renderers show the whole total from the start), and their sizes to a
 * destination writing one sequential file.
 * @returns one entry per manifest layer, in order.
 */
async function copyLayers(c: ImageCopyContext, m: ImageManifest, manifestDigest: string, plan: ImagePlan, withConfig: boolean): Promise<CopiedBlob[]> {
  const { opts, dest } = c;
  const concurrency = dest.properties.hasThreadSafePutBlob ? Math.max(1, opts.parallel ?? dest.properties.preferredParallelBlobs ?? 6) : 1;
  const ac = new AbortController();
  const signal = AbortSignal.any([c.signal, ac.signal]);
  // Every blob in flight listens on it (request, pipelines, temp files): no MaxListeners warning at 6 layers.
  setMaxListeners(0, signal);
  const bc = { ...c, signal };
  const foreign = (layer: BlobInfo) => dest.properties.acceptsForeignLayerURLs && layer.urls !== undefined && layer.urls.length > 0;
  const planned = m.layers.filter((l) => !foreign(l));
  imageEvent(opts.onImage, imagePlan(manifestDigest, planned, hasConfigBlob(m) ? m.config : undefined));
  if (dest.planLayers) dest.planLayers(await planLayerSizes(c.source, planned, plan.policyFor, signal));
  const tasks = m.layers.map((layer) => async (): Promise<CopiedBlob> => {
    if (foreign(layer)) {
      c.phase({ kind: 'foreign-layer', digest: layer.digest });
      return { info: layer };
    }
    const copy = () => copyBlob(bc, layer, 'layer', plan.policyFor(layer));
    return opts.blobBudget ? opts.blobBudget(copy, { signal }) : copy();
  });
  // The config, when it goes with the layers, takes no slot of the limit: one small blob, sent at once. A layer's
  // failure wins over the config's, as when the config comes after the layers (a push refused for every blob names a
  // layer, as skopeo does); so a failing config stops nothing, and fails the copy once the layers are done.
  const config = withConfig ? copyBlob(bc, m.config, 'config', KEEP) : undefined;
  const [layers, configCopied] = await Promise.allSettled([runAll(tasks, concurrency, c.signal, (e) => ac.abort(e)), config]);
  if (layers.status === 'rejected') throw layers.reason;
  if (configCopied.status === 'rejected') throw configCopied.reason;
  return layers.value;
}

/** The compression policy of a config: never changed. */
const KEEP: CompressionPolicy = { canModify: false, desired: 'preserve' };

/**
 * Whether the config is copied along with the layers instead of after them: when it is copied as it is (not rewritten
 * by a conversion to OCI) into a destination that takes blobs in any order. A registry then gets the config's
 * request (a mount, a HEAD) together with the layers' rather than one round trip later.
 */
function configWithLayers(c: ImageCopyContext, m: ImageManifest, plan: ImagePlan): boolean {
  const props = c.dest.properties;
  if (!hasConfigBlob(m) || !props.hasThreadSafePutBlob || props.blobsInAnyOrder !== true) return false;
  return !plan.convert || plan.targetType !== MediaType.OciManifest;
}

/**
 * Copies the config (after the layers, like skopeo, unless `copied` says it went with them): as it is, or rewritten
 * when converting to OCI.
 * @returns the manifest the written one is based on (converted when converting).
 */
async function copyConfig(c: ImageCopyContext, m: ImageManifest, plan: ImagePlan, copied: boolean): Promise<ImageManifest> {
  if (!plan.convert) {
    if (hasConfigBlob(m) && !copied) await copyBlob(c, m.config, 'config', KEEP);
    return m;
  }
  if (plan.targetType === MediaType.OciManifest) {
    const conv = schema2ToOci(m, await readSmallBlob(c, m.config));
    await putSmallBlob(c, conv.config!, conv.manifest.config, 'config');
    return conv.manifest;
  }
  if (!copied) await copyBlob(c, m.config, 'config', KEEP);
  return ociToSchema2(m).manifest;
}

/**
 * The manifest to write: the source's bytes unless something changed (conversion, layers the source serves instead
 * of its manifest's, layers written with another digest, size or compression), else `base` with the written layers.
 * @throws FerryError(E_UNSUPPORTED) when the bytes change but `--preserve-digests` was requested.
 */
function manifestBytes(c: ImageCopyContext, vm: VerifiedManifest, source: LayersForCopy, base: ImageManifest, layers: CopiedBlob[], convert: boolean): Buffer {
  const m = source.manifest;
  const changed = convert || source.updated || layers.some((l, i) => l.compression !== undefined || l.info.digest !== m.layers[i]!.digest || l.info.size !== m.layers[i]!.size);
  let bytes = vm.bytes;
  if (changed) {
    const newLayers: BlobInfo[] = base.layers.map((l, i) => {
      const got = layers[i]!;
      const out: BlobInfo = { ...l, digest: got.info.digest, size: got.info.size };
      if (got.compression !== undefined) out.mediaType = layerMediaTypeWithCompression(l.mediaType ?? '', got.compression);
      return out;
    });
    bytes = serializeImageManifest({ ...base, layers: newLayers });
  }
  if (c.opts.preserveDigests && !bytes.equals(vm.bytes)) {
    throw new FerryError(ErrorCode.Unsupported, 'copying this image would change its manifest digest, but --preserve-digests was requested');
  }
  return bytes;
}

/** Writes the manifest, then the carried and new signatures (if any). */
async function writeManifest(c: ImageCopyContext, written: WrittenManifest, sigs: Buffer[], place: ImagePlacement): Promise<void> {
  const { dest, opts } = c;
  const instance = place.asInstance ? written.digest : undefined;
  c.phase({ kind: 'manifest-write', list: false });
  await dest.putManifest({ bytes: written.bytes, mediaType: written.mediaType }, instance, { signal: c.signal });
  imageEvent(opts.onImage, { kind: 'manifest-written', digest: written.digest, mediaType: written.mediaType, size: written.size, list: false });
  const allSigs = [...sigs, ...(await createSignatures(c, written.bytes))];
  if (allSigs.length > 0) {
    c.phase({ kind: 'signatures-store', list: false });
    await dest.putSignatures(allSigs, instance, { signal: c.signal });
  }
}

/**
 * Copies the image whose verified manifest `unparsed` gives: its layers, its config, its manifest (changed only
 * where it must be) and signatures.
 * @returns the manifest as written (new digest when anything changed).
 */
export async function copySingleImage(c: ImageCopyContext, unparsed: UnparsedImage, place: ImagePlacement): Promise<WrittenManifest> {
  const vm = await unparsed.manifest({ signal: c.signal });
  const parsed = parseManifest(vm.bytes, vm.mediaType);
  if (parsed.kind !== 'image') throw new FerryError(ErrorCode.InvalidManifest, `expected an image manifest, got ${parsed.mediaType}`);
  const sigs = await sourceSignatures(c, place.sourceInstance, false);
  const noModify = cannotModifyReason(c.opts, sigs.length);
  // The source's manifest, with its layers replaced by those the source can serve if it cannot serve its own
  // (then `updated`, and the manifest written always changes).
  const source = await layersForCopy(c.source, place.sourceInstance, parsed, noModify, { signal: c.signal });
  const plan = planImage(c, source.manifest, noModify);
  await checkZstd(source.manifest, plan);
  const early = configWithLayers(c, source.manifest, plan);
  const layers = await copyLayers(c, source.manifest, vm.digest, plan, early);
  const base = await copyConfig(c, source.manifest, plan, early);
  const bytes = manifestBytes(c, vm, source, base, layers, plan.convert);
  const written: WrittenManifest = { digest: bytes === vm.bytes ? vm.digest : manifestDigest(bytes), size: bytes.length, mediaType: plan.targetType, bytes };
  await writeManifest(c, written, sigs, place);
  return written;
}
