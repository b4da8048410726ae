/**
 * What the two docker-archive destinations share — into a file (destination.ts) and into a stream
 * (stream-destination.ts): their properties, the `RepoTags` names, the manifest check, and the entries after the
 * layers, so that both write the same bytes for the same image.
 */
import { FerryError, ErrorCode } from '../../errors.js';
import { goMarshal } from '../../manifest/go-json.js';
import { MediaType } from '../../manifest/media-types.js';
import { parseManifest } from '../../manifest/parse.js';
import type { ImageManifest } from '../../manifest/types.js';
import type { OpOptions } from '../../types/context.js';
import type { DestinationProperties, RawManifest } from '../../types/image.js';
import { parseDigest } from '../../util/digest.js';
import { type DockerName, fullString, parseNormalizedName, repositoryString } from '../../reference/name.js';
import { MANIFEST_FILE, REPOSITORIES_FILE } from './format.js';
import { legacyLayers, repositoriesJson } from './legacy.js';
import type { DockerArchiveReference } from './reference.js';
import type { TarWriter } from '../../tar/writer.js';

/**
 * What the destination advertises: uncompressed Docker schema2 images, no signatures, 4 blobs at once. Every layer
 * is decompressed on its way in, on libuv's thread pool (4 threads), which also writes the archive: more layers at
 * once than that add no throughput, only the buffers each one holds (a few MiB).
 */
export const DOCKER_ARCHIVE_PROPERTIES: DestinationProperties = Object.freeze({
  supportedManifestMIMETypes: [MediaType.DockerManifest],
  supportsSignatures: false,
  desiredLayerCompression: 'decompress',
  hasThreadSafePutBlob: true,
  preferredParallelBlobs: 4,
  acceptsForeignLayerURLs: false,
});

function parseAdditionalTag(tag: string): DockerName {
  let n: DockerName;
  try {
    n = parseNormalizedName(tag);
  } catch (e) {
    throw new FerryError(ErrorCode.InvalidReference, `invalid additional tag "${tag}": ${e instanceof Error ? e.message : String(e)}`);
  }
  if (n.tag === undefined || n.digest !== undefined) {
    throw new FerryError(ErrorCode.InvalidReference, `additional tag "${tag}" must be a tagged reference without a digest`);
  }
  return n;
}

/**
 * The names recorded in `RepoTags`: the reference's own, then `additionalTags` (normalized, deduplicated).
 * @throws FerryError(E_INVALID_REFERENCE) for an `@N` reference or an invalid additional tag.
 */
export function repoTagsFor(ref: DockerArchiveReference, additionalTags: string[] = []): DockerName[] {
  if (ref.sourceIndex !== undefined) {
    throw new FerryError(ErrorCode.InvalidReference, `${ref.toString()}: a destination reference cannot select an image with @${ref.sourceIndex}`);
  }
  const tags: DockerName[] = [];
  const seen = new Set<string>();
  for (const n of [...(ref.name ? [ref.name] : []), ...additionalTags.map(parseAdditionalTag)]) {
    const s = fullString(n);
    if (!seen.has(s)) tags.push(n);
    seen.add(s);
  }
  return tags;
}

/**
 * The image's Docker schema2 manifest, checked: every blob it references must have been stored.
 * @throws FerryError(E_UNSUPPORTED) for other manifest types or an `instanceDigest` (no lists);
 *         E_NOT_FOUND if a referenced blob was not stored.
 */
export function checkedManifest(manifest: RawManifest, instanceDigest: string | undefined, stored: (digest: string) => boolean): ImageManifest {
  if (instanceDigest !== undefined) {
    throw new FerryError(ErrorCode.Unsupported, `docker-archive: stores a single image, not a multi-platform list (instance ${instanceDigest})`);
  }
  const parsed = parseManifest(manifest.bytes, manifest.mediaType);
  if (parsed.kind !== 'image' || parsed.mediaType !== MediaType.DockerManifest) {
    throw new FerryError(ErrorCode.Unsupported, `docker-archive: needs a Docker schema2 manifest, got ${parsed.mediaType}`);
  }
  for (const b of [parsed.config, ...parsed.layers]) {
    if (!stored(b.digest)) throw new FerryError(ErrorCode.NotFound, `docker-archive: blob ${b.digest} of the manifest was not stored`);
  }
  return parsed;
}

/** The archive's entries after the layers: config, legacy layer directories, `manifest.json`, `repositories`. */
export async function writeArchiveTail(
  tar: TarWriter,
  image: { manifest: ImageManifest; config: Buffer; repoTags: readonly DockerName[] },
  opts: OpOptions = {},
): Promise<void> {
  const layerDigests = image.manifest.layers.map((l) => l.digest);
  const configName = `${parseDigest(image.manifest.config.digest).hex}.json`;
  await tar.addFile(configName, image.config.length, image.config, opts);
  const legacy = legacyLayers(layerDigests, image.config);
  for (const l of legacy) {
    await tar.addSymlink(`${l.id}/layer.tar`, l.linkTarget);
    await tar.addFile(`${l.id}/VERSION`, 3, Buffer.from('1.0'), opts);
    await tar.addFile(`${l.id}/json`, l.json.length, l.json, opts);
  }
  const item = {
    Config: configName,
    RepoTags: image.repoTags.map(fullString),
    Layers: layerDigests.map((d) => `${parseDigest(d).hex}.tar`),
  };
  const manifestJson = Buffer.from(goMarshal([item]));
  await tar.addFile(MANIFEST_FILE, manifestJson.length, manifestJson, opts);
  const repos = repositoriesJson(
    image.repoTags.map((n) => ({ repository: repositoryString(n), tag: n.tag! })),
    legacy.at(-1)?.id,
  );
  await tar.addFile(REPOSITORIES_FILE, repos.length, repos, opts);
  await tar.finish();
}
