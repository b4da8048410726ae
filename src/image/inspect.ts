/**
 * `inspect`: read an image's manifest (and config) through a transport and build what skopeo's
 * `inspect` shows: the raw manifest, the raw or OCI-converted config, or the {@link InspectInfo} object.
 */
import { FerryError, ErrorCode } from '../errors.js';
import { parseOciImage, type OciImage } from '../manifest/config.js';
import { parseManifest } from '../manifest/parse.js';
import { choosePlatformInstance } from '../manifest/platform.js';
import type { ImageManifest, ManifestList } from '../manifest/types.js';
import type { SystemContext } from '../types/context.js';
import type { ImageSource } from '../types/image.js';
import type { ImageReference } from '../types/reference.js';
import { readConfigBlob } from './config.js';
import { buildInspectInfo, type InspectInfo } from './inspect-info.js';
import { UnparsedImage, type VerifiedManifest } from './unparsed.js';

/** Options of {@link inspectImage} (the flags of `inspect`). */
export interface InspectOptions {
  /** `--raw`: the exact top-level manifest bytes (with `config`: the raw config blob). */
  raw?: boolean;
  /** `--config`: the config of the chosen instance (OCI-converted unless `raw`). */
  config?: boolean;
  /** `--no-tags`: do not list the repository's tags. */
  noTags?: boolean;
  signal?: AbortSignal;
  /** Lists the repository's tags (the CLI passes it for docker references). */
  listTags?: () => Promise<string[]>;
}

/** What `inspect` produced. */
export type InspectResult =
  /** Raw bytes to print as they are: the top-level manifest (`--raw`) or the config blob (`--config --raw`). */
  | { kind: 'raw'; bytes: Buffer; mediaType: string }
  /** `--config`: the config as `v1.Image`. */
  | { kind: 'config'; config: OciImage }
  /** The default: the inspect object. */
  | { kind: 'info'; info: InspectInfo };

/** A resolved single image: its verified manifest and the parsed form. */
export interface ResolvedImage {
  top: VerifiedManifest;
  topParsed: ReturnType<typeof parseManifest>;
  instance: VerifiedManifest;
  manifest: ImageManifest;
  list?: ManifestList;
}

/**
 * Reads the top-level manifest of `source` and, for an index, the instance for `ctx.platform`
 * (containers/image `FromUnparsedImage` + `ChooseInstance`).
 * @throws FerryError(E_NO_MATCHING_PLATFORM | E_INVALID_MANIFEST | E_DIGEST_MISMATCH | …)
 */
export async function resolveImage(source: ImageSource, ctx: SystemContext, opts: { signal?: AbortSignal } = {}): Promise<ResolvedImage> {
  const top = await new UnparsedImage(source).manifest(opts);
  const topParsed = parseManifest(top.bytes, top.mediaType);
  if (topParsed.kind === 'image') return { top, topParsed, instance: top, manifest: topParsed };
  const chosen = choosePlatformInstance(topParsed, ctx.platform ?? {});
  const instance = await new UnparsedImage(source, chosen.digest).manifest(opts);
  const parsed = parseManifest(instance.bytes, instance.mediaType);
  if (parsed.kind !== 'image') {
    throw new FerryError(ErrorCode.InvalidManifest, `instance ${chosen.digest} of the index is itself an index (${parsed.mediaType})`);
  }
  return { top, topParsed, instance, manifest: parsed, list: topParsed };
}

/** Reads the (verified) config blob of a resolved image. @throws FerryError(E_UNSUPPORTED) for schema1. */
async function configOf(source: ImageSource, m: ImageManifest, signal?: AbortSignal): Promise<Buffer> {
  if (m.schema1 !== undefined) throw new FerryError(ErrorCode.Unsupported, 'Docker schema1 images have no config blob');
  return readConfigBlob(source, m.config, { signal });
}

/**
 * Inspects the image `ref` names. Opens and closes its source.
 * @throws FerryError (E_NOT_FOUND, E_NO_MATCHING_PLATFORM, E_DIGEST_MISMATCH, E_INVALID_MANIFEST, …)
 */
export async function inspectImage(ref: ImageReference, ctx: SystemContext, opts: InspectOptions = {}): Promise<InspectResult> {
  const signal = opts.signal;
  const source = await ref.newImageSource(ctx, { signal });
  try {
    if (opts.raw && !opts.config) {
      const top = await new UnparsedImage(source).manifest({ signal });
      return { kind: 'raw', bytes: top.bytes, mediaType: top.mediaType };
    }
    const img = await resolveImage(source, ctx, { signal });
    if (opts.config) {
      const bytes = await configOf(source, img.manifest, signal);
      if (opts.raw) return { kind: 'raw', bytes, mediaType: img.manifest.config.mediaType ?? '' };
      return { kind: 'config', config: parseOciImage(bytes) };
    }
    const config = img.manifest.schema1 === undefined ? await configOf(source, img.manifest, signal) : undefined;
    const repoTags = !opts.noTags && opts.listTags !== undefined ? await opts.listTags() : [];
    const info = buildInspectInfo({
      dockerReference: ref.dockerReference(),
      digest: img.top.digest,
      instanceDigest: img.instance.digest,
      manifest: img.manifest,
      config,
      repoTags,
      list: img.list,
    });
    return { kind: 'info', info };
  } finally {
    await source.close();
  }
}
