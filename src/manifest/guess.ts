/**
 * Media-type detection for manifests stored without one (the `dir:` transport, OCI descriptors
 * without `mediaType`), following containers/image's `manifest.GuessMIMEType`.
 */
import { MediaType } from './media-types.js';

const KNOWN_TOP_LEVEL: ReadonlySet<string> = new Set([
  MediaType.DockerManifest,
  MediaType.DockerManifestList,
  MediaType.OciManifest,
  MediaType.OciIndex,
]);

/**
 * The media type of a manifest, guessed from its JSON:
 * - a recognized top-level `mediaType` wins;
 * - `schemaVersion: 1` is Docker schema 1 (signed if it has `signatures`);
 * - `schemaVersion: 2` without a recognized `mediaType`: an OCI image manifest (config media type OCI,
 *   or an artifact), a Docker schema 2 manifest (Docker config), or an OCI index (has `manifests`, no
 *   config or layers; containers/image calls an empty one a manifest, ferry an index).
 * Returns `''` when the bytes are not a JSON object or the type cannot be determined.
 */
export function guessManifestMediaType(bytes: Buffer | string): string {
  let m: unknown;
  try {
    m = JSON.parse(typeof bytes === 'string' ? bytes : bytes.toString('utf8'));
  } catch {
    return '';
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return '';
  const obj = m as Record<string, unknown>;
  if (typeof obj.mediaType === 'string' && KNOWN_TOP_LEVEL.has(obj.mediaType)) return obj.mediaType;
  switch (obj.schemaVersion) {
    case 1:
      return obj.signatures !== undefined && obj.signatures !== null ? MediaType.DockerSchema1Signed : MediaType.DockerSchema1;
    case 2: {
      const config = obj.config as Record<string, unknown> | undefined;
      const configType = typeof config === 'object' && config !== null && typeof config.mediaType === 'string' ? config.mediaType : '';
      if (configType === MediaType.OciConfig) return MediaType.OciManifest;
      if (configType === MediaType.DockerConfig) return MediaType.DockerManifest;
      // An index (even an empty one) lists manifests and has neither config nor layers; anything else
      // is most likely an OCI artifact with a custom config media type.
      if (Array.isArray(obj.manifests) && configType === '' && !('layers' in obj)) return MediaType.OciIndex;
      return MediaType.OciManifest;
    }
    default:
      return '';
  }
}
