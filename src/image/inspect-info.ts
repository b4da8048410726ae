/**
 * The object `ferry inspect` prints: skopeo's `inspect.Output` (containers/image `ImageInspectInfo` plus
 * name, digest and tags), field for field, followed by ferry's own `InstanceDigest` and `Platforms`.
 * Values follow Go: nil slices/maps are `null`, times are {@link GoTime}.
 */
import { FerryError, ErrorCode } from '../errors.js';
import { configInspectFields, type ConfigInspectFields } from '../manifest/config.js';
import { GoTime } from '../manifest/go-time.js';
import { MediaType } from '../manifest/media-types.js';
import type { ImageManifest, ManifestList } from '../manifest/types.js';

/** containers/image `types.ImageInspectLayer`. */
export interface InspectLayer {
  MIMEType: string;
  Digest: string;
  Size: number;
  Annotations: Map<string, string> | null;
}

/** One instance of a multi-platform image (ferry extra). */
export interface InspectPlatform {
  Os: string;
  Architecture: string;
  Variant: string;
  Digest: string;
}

/** Everything `inspect` shows, with Go field names (what `--format` templates see). */
export interface InspectInfo {
  /** Docker repository name without tag (`127.0.0.1:5000/foo/bar`); `''` for references without one. */
  Name: string;
  /** Only Docker schema1 manifests carry a tag. */
  Tag: string;
  /** Digest of the top-level manifest (the index for a multi-platform image). */
  Digest: string;
  RepoTags: string[];
  Created: GoTime | null;
  DockerVersion: string;
  Labels: Map<string, string> | null;
  Architecture: string;
  Variant: string;
  Os: string;
  Layers: string[];
  LayersData: InspectLayer[];
  Env: string[] | null;
  /** Digest of the manifest the other fields describe (ferry extra). */
  InstanceDigest: string;
  /** The instances of an index/list (ferry extra); null for a single image. */
  Platforms: InspectPlatform[] | null;
}

/** Inputs of {@link buildInspectInfo}. */
export interface InspectInfoInput {
  /** The reference's docker name (`ImageReference.dockerReference()`), if any. */
  dockerReference?: string;
  /** Digest of the top-level manifest. */
  digest: string;
  /** Digest of the chosen instance; defaults to `digest`. */
  instanceDigest?: string;
  /** The (chosen) image manifest. */
  manifest: ImageManifest;
  /** Its config blob (verified); not used for schema1. */
  config?: Buffer;
  /** The repository's tags (docker references, unless `--no-tags`). */
  repoTags?: string[];
  /** The top-level list, for a multi-platform image. */
  list?: ManifestList;
}

/** The repository part of a docker reference: `host/path:tag@digest` → `host/path`. */
export function repositoryName(dockerReference: string): string {
  let s = dockerReference;
  const at = s.indexOf('@');
  if (at >= 0) s = s.slice(0, at);
  const colon = s.lastIndexOf(':');
  if (colon > s.lastIndexOf('/')) s = s.slice(0, colon);
  return s;
}

function fieldsOf(input: InspectInfoInput): ConfigInspectFields {
  const m = input.manifest;
  if (m.schema1 !== undefined) return configInspectFields(m.schema1.v1Compatibility[0]!, true);
  if (input.config === undefined) throw new TypeError('buildInspectInfo: the config blob is required');
  if (m.mediaType === MediaType.OciManifest && m.config.mediaType !== MediaType.OciConfig) {
    throw new FerryError(
      ErrorCode.Unsupported,
      `unsupported image-specific operation on artifact with type ${JSON.stringify(m.config.mediaType ?? '')}`,
    );
  }
  return configInspectFields(input.config, m.mediaType !== MediaType.OciManifest);
}

/**
 * Builds the inspect data of one image from its verified manifest and config.
 * @throws FerryError(E_INVALID_MANIFEST) for a config that does not decode; E_UNSUPPORTED for OCI artifacts.
 */
export function buildInspectInfo(input: InspectInfoInput): InspectInfo {
  const f = fieldsOf(input);
  const m = input.manifest;
  return {
    Name: input.dockerReference !== undefined ? repositoryName(input.dockerReference) : '',
    Tag: m.schema1?.tag ?? '',
    Digest: input.digest,
    RepoTags: input.repoTags ?? [],
    Created: f.Created,
    DockerVersion: f.DockerVersion,
    Labels: f.Labels,
    Architecture: f.Architecture,
    Variant: f.Variant,
    Os: f.Os,
    Layers: m.layers.map((l) => l.digest),
    LayersData: m.layers.map((l) => ({
      MIMEType: l.mediaType ?? '',
      Digest: l.digest,
      Size: l.size,
      Annotations: l.annotations !== undefined ? new Map(Object.entries(l.annotations)) : null,
    })),
    Env: f.Env,
    InstanceDigest: input.instanceDigest ?? input.digest,
    Platforms:
      input.list?.manifests.map((d) => ({
        Os: d.platform?.os ?? '',
        Architecture: d.platform?.architecture ?? '',
        Variant: d.platform?.variant ?? '',
        Digest: d.digest,
      })) ?? null,
  };
}

/**
 * The JSON view of {@link InspectInfo} in skopeo's key order and `omitempty` rules (Name, Tag, Variant;
 * ferry's `Platforms` only for an index), ready for `goJsonIndent`.
 */
export function inspectInfoJson(info: InspectInfo, opts: { layersData?: boolean; extras?: boolean } = {}): Record<string, unknown> {
  const extras = opts.extras ?? true;
  return {
    Name: info.Name || undefined,
    Tag: info.Tag || undefined,
    Digest: info.Digest,
    RepoTags: info.RepoTags,
    Created: info.Created,
    DockerVersion: info.DockerVersion,
    Labels: info.Labels,
    Architecture: info.Architecture,
    Variant: info.Variant || undefined,
    Os: info.Os,
    Layers: info.Layers,
    LayersData: (opts.layersData ?? true) ? info.LayersData : undefined,
    Env: info.Env,
    InstanceDigest: extras ? info.InstanceDigest : undefined,
    Platforms:
      extras && info.Platforms !== null
        ? info.Platforms.map((p) => ({ Os: p.Os, Architecture: p.Architecture, Variant: p.Variant || undefined, Digest: p.Digest }))
        : undefined,
  };
}

