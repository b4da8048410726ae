/**
 * The layers a copy reads: the manifest's, or those the source says it can actually serve
 * (`ImageSource.layerInfosForCopy`, containers/image `LayerInfosForCopy`). When they differ, the manifest
 * written is the source's manifest with its layer descriptors updated (containers/image `UpdatedImage`
 * with `LayerInfos`), in the source manifest's format; conversion and the destination's compression apply
 * to it afterwards as to any other manifest. The config (and its `rootfs.diff_ids`) is never touched.
 */
import { FerryError, ErrorCode } from '../errors.js';
import { compressionOfMediaType, layerMediaTypeFor } from '../manifest/layer-compression.js';
import type { ImageManifest } from '../manifest/types.js';
import type { BlobInfo, ImageSource } from '../types/image.js';
import { familyOf } from './format.js';

/** The source's manifest with the layers to copy, and whether they differ from what the manifest lists. */
export interface LayersForCopy {
  manifest: ImageManifest;
  updated: boolean;
}

/** Whether two descriptors are the same for a manifest (containers/image compares them with reflect.DeepEqual). */
function sameDescriptor(a: BlobInfo, b: BlobInfo): boolean {
  return (
    a.digest === b.digest &&
    a.size === b.size &&
    (a.mediaType ?? '') === (b.mediaType ?? '') &&
    JSON.stringify(a.urls ?? []) === JSON.stringify(b.urls ?? []) &&
    JSON.stringify(a.annotations ?? {}) === JSON.stringify(b.annotations ?? {})
  );
}

/**
 * The media type of a layer the source serves, in the manifest format `family` (a Docker `rootfs.diff.tar`
 * becomes OCI `layer.v1.tar` and back); the manifest's own type when the source gives none, or any type
 * ferry does not know as a layer type unchanged.
 */
export function layerTypeInFamily(served: string | undefined, manifestType: string | undefined, family: 'oci' | 'docker'): string | undefined {
  if (served === undefined || served === '') return manifestType;
  const compression = compressionOfMediaType(served);
  if (compression === undefined) return served;
  const servedFamily = served.startsWith('application/vnd.oci.') ? 'oci' : served.startsWith('application/vnd.docker.') ? 'docker' : undefined;
  if (servedFamily === family) return served;
  return layerMediaTypeFor(family, compression);
}

/**
 * Asks the source which layers to copy for image `m` (instance `instance` of a list, if any).
 * @param cannotModify why the manifest must not change (signatures, `--preserve-digests`), or undefined.
 * @throws FerryError(E_UNSUPPORTED) when the layers must change but `cannotModify` forbids it, or `m` is a
 *   Docker schema1 manifest; FerryError(E_INVALID_MANIFEST) when the source's layer count is wrong.
 */
export async function layersForCopy(
  source: ImageSource,
  instance: string | undefined,
  m: ImageManifest,
  cannotModify: string | undefined,
  opts: { signal?: AbortSignal } = {},
): Promise<LayersForCopy> {
  if (source.layerInfosForCopy === undefined) return { manifest: m, updated: false };
  const infos = await source.layerInfosForCopy(instance, { signal: opts.signal });
  if (infos === undefined) return { manifest: m, updated: false };
  if (infos.length !== m.layers.length) {
    throw new FerryError(
      ErrorCode.InvalidManifest,
      `${source.reference.toString()}: the source serves ${infos.length} layer(s) for a manifest listing ${m.layers.length}`,
    );
  }
  if (infos.every((info, i) => sameDescriptor(info, m.layers[i]!))) return { manifest: m, updated: false };
  if (cannotModify !== undefined) {
    throw new FerryError(
      ErrorCode.Unsupported,
      `copying this image requires writing its manifest with the layers ${source.reference.toString()} can serve (not those its manifest lists, e.g. uncompressed instead of compressed), which changes the manifest digest and cannot be done: ${cannotModify}`,
    );
  }
  const family = familyOf(m.mediaType);
  if (m.schema1 !== undefined || family === undefined) {
    throw new FerryError(ErrorCode.Unsupported, `updating the layers of a ${m.mediaType} manifest is not supported`);
  }
  const layers = infos.map((info, i): BlobInfo => {
    const out: BlobInfo = { digest: info.digest, size: info.size };
    const mediaType = layerTypeInFamily(info.mediaType, m.layers[i]!.mediaType, family);
    if (mediaType !== undefined) out.mediaType = mediaType;
    if (info.annotations !== undefined) out.annotations = { ...info.annotations };
    if (info.urls !== undefined && info.urls.length > 0) out.urls = [...info.urls];
    return out;
  });
  return { manifest: { ...m, layers }, updated: true };
}
