/**
 * Which manifest format to write (containers/image `copy/manifest.go` determineManifestConversion):
 * keep the source's format when the destination accepts it, otherwise convert to the first convertible
 * format it accepts; `--format` forces one.
 */
import { FerryError, ErrorCode } from '../errors.js';
import { MediaType } from '../manifest/media-types.js';

const IMAGE_FAMILY: Record<string, 'oci' | 'docker'> = {
  [MediaType.OciManifest]: 'oci',
  [MediaType.DockerManifest]: 'docker',
  [MediaType.OciIndex]: 'oci',
  [MediaType.DockerManifestList]: 'docker',
};

/** The image manifest type of a forced `--format`. */
export function forcedImageType(format: 'oci' | 'v2s2' | undefined): string | undefined {
  return format === 'oci' ? MediaType.OciManifest : format === 'v2s2' ? MediaType.DockerManifest : undefined;
}

/** The list type of a forced `--format`. */
export function forcedListType(format: 'oci' | 'v2s2' | undefined): string | undefined {
  return format === 'oci' ? MediaType.OciIndex : format === 'v2s2' ? MediaType.DockerManifestList : undefined;
}

/** OCI or Docker, for manifest and list types ferry can write; undefined for schema1 and others. */
export function familyOf(mediaType: string): 'oci' | 'docker' | undefined {
  return IMAGE_FAMILY[mediaType];
}

const accepts = (supported: readonly string[], t: string) => supported.length === 0 || supported.includes(t);

function checkForced(forced: string, supported: readonly string[]): string {
  if (!accepts(supported, forced)) {
    throw new FerryError(ErrorCode.Unsupported, `the destination does not support manifests of type ${forced} (it accepts: ${supported.join(', ')})`);
  }
  return forced;
}

/**
 * The image manifest type to write for a source of type `srcType`.
 * @param supported the destination's supported types (empty: any).
 * @param prefer a type to choose when a conversion is acceptable anyway (e.g. OCI for zstd layers).
 * @throws FerryError(E_UNSUPPORTED) when the destination accepts nothing ferry can produce from the source.
 */
export function chooseImageType(srcType: string, supported: readonly string[], opts: { forced?: string; prefer?: string } = {}): string {
  if (opts.forced !== undefined) return checkForced(opts.forced, supported);
  if (opts.prefer !== undefined && opts.prefer !== srcType && accepts(supported, opts.prefer) && familyOf(srcType) !== undefined) {
    return opts.prefer;
  }
  if (accepts(supported, srcType)) return srcType;
  if (familyOf(srcType) !== undefined) {
    for (const t of supported) if (t === MediaType.OciManifest || t === MediaType.DockerManifest) return t;
  }
  throw new FerryError(
    ErrorCode.Unsupported,
    `the destination does not support manifests of type ${srcType} and ferry cannot convert to any of: ${supported.join(', ')}`,
  );
}

/**
 * The list type to write for a source list of type `srcType`.
 * @throws FerryError(E_UNSUPPORTED) when the destination accepts no list type.
 */
export function chooseListType(srcType: string, supported: readonly string[], forced?: string): string {
  if (forced !== undefined) return checkForced(forced, supported);
  if (accepts(supported, srcType)) return srcType;
  for (const t of supported) if (t === MediaType.OciIndex || t === MediaType.DockerManifestList) return t;
  throw new FerryError(ErrorCode.Unsupported, `the destination does not support multi-platform images (accepts: ${supported.join(', ')})`);
}
