/** The parsed manifest model shared by inspect, copy and conversion. */
import type { BlobInfo } from '../types/image.js';

/** An OCI platform (`os`/`architecture`/`variant`, optional OS version and features). */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  osVersion?: string;
  osFeatures?: string[];
  /** Docker schema2 lists only (`features`, dropped in OCI). */
  features?: string[];
}

/** What a Docker schema1 manifest carries instead of a config blob (read-only format). */
export interface Schema1Info {
  name: string;
  tag: string;
  architecture: string;
  /** `history[].v1Compatibility` strings as stored: index 0 is the newest (top) layer's. */
  v1Compatibility: string[];
  /** `fsLayers[].blobSum` as stored (newest first), including throwaway layers. */
  fsLayers: string[];
}

/** A single-image manifest: OCI, Docker schema2, or Docker schema1 (then `schema1` is set). */
export interface ImageManifest {
  kind: 'image';
  /** The manifest's media type (normalized: the type it was parsed as). */
  mediaType: string;
  schemaVersion: number;
  /**
   * The config blob. For Docker schema1 there is none: `digest` is `''` and `size` -1; check `schema1`
   * (or {@link hasConfigBlob}) before fetching it.
   */
  config: BlobInfo;
  /** Layers, base first. For schema1: `fsLayers` reversed, throwaway (empty) layers skipped, sizes -1. */
  layers: BlobInfo[];
  annotations?: Record<string, string>;
  /** OCI 1.1 `artifactType`, if any. */
  artifactType?: string;
  /** OCI 1.1 `subject`, if any. */
  subject?: BlobInfo;
  /** Docker schema1 details; only for schema1 manifests. */
  schema1?: Schema1Info;
}

/** One entry of a manifest list / image index. */
export interface ManifestDescriptor {
  digest: string;
  size: number;
  mediaType: string;
  platform?: Platform;
  annotations?: Record<string, string>;
  urls?: string[];
  artifactType?: string;
}

/** A multi-platform manifest: OCI image index or Docker schema2 manifest list. */
export interface ManifestList {
  kind: 'list';
  mediaType: string;
  schemaVersion: number;
  manifests: ManifestDescriptor[];
  annotations?: Record<string, string>;
  artifactType?: string;
  subject?: BlobInfo;
}

/** Any parsed manifest. */
export type ParsedManifest = ImageManifest | ManifestList;

/** Whether the manifest references a config blob (false for Docker schema1). */
export function hasConfigBlob(m: ImageManifest): boolean {
  return m.schema1 === undefined;
}
