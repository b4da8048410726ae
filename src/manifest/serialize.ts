/**
 * Writing manifests the way containers/image serializes its Go structs (`json.Marshal`: struct key order,
 * `omitempty`, no indentation, HTML escaping), so converted manifests get the same digests as skopeo's.
 */
import type { BlobInfo } from '../types/image.js';
import { goMarshal } from './go-json.js';
import { MediaType } from './media-types.js';
import type { ImageManifest, ManifestDescriptor, ManifestList, Platform } from './types.js';

const nonEmpty = <T>(a: T[] | undefined): T[] | undefined => (a !== undefined && a.length > 0 ? a : undefined);
const annotationsMap = (a: Record<string, string> | undefined) =>
  a !== undefined && Object.keys(a).length > 0 ? new Map(Object.entries(a)) : undefined;

/** imgspecv1.Descriptor. */
function ociDescriptor(d: BlobInfo & { platform?: Platform; artifactType?: string }): Record<string, unknown> {
  return {
    mediaType: d.mediaType ?? '',
    digest: d.digest,
    size: d.size,
    urls: nonEmpty(d.urls),
    annotations: annotationsMap(d.annotations),
    platform: d.platform === undefined ? undefined : ociPlatform(d.platform),
    artifactType: d.artifactType || undefined,
  };
}

/** imgspecv1.Platform. */
function ociPlatform(p: Platform): Record<string, unknown> {
  return {
    architecture: p.architecture,
    os: p.os,
    'os.version': p.osVersion || undefined,
    'os.features': nonEmpty(p.osFeatures),
    variant: p.variant || undefined,
  };
}

/** manifest.Schema2Descriptor. */
function schema2Descriptor(d: BlobInfo): Record<string, unknown> {
  return { mediaType: d.mediaType ?? '', size: d.size, digest: d.digest, urls: nonEmpty(d.urls) };
}

/** manifest.Schema2PlatformSpec. */
function schema2Platform(p: Platform): Record<string, unknown> {
  // imgspecv1.Platform's fields in the same order, then Docker's `features`.
  return { ...ociPlatform(p), features: nonEmpty(p.features) };
}

/**
 * Serializes an OCI or Docker schema2 image manifest (by its `mediaType`) as containers/image does.
 * Schema1 cannot be written.
 */
export function serializeImageManifest(m: ImageManifest): Buffer {
  let v: Record<string, unknown>;
  if (m.mediaType === MediaType.DockerManifest) {
    v = {
      schemaVersion: 2,
      mediaType: MediaType.DockerManifest,
      config: schema2Descriptor(m.config),
      layers: m.layers.map(schema2Descriptor),
    };
  } else if (m.mediaType === MediaType.OciManifest) {
    v = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      artifactType: m.artifactType || undefined,
      config: ociDescriptor(m.config),
      layers: m.layers.map(ociDescriptor),
      subject: m.subject === undefined ? undefined : ociDescriptor(m.subject),
      annotations: annotationsMap(m.annotations),
    };
  } else {
    throw new TypeError(`serializeImageManifest: cannot write ${m.mediaType}`);
  }
  return Buffer.from(goMarshal(v), 'utf8');
}

/** Serializes an OCI index or Docker schema2 list (by its `mediaType`) as containers/image does. */
export function serializeManifestList(l: ManifestList): Buffer {
  let v: Record<string, unknown>;
  if (l.mediaType === MediaType.DockerManifestList) {
    v = {
      schemaVersion: 2,
      mediaType: MediaType.DockerManifestList,
      manifests: l.manifests.map((d: ManifestDescriptor) => ({
        ...schema2Descriptor(d),
        platform: schema2Platform(d.platform ?? { os: '', architecture: '' }),
      })),
    };
  } else if (l.mediaType === MediaType.OciIndex) {
    v = {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      artifactType: l.artifactType || undefined,
      manifests: l.manifests.map((d) => ociDescriptor(d)),
      subject: l.subject === undefined ? undefined : ociDescriptor(l.subject),
      annotations: annotationsMap(l.annotations),
    };
  } else {
    throw new TypeError(`serializeManifestList: cannot write ${l.mediaType}`);
  }
  return Buffer.from(goMarshal(v), 'utf8');
}
