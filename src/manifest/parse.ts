/**
 * Parsing and validating manifests: OCI image manifest and index, Docker schema2 manifest and list,
 * Docker schema1 (read-only). Follows containers/image, including its refusal of ambiguous documents
 * (an image manifest with `manifests`, an index with `layers`, …).
 */
import type { BlobInfo } from '../types/image.js';
import { isDigest } from '../util/digest.js';
import { guessManifestMediaType } from './guess.js';
import { MediaType } from './media-types.js';
import { field, invalid, isObject, parseJsonObject, type JsonObject } from './go-decode.js';
import type { ImageManifest, ManifestDescriptor, ManifestList, ParsedManifest, Platform, Schema1Info } from './types.js';

const WHAT = 'manifest';

/** Top-level fields that identify a format; each format requires exactly its own (containers/image). */
const FORMAT_FIELDS = ['config', 'fsLayers', 'history', 'layers', 'manifests'] as const;
const EXPECTED_FIELDS: Record<string, readonly string[]> = {
  [MediaType.OciManifest]: ['config', 'layers'],
  [MediaType.DockerManifest]: ['config', 'layers'],
  [MediaType.OciIndex]: ['manifests'],
  [MediaType.DockerManifestList]: ['manifests'],
  [MediaType.DockerSchema1]: ['fsLayers', 'history'],
  [MediaType.DockerSchema1Signed]: ['fsLayers', 'history'],
};

/**
 * The media type a manifest should be parsed as: `mediaType` if it is a manifest type ferry knows,
 * otherwise guessed from the bytes (sources that store no type, `application/json`, …).
 * @throws FerryError(E_INVALID_MANIFEST) if neither gives a known manifest type.
 */
export function normalizeManifestMediaType(bytes: Buffer, mediaType: string): string {
  const bare = mediaType.split(';')[0]!.trim().toLowerCase();
  if (EXPECTED_FIELDS[bare] !== undefined) return bare;
  const guessed = guessManifestMediaType(bytes);
  if (EXPECTED_FIELDS[guessed] !== undefined) return guessed;
  throw invalid(WHAT, `unsupported manifest media type ${JSON.stringify(mediaType)}`);
}

/**
 * Parses and validates manifest bytes of the given media type (guessed from the bytes when it is empty or
 * not a manifest type).
 * @throws FerryError(E_INVALID_MANIFEST) with a message naming what is wrong.
 */
export function parseManifest(bytes: Buffer, mediaType: string): ParsedManifest {
  const mt = normalizeManifestMediaType(bytes, mediaType);
  const m = parseJsonObject(bytes, WHAT);
  checkUnambiguous(m, mt);
  const declared = field(m, 'mediaType');
  if (declared !== undefined && declared !== null && declared !== '' && declared !== mt) {
    if (typeof declared !== 'string') throw invalid(WHAT, 'field "mediaType" must be a string');
    if (!(mt === MediaType.DockerSchema1Signed || mt === MediaType.DockerSchema1)) {
      throw invalid(WHAT, `mediaType ${JSON.stringify(declared)} does not match the expected ${mt}`);
    }
  }
  switch (mt) {
    case MediaType.OciManifest:
    case MediaType.DockerManifest:
      return parseImage(m, mt);
    case MediaType.OciIndex:
    case MediaType.DockerManifestList:
      return parseList(m, mt);
    default:
      return parseSchema1(m, mt);
  }
}

function checkUnambiguous(m: JsonObject, mt: string): void {
  const expected = EXPECTED_FIELDS[mt]!;
  for (const f of FORMAT_FIELDS) {
    const v = field(m, f);
    const present = v !== undefined && v !== null;
    if (present && !expected.includes(f)) throw invalid(WHAT, `unexpected field "${f}" in a ${mt} manifest`);
    if (!present && expected.includes(f)) throw invalid(WHAT, `missing field "${f}" in a ${mt} manifest`);
  }
}

function schemaVersion(m: JsonObject, want: number): number {
  const v = field(m, 'schemaVersion');
  if (v !== want) throw invalid(WHAT, `schemaVersion must be ${want}, got ${JSON.stringify(v ?? null)}`);
  return want;
}

function annotations(o: JsonObject, where: string): Record<string, string> | undefined {
  const v = field(o, 'annotations');
  if (v === undefined || v === null) return undefined;
  if (!isObject(v) || Object.values(v).some((e) => typeof e !== 'string')) throw invalid(WHAT, `${where}: annotations must be an object of strings`);
  return { ...(v as Record<string, string>) };
}

function optString(o: JsonObject, name: string, where: string): string | undefined {
  const v = field(o, name);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw invalid(WHAT, `${where}: ${name} must be a string`);
  return v;
}

function stringArray(o: JsonObject, name: string, where: string): string[] | undefined {
  const v = field(o, name);
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((e) => typeof e !== 'string')) throw invalid(WHAT, `${where}: ${name} must be an array of strings`);
  return [...(v as string[])];
}

function descriptor(v: unknown, where: string): BlobInfo {
  if (!isObject(v)) throw invalid(WHAT, `${where} must be an object`);
  const digest = field(v, 'digest');
  if (typeof digest !== 'string' || !isDigest(digest)) throw invalid(WHAT, `${where}: invalid digest ${JSON.stringify(digest ?? null)}`);
  const size = field(v, 'size');
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw invalid(WHAT, `${where}: size must be a non-negative integer, got ${JSON.stringify(size ?? null)}`);
  const info: BlobInfo = { digest, size };
  const mediaType = optString(v, 'mediaType', where);
  if (mediaType !== undefined) info.mediaType = mediaType;
  const ann = annotations(v, where);
  if (ann !== undefined) info.annotations = ann;
  const urls = stringArray(v, 'urls', where);
  if (urls !== undefined) info.urls = urls;
  return info;
}

function parseImage(m: JsonObject, mt: string): ImageManifest {
  const out: ImageManifest = {
    kind: 'image',
    mediaType: mt,
    schemaVersion: schemaVersion(m, 2),
    config: descriptor(field(m, 'config'), 'config'),
    layers: [],
  };
  const layers = field(m, 'layers');
  if (!Array.isArray(layers)) throw invalid(WHAT, 'layers must be an array');
  out.layers = layers.map((l, i) => descriptor(l, `layer ${i}`));
  if (mt === MediaType.DockerManifest && out.config.mediaType === undefined) throw invalid(WHAT, 'config has no mediaType');
  const ann = annotations(m, 'manifest');
  if (ann !== undefined) out.annotations = ann;
  const artifactType = optString(m, 'artifactType', 'manifest');
  if (artifactType !== undefined) out.artifactType = artifactType;
  const subject = field(m, 'subject');
  if (subject !== undefined && subject !== null) out.subject = descriptor(subject, 'subject');
  return out;
}

function platformOf(v: unknown, where: string): Platform {
  if (!isObject(v)) throw invalid(WHAT, `${where}: platform must be an object`);
  const p: Platform = { os: optString(v, 'os', where) ?? '', architecture: optString(v, 'architecture', where) ?? '' };
  const variant = optString(v, 'variant', where);
  if (variant !== undefined && variant !== '') p.variant = variant;
  const osVersion = optString(v, 'os.version', where);
  if (osVersion !== undefined && osVersion !== '') p.osVersion = osVersion;
  const osFeatures = stringArray(v, 'os.features', where);
  if (osFeatures !== undefined) p.osFeatures = osFeatures;
  const features = stringArray(v, 'features', where);
  if (features !== undefined) p.features = features;
  return p;
}

function parseList(m: JsonObject, mt: string): ManifestList {
  const manifests = field(m, 'manifests');
  if (!Array.isArray(manifests)) throw invalid(WHAT, 'manifests must be an array');
  const out: ManifestList = {
    kind: 'list',
    mediaType: mt,
    schemaVersion: schemaVersion(m, 2),
    manifests: manifests.map((d, i): ManifestDescriptor => {
      const where = `manifests[${i}]`;
      const b = descriptor(d, where);
      const e: ManifestDescriptor = { digest: b.digest, size: b.size, mediaType: b.mediaType ?? '' };
      const p = field(d as JsonObject, 'platform');
      if (p !== undefined && p !== null) e.platform = platformOf(p, where);
      else if (mt === MediaType.DockerManifestList) e.platform = { os: '', architecture: '' };
      if (b.annotations !== undefined) e.annotations = b.annotations;
      if (b.urls !== undefined) e.urls = b.urls;
      const at = optString(d as JsonObject, 'artifactType', where);
      if (at !== undefined) e.artifactType = at;
      return e;
    }),
  };
  const ann = annotations(m, 'index');
  if (ann !== undefined) out.annotations = ann;
  const artifactType = optString(m, 'artifactType', 'index');
  if (artifactType !== undefined) out.artifactType = artifactType;
  const subject = field(m, 'subject');
  if (subject !== undefined && subject !== null) out.subject = descriptor(subject, 'subject');
  return out;
}

function parseSchema1(m: JsonObject, mt: string): ImageManifest {
  const sv = schemaVersion(m, 1);
  const fsLayers = field(m, 'fsLayers');
  const history = field(m, 'history');
  if (!Array.isArray(fsLayers) || !Array.isArray(history)) throw invalid(WHAT, 'schema1 fsLayers and history must be arrays');
  if (fsLayers.length !== history.length) {
    throw invalid(WHAT, `schema1 has ${fsLayers.length} fsLayers but ${history.length} history entries`);
  }
  if (fsLayers.length === 0) throw invalid(WHAT, 'schema1 manifest has no layers');
  const blobSums = fsLayers.map((l, i) => {
    const d = isObject(l) ? field(l, 'blobSum') : undefined;
    if (typeof d !== 'string' || !isDigest(d)) throw invalid(WHAT, `fsLayers[${i}]: invalid blobSum ${JSON.stringify(d ?? null)}`);
    return d;
  });
  const v1 = history.map((h, i) => {
    const s = isObject(h) ? field(h, 'v1Compatibility') : undefined;
    if (typeof s !== 'string') throw invalid(WHAT, `history[${i}]: v1Compatibility must be a string`);
    return s;
  });
  const throwaway = v1.map((s, i) => {
    const o = parseJsonObject(s, `manifest history[${i}] v1Compatibility`);
    return field(o, 'throwaway') === true;
  });
  const layers: BlobInfo[] = [];
  for (let i = blobSums.length - 1; i >= 0; i--) if (!throwaway[i]) layers.push({ digest: blobSums[i]!, size: -1 });
  const schema1: Schema1Info = {
    name: optString(m, 'name', 'manifest') ?? '',
    tag: optString(m, 'tag', 'manifest') ?? '',
    architecture: optString(m, 'architecture', 'manifest') ?? '',
    v1Compatibility: v1,
    fsLayers: blobSums,
  };
  return { kind: 'image', mediaType: mt, schemaVersion: sv, config: { digest: '', size: -1 }, layers, schema1 };
}
