/**
 * Copying a multi-platform image (containers/image `copy/multiple.go`): the chosen instances one after
 * the other, then the list with their (possibly new) digests, in the list format the destination takes.
 */
import { FerryError, ErrorCode } from '../errors.js';
import { listToOciIndex, ociIndexToList } from '../manifest/convert.js';
import { manifestDigest } from '../manifest/manifest-digest.js';
import { MediaType } from '../manifest/media-types.js';
import { choosePlatformInstance } from '../manifest/platform.js';
import { serializeManifestList } from '../manifest/serialize.js';
import type { ManifestDescriptor, ManifestList, Platform } from '../manifest/types.js';
import { chooseListType, forcedListType } from './format.js';
import { imageEvent } from './progress.js';
import { cannotModifyReason, copySingleImage, createSignatures, sourceSignatures, type ImageCopyContext, type WrittenManifest } from './single.js';

/** Which instances of a list to copy. */
export type InstanceSelection = { kind: 'all' } | { kind: 'none' } | { kind: 'platforms'; platforms: Platform[] };

/** Positions (in list order, without duplicates) of the instances best matching each wanted platform. */
export function instancesForPlatforms(list: ManifestList, platforms: Platform[]): number[] {
  const chosen = new Set<number>();
  for (const p of platforms) {
    const d = choosePlatformInstance(list, { os: p.os, architecture: p.architecture, variant: p.variant });
    chosen.add(list.manifests.indexOf(d));
  }
  return [...chosen].sort((a, b) => a - b);
}

/** Positions (in list order) of the instances `selection` names. */
export function selectedPositions(list: ManifestList, selection: InstanceSelection): number[] {
  if (selection.kind === 'all') return list.manifests.map((_, i) => i);
  return selection.kind === 'none' ? [] : instancesForPlatforms(list, selection.platforms);
}

/**
 * Copies the instances `selection` names and writes the list (only the selected instances when a
 * platform subset is asked for).
 * @returns the list as written.
 */
export async function copyMultipleImages(c: ImageCopyContext, list: ManifestList, listBytes: Buffer, listDigest: string, selection: InstanceSelection): Promise<WrittenManifest> {
  const { opts, dest } = c;
  const sigs = await sourceSignatures(c, undefined, true);
  const noModify = cannotModifyReason(opts, sigs.length);
  const listType = chooseListType(list.mediaType, dest.properties.supportedManifestMIMETypes, forcedListType(opts.format));

  const positions = selectedPositions(list, selection);
  const subset = selection.kind === 'platforms' && positions.length !== list.manifests.length;
  if (noModify !== undefined && (subset || listType !== list.mediaType)) {
    throw new FerryError(
      ErrorCode.Unsupported,
      `copying this image requires ${subset ? 'writing a new index of the selected platforms' : `converting its list from ${list.mediaType} to ${listType}`}, which cannot be done: ${noModify}`,
    );
  }

  c.phase({ kind: 'list-copy', count: positions.length, total: list.manifests.length });
  const updates = new Map<number, WrittenManifest>();
  for (const [n, i] of positions.entries()) {
    const d = list.manifests[i]!;
    c.phase({ kind: 'instance', index: n + 1, count: positions.length, digest: d.digest });
    try {
      const written = await copySingleImage(c, c.instances.get(d.digest).image, { sourceInstance: d.digest, asInstance: true });
      updates.set(i, written);
    } catch (e) {
      throw instanceError(d, e);
    }
  }

  const kept = subset ? positions : list.manifests.map((_, i) => i);
  const changed =
    subset || listType !== list.mediaType || [...updates].some(([i, w]) => w.digest !== list.manifests[i]!.digest || w.mediaType !== list.manifests[i]!.mediaType);
  let bytes = listBytes;
  if (changed) {
    const filtered: ManifestList = {
      ...list,
      manifests: kept.map((i): ManifestDescriptor => {
        const d = list.manifests[i]!;
        const w = updates.get(i);
        return w ? { ...d, digest: w.digest, size: w.size, mediaType: w.mediaType } : { ...d };
      }),
    };
    if (listType === list.mediaType) bytes = serializeManifestList(filtered);
    else bytes = (listType === MediaType.OciIndex ? listToOciIndex(filtered) : ociIndexToList(filtered)).bytes;
  }
  if (opts.preserveDigests && !bytes.equals(listBytes)) {
    throw new FerryError(ErrorCode.Unsupported, 'copying this image would change the digest of its list, but --preserve-digests was requested');
  }
  const digest = bytes === listBytes ? listDigest : manifestDigest(bytes);
  c.phase({ kind: 'manifest-write', list: true });
  await dest.putManifest({ bytes, mediaType: listType }, undefined, { signal: c.signal });
  imageEvent(opts.onImage, { kind: 'manifest-written', digest, mediaType: listType, size: bytes.length, list: true });
  const allSigs = [...sigs, ...(await createSignatures(c, bytes))];
  if (allSigs.length > 0) {
    c.phase({ kind: 'signatures-store', list: true });
    await dest.putSignatures(allSigs, undefined, { signal: c.signal });
  }
  return { digest, size: bytes.length, mediaType: listType, bytes };
}

function instanceError(d: ManifestDescriptor, e: unknown): unknown {
  if (!(e instanceof FerryError) || e.code === ErrorCode.Aborted) return e;
  const p = d.platform ? ` (${[d.platform.os, d.platform.architecture, d.platform.variant].filter(Boolean).join('/')})` : '';
  return new FerryError(e.code, `copying image ${d.digest}${p}: ${e.message}`, { cause: e });
}
