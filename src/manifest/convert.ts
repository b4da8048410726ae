/**
 * Manifest format conversion, as containers/image does it during `copy --format`:
 * Docker schema2 ⇄ OCI image manifests (with their layer media types) and schema2 list ⇄ OCI index.
 * Converting to OCI also rewrites the config (Docker config decoded into `v1.Image`, re-serialized).
 * Schema1 sources are not converted (E_UNSUPPORTED).
 */
import { FerryError, ErrorCode } from '../errors.js';
import type { BlobInfo } from '../types/image.js';
import { digestOf } from '../util/digest.js';
import { parseOciImage, serializeOciImage } from './config.js';
import { MediaType } from './media-types.js';
import { currentPlatform } from './platform.js';
import { serializeImageManifest, serializeManifestList } from './serialize.js';
import type { ImageManifest, ManifestDescriptor, ManifestList } from './types.js';

/** A converted image: the new manifest (parsed and serialized) and, when it changed, the new config blob. */
export interface ConvertedImage {
  manifest: ImageManifest;
  bytes: Buffer;
  /** The new config blob, when the conversion rewrote it (schema2 → OCI); otherwise the old config stays. */
  config?: Buffer;
}

const DOCKER_TO_OCI_LAYER: Record<string, string> = {
  [MediaType.DockerForeignLayerGzip]: MediaType.OciLayerNondistributableGzip,
  [MediaType.DockerForeignLayer]: MediaType.OciLayerNondistributable,
  [MediaType.DockerLayer]: MediaType.OciLayer,
  [MediaType.DockerLayerGzip]: MediaType.OciLayerGzip,
};
const OCI_TO_DOCKER_LAYER: Record<string, string> = {
  [MediaType.OciLayerNondistributable]: MediaType.DockerForeignLayer,
  [MediaType.OciLayerNondistributableGzip]: MediaType.DockerForeignLayerGzip,
  [MediaType.OciLayer]: MediaType.DockerLayer,
  [MediaType.OciLayerGzip]: MediaType.DockerLayerGzip,
};
const ZSTD_LAYERS = new Set<string>([MediaType.OciLayerZstd, MediaType.OciLayerNondistributableZstd]);

const unsupported = (msg: string) => new FerryError(ErrorCode.Unsupported, msg);

/** Only digest, size, media type and URLs survive a conversion (annotations are dropped, as in containers/image). */
function bare(d: BlobInfo, mediaType: string): BlobInfo {
  const b: BlobInfo = { digest: d.digest, size: d.size, mediaType };
  if (d.urls !== undefined && d.urls.length > 0) b.urls = [...d.urls];
  return b;
}

/**
 * Docker schema2 → OCI: layer media types mapped, the config converted to an OCI config (new digest).
 * @param dockerConfig the config blob of `m` (already verified).
 * @throws FerryError(E_UNSUPPORTED) for unknown layer media types or a schema1 source.
 */
export function schema2ToOci(m: ImageManifest, dockerConfig: Buffer): ConvertedImage {
  if (m.schema1 !== undefined) throw unsupported('converting Docker schema1 manifests is not supported');
  if (m.mediaType !== MediaType.DockerManifest) throw unsupported(`schema2ToOci: not a Docker schema2 manifest: ${m.mediaType}`);
  const config = serializeOciImage(parseOciImage(dockerConfig));
  const layers = m.layers.map((l) => {
    const mt = DOCKER_TO_OCI_LAYER[l.mediaType ?? ''];
    if (mt === undefined) throw unsupported(`unknown layer media type during manifest conversion: ${JSON.stringify(l.mediaType ?? '')}`);
    return bare(l, mt);
  });
  const manifest: ImageManifest = {
    kind: 'image',
    mediaType: MediaType.OciManifest,
    schemaVersion: 2,
    config: { digest: digestOf(config), size: config.length, mediaType: MediaType.OciConfig },
    layers,
  };
  return { manifest, bytes: serializeImageManifest(manifest), config };
}

/**
 * OCI → Docker schema2: layer media types mapped, the config blob kept (only its descriptor's media type
 * changes). zstd layers and non-image artifacts cannot be represented.
 * @throws FerryError(E_UNSUPPORTED)
 */
export function ociToSchema2(m: ImageManifest): ConvertedImage {
  if (m.mediaType !== MediaType.OciManifest) throw unsupported(`ociToSchema2: not an OCI manifest: ${m.mediaType}`);
  if (m.config.mediaType !== MediaType.OciConfig) {
    throw unsupported(`cannot convert an OCI artifact (config media type ${JSON.stringify(m.config.mediaType ?? '')}) to a Docker manifest`);
  }
  const layers = m.layers.map((l) => {
    const t = l.mediaType ?? '';
    if (ZSTD_LAYERS.has(t)) throw unsupported(`${JSON.stringify(t)}: zstd compression is not supported for docker images`);
    const mt = OCI_TO_DOCKER_LAYER[t];
    if (mt === undefined) throw unsupported(`unknown layer media type during manifest conversion: ${JSON.stringify(t)}`);
    return bare(l, mt);
  });
  const manifest: ImageManifest = {
    kind: 'image',
    mediaType: MediaType.DockerManifest,
    schemaVersion: 2,
    config: bare(m.config, MediaType.DockerConfig),
    layers,
  };
  return { manifest, bytes: serializeImageManifest(manifest) };
}

/** Replacement digest/size/mediaType for each instance, in list order (after converting the instances). */
export type InstanceUpdate = Pick<ManifestDescriptor, 'digest' | 'size' | 'mediaType'>;

function applyUpdates(list: ManifestList, updates: InstanceUpdate[] | undefined): ManifestDescriptor[] {
  if (updates !== undefined && updates.length !== list.manifests.length) {
    throw new TypeError(`expected ${list.manifests.length} instance updates, got ${updates.length}`);
  }
  return list.manifests.map((d, i) => ({ ...d, ...(updates?.[i] ?? {}) }));
}

/** Docker schema2 list → OCI index (platforms kept, `features` dropped, no annotations). */
export function listToOciIndex(list: ManifestList, updates?: InstanceUpdate[]): { list: ManifestList; bytes: Buffer } {
  if (list.mediaType !== MediaType.DockerManifestList) throw unsupported(`listToOciIndex: not a Docker manifest list: ${list.mediaType}`);
  const out: ManifestList = {
    kind: 'list',
    mediaType: MediaType.OciIndex,
    schemaVersion: 2,
    manifests: applyUpdates(list, updates).map((d) => {
      const e: ManifestDescriptor = { digest: d.digest, size: d.size, mediaType: d.mediaType };
      if (d.urls !== undefined && d.urls.length > 0) e.urls = [...d.urls];
      const p = d.platform ?? { os: '', architecture: '' };
      e.platform = { os: p.os, architecture: p.architecture };
      if (p.osVersion) e.platform.osVersion = p.osVersion;
      if (p.osFeatures !== undefined) e.platform.osFeatures = [...p.osFeatures];
      if (p.variant) e.platform.variant = p.variant;
      return e;
    }),
  };
  return { list: out, bytes: serializeManifestList(out) };
}

/** OCI index → Docker schema2 list (an entry without platform gets the running OS/architecture, as in containers/image). */
export function ociIndexToList(index: ManifestList, updates?: InstanceUpdate[]): { list: ManifestList; bytes: Buffer } {
  if (index.mediaType !== MediaType.OciIndex) throw unsupported(`ociIndexToList: not an OCI index: ${index.mediaType}`);
  const here = currentPlatform();
  const out: ManifestList = {
    kind: 'list',
    mediaType: MediaType.DockerManifestList,
    schemaVersion: 2,
    manifests: applyUpdates(index, updates).map((d) => {
      const e: ManifestDescriptor = { digest: d.digest, size: d.size, mediaType: d.mediaType };
      if (d.urls !== undefined && d.urls.length > 0) e.urls = [...d.urls];
      e.platform = d.platform !== undefined ? { ...d.platform } : { os: here.os, architecture: here.architecture };
      delete e.platform.features;
      return e;
    }),
  };
  return { list: out, bytes: serializeManifestList(out) };
}
