/**
 * The `docker save` archive format: a tar holding `manifest.json` (an array of
 * `{Config, RepoTags, Layers}` items, one per image), the config files, the layer tars and the legacy
 * `repositories` file and per-layer `<id>/{VERSION,json,layer.tar}` directories.
 * Paths in `manifest.json` are relative to the archive root: `<hex>.json` / `<hex>.tar` (skopeo),
 * `<id>/layer.tar` (older Docker), `blobs/sha256/<hex>` (Docker 25+).
 */
import { FerryError, ErrorCode } from '../../errors.js';
import { type DockerName, parseNormalizedName, fullString } from '../../reference/name.js';
import { MAX_JSON_BYTES } from '../../util/bounded-read.js';

/** Name of the image list inside the archive. */
export const MANIFEST_FILE = 'manifest.json';
/** Name of the legacy repositories file. */
export const REPOSITORIES_FILE = 'repositories';
/**
 * Largest `manifest.json` / config accepted: 4 MiB, the bound of every JSON document ferry reads (containers/image
 * reads configs up to 4 MiB too, and `manifest.json` up to 1 MiB only).
 */
export const MAX_JSON_SIZE = MAX_JSON_BYTES;

/** One image of `manifest.json`. */
export interface ManifestItem {
  /** Path of the config file in the archive. */
  Config: string;
  /** `name:tag` strings, possibly none. */
  RepoTags: string[];
  /** Paths of the layer tars in the archive, base layer first. */
  Layers: string[];
  /** Other fields (`Parent`, `LayerSources`) are kept but unused. */
  [key: string]: unknown;
}

function invalid(where: string, why: string): FerryError {
  return new FerryError(ErrorCode.InvalidManifest, `${where}: ${why}`);
}

/**
 * Parses and checks `manifest.json`.
 * @throws FerryError(E_INVALID_MANIFEST) naming what is wrong.
 */
export function parseManifestJson(bytes: Buffer, where: string): ManifestItem[] {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new FerryError(ErrorCode.InvalidManifest, `${where}: ${MANIFEST_FILE} is not valid JSON`, { cause: e });
  }
  if (!Array.isArray(v)) throw invalid(where, `${MANIFEST_FILE} is not a JSON array`);
  return v.map((item: unknown, i) => {
    const at = `${MANIFEST_FILE}[${i}]`;
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw invalid(where, `${at} is not an object`);
    const o = item as Record<string, unknown>;
    if (typeof o.Config !== 'string' || o.Config === '') throw invalid(where, `${at} has no Config`);
    const tags = o.RepoTags ?? [];
    if (!Array.isArray(tags) || tags.some((t) => typeof t !== 'string')) throw invalid(where, `${at}.RepoTags is not a list of strings`);
    const layers = o.Layers ?? [];
    if (!Array.isArray(layers) || layers.some((t) => typeof t !== 'string')) throw invalid(where, `${at}.Layers is not a list of strings`);
    return { ...o, Config: o.Config, RepoTags: tags as string[], Layers: layers as string[] };
  });
}

/** Which image of an archive a reference means. */
export interface ArchiveSelector {
  /** A tagged docker name to find among the RepoTags. */
  name?: DockerName;
  /** Zero-based position in `manifest.json`. */
  sourceIndex?: number;
}

/** Most names {@link describeItems} lists (a hostile manifest.json may hold millions). */
const MAX_DESCRIBED = 20;

/** `"a:1", "b:2"` / `@1 (untagged)` list of the images, for error messages; at most 20 names, each cut at 200 characters. */
export function describeItems(items: ManifestItem[]): string {
  const names = items.flatMap((it, i) => (it.RepoTags.length > 0 ? it.RepoTags.map((t) => JSON.stringify(t.length > 200 ? `${t.slice(0, 200)}…` : t)) : [`@${i} (untagged)`]));
  return names.length > MAX_DESCRIBED ? `${names.slice(0, MAX_DESCRIBED).join(', ')} and ${names.length - MAX_DESCRIBED} more` : names.join(', ');
}

/** The normalized full form of a RepoTags entry, or undefined if it does not parse. */
export function normalizeRepoTag(tag: string): string | undefined {
  try {
    return fullString(parseNormalizedName(tag));
  } catch {
    return undefined;
  }
}

/**
 * Picks the image a reference means, like containers/image: by docker reference among the RepoTags
 * (compared in normalized form, so `busybox:latest` matches `docker.io/library/busybox:latest`),
 * by position `@N`, or with neither, the only image.
 * @throws FerryError(E_NOT_FOUND) for an unknown tag, a position out of range or an empty archive;
 *         E_INVALID_REFERENCE when nothing is selected and the archive holds several images.
 */
export function selectItem(items: ManifestItem[], sel: ArchiveSelector, where: string): { item: ManifestItem; index: number } {
  if (sel.sourceIndex !== undefined) {
    const item = items[sel.sourceIndex];
    if (!item) {
      throw new FerryError(ErrorCode.NotFound, `no image @${sel.sourceIndex} in docker archive ${where}: it holds ${items.length} image(s)`);
    }
    return { item, index: sel.sourceIndex };
  }
  if (sel.name) {
    const wanted = fullString(sel.name);
    for (let i = 0; i < items.length; i++) {
      if (items[i]!.RepoTags.some((t) => normalizeRepoTag(t) === wanted)) return { item: items[i]!, index: i };
    }
    const present = items.length === 0 ? 'it holds no images' : `images present: ${describeItems(items)}`;
    throw new FerryError(ErrorCode.NotFound, `no image tagged "${wanted}" in docker archive ${where} (${present})`);
  }
  if (items.length === 0) throw new FerryError(ErrorCode.NotFound, `docker archive ${where} holds no images`);
  if (items.length > 1) {
    throw new FerryError(
      ErrorCode.InvalidReference,
      `docker archive ${where} holds ${items.length} images, choose one by name (docker-archive:PATH:NAME:TAG) or by position from 0 (docker-archive:PATH:@0): ${describeItems(items)}`,
    );
  }
  return { item: items[0]!, index: 0 };
}
