/**
 * The OCI image-layout file format (image-spec `image-layout.md`): an `oci-layout` file with
 * `imageLayoutVersion`, an `index.json` image index whose descriptors name images with the
 * `org.opencontainers.image.ref.name` annotation, and blobs at `blobs/<algorithm>/<hex>`.
 * Shared by the `oci:` reader and writer and by `oci-archive:`.
 */
import { join } from 'node:path';
import { FerryError, ErrorCode } from '../../errors.js';
import { MediaType } from '../../manifest/media-types.js';
import type { OpOptions } from '../../types/context.js';
import { parseDigest } from '../../util/digest.js';
import { readWholeFile, requireDirectory } from '../shared/files.js';

/** Name of the layout marker file. */
export const OCI_LAYOUT_FILE = 'oci-layout';
/** Name of the layout's image index. */
export const INDEX_FILE = 'index.json';
/** Directory holding the blobs. */
export const BLOBS_DIR = 'blobs';
/** The layout version ferry writes. */
export const IMAGE_LAYOUT_VERSION = '1.0.0';
/** Annotation naming an image in `index.json` (the `REF` of `oci:PATH:REF`). */
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

/** Content of the `oci-layout` file ferry writes. */
export const OCI_LAYOUT_CONTENT = `{"imageLayoutVersion": "${IMAGE_LAYOUT_VERSION}"}`;

/** An OCI content descriptor as found in `index.json` (unknown fields are kept). */
export interface OciDescriptor {
  mediaType?: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  urls?: string[];
  platform?: { architecture: string; os: string; variant?: string; 'os.version'?: string; 'os.features'?: string[] };
  artifactType?: string;
  [key: string]: unknown;
}

/** The layout's `index.json` (unknown fields are kept, so a writer can preserve them). */
export interface OciIndex {
  schemaVersion: number;
  mediaType?: string;
  manifests: OciDescriptor[];
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

// Grammar of ref names, from the image-spec's description of `org.opencontainers.image.ref.name`.
const REF_COMPONENT = '[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*';
const REF_NAME = new RegExp(`^${REF_COMPONENT}(?:/${REF_COMPONENT})*$`);

/** Whether `s` is a valid `org.opencontainers.image.ref.name` value. */
export function isValidRefName(s: string): boolean {
  return REF_NAME.test(s);
}

/** Path of the `oci-layout` file of the layout at `dir`. */
export function layoutFilePath(dir: string): string {
  return join(dir, OCI_LAYOUT_FILE);
}

/** Path of the `index.json` of the layout at `dir`. */
export function indexPath(dir: string): string {
  return join(dir, INDEX_FILE);
}

/**
 * Path of a blob: `dir/blobs/<algorithm>/<hex>`, or `sharedBlobDir/<algorithm>/<hex>` for a layout whose blobs are
 * in a directory shared between layouts.
 * @throws FerryError(E_INVALID_REFERENCE) if `digest` is not a valid digest (so no path can escape the layout).
 */
export function blobPath(dir: string, digest: string, sharedBlobDir?: string): string {
  const d = parseDigest(digest);
  return sharedBlobDir !== undefined ? join(sharedBlobDir, d.algorithm, d.hex) : join(dir, BLOBS_DIR, d.algorithm, d.hex);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function invalidLayout(where: string, what: string): FerryError {
  return new FerryError(ErrorCode.InvalidManifest, `${where}: ${what}`);
}

/**
 * Reads and checks the `oci-layout` file: a JSON object whose `imageLayoutVersion` is a 1.x version.
 * @throws FerryError(E_NOT_FOUND) when the file is missing (not an OCI layout), E_INVALID_MANIFEST when it is
 *         malformed, E_UNSUPPORTED for another major version.
 */
export async function readLayoutVersion(dir: string, opts: OpOptions = {}): Promise<string> {
  const path = layoutFilePath(dir);
  let bytes: Buffer;
  try {
    bytes = await readWholeFile(path, `OCI layout marker file`, opts);
  } catch (e) {
    if (e instanceof FerryError && e.code === ErrorCode.NotFound) {
      await requireDirectory(dir, 'OCI layout'); // a missing directory is named as such
      throw new FerryError(ErrorCode.NotFound, `${dir} is not an OCI image layout: no ${OCI_LAYOUT_FILE} file`, { cause: e });
    }
    throw e;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new FerryError(ErrorCode.InvalidManifest, `${path}: not valid JSON`, { cause: e });
  }
  const version = isPlainObject(parsed) ? parsed.imageLayoutVersion : undefined;
  if (typeof version !== 'string') throw invalidLayout(path, 'missing imageLayoutVersion');
  if (!/^1\.\d+\.\d+$/.test(version)) {
    throw new FerryError(ErrorCode.Unsupported, `${path}: unsupported imageLayoutVersion "${version}" (expected 1.x)`);
  }
  return version;
}

/**
 * Parses and checks `index.json` content: `schemaVersion` 2 and a `manifests` array of descriptors
 * (each with a string `digest`, a non-negative integer `size`, string annotations).
 * @param where names the file in error messages.
 * @throws FerryError(E_INVALID_MANIFEST)
 */
export function parseIndex(bytes: Buffer, where: string): OciIndex {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new FerryError(ErrorCode.InvalidManifest, `${where}: not valid JSON`, { cause: e });
  }
  if (!isPlainObject(parsed)) throw invalidLayout(where, 'not a JSON object');
  if (parsed.schemaVersion !== 2) throw invalidLayout(where, `schemaVersion must be 2, got ${JSON.stringify(parsed.schemaVersion)}`);
  if (parsed.mediaType !== undefined && parsed.mediaType !== MediaType.OciIndex) {
    throw invalidLayout(where, `unexpected mediaType ${JSON.stringify(parsed.mediaType)}`);
  }
  if (!Array.isArray(parsed.manifests)) throw invalidLayout(where, 'missing "manifests" array');
  parsed.manifests.forEach((d: unknown, i: number) => {
    const at = `manifests[${i}]`;
    if (!isPlainObject(d)) throw invalidLayout(where, `${at} is not an object`);
    if (typeof d.digest !== 'string') throw invalidLayout(where, `${at} has no digest`);
    if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) {
      throw invalidLayout(where, `${at} has an invalid size`);
    }
    if (d.mediaType !== undefined && typeof d.mediaType !== 'string') throw invalidLayout(where, `${at} has an invalid mediaType`);
    if (d.annotations !== undefined) {
      if (!isPlainObject(d.annotations) || Object.values(d.annotations).some((v) => typeof v !== 'string')) {
        throw invalidLayout(where, `${at} has invalid annotations`);
      }
    }
  });
  return parsed as OciIndex;
}

/** Reads and checks the `index.json` of the layout at `dir`. Missing file → E_NOT_FOUND. */
export async function readIndex(dir: string, opts: OpOptions = {}): Promise<OciIndex> {
  const path = indexPath(dir);
  return parseIndex(await readWholeFile(path, `OCI layout index`, opts), path);
}

/** Which image of a layout a reference means. */
export interface ImageSelector {
  /** Select the descriptor whose ref-name annotation is this. */
  refName?: string;
  /** Select the descriptor at this zero-based position of `manifests`. */
  sourceIndex?: number;
}

/** Manifest types a layout's top-level descriptor may point at. */
const IMAGE_TYPES: ReadonlySet<string> = new Set([
  MediaType.OciManifest,
  MediaType.OciIndex,
  MediaType.DockerManifest,
  MediaType.DockerManifestList,
]);

/** The ref name of a descriptor, if any. */
export function refNameOf(d: OciDescriptor): string | undefined {
  return d.annotations?.[REF_NAME_ANNOTATION];
}

/** Human-readable list of the images in an index: `"a", "b", @2 (no name)`. */
export function describeImages(index: OciIndex): string {
  return index.manifests
    .map((d, i) => {
      const name = refNameOf(d);
      return name !== undefined ? JSON.stringify(name) : `@${i} (no name)`;
    })
    .join(', ');
}

/** What holds a layout, for messages: a layout directory or an archive of one. */
export interface LayoutKind {
  /** `OCI layout`, `OCI archive`. */
  what: string;
  /** The transport name used in hints (`oci`, `oci-archive`). */
  transport: string;
}

/** A layout directory (`oci:`). */
export const LAYOUT_KIND: LayoutKind = Object.freeze({ what: 'OCI layout', transport: 'oci' });

/**
 * Picks the image a reference means among `index.manifests`, like containers/image:
 * by ref name, by position (`@N`), or, with neither, the only image of the layout.
 * @param where names the layout in error messages (e.g. its path); `kind` says what it is.
 * @returns the descriptor and its position.
 * @throws FerryError(E_NOT_FOUND) for an unknown name, a position out of range or an empty layout;
 *         E_INVALID_REFERENCE when no name is given and the layout holds several images (the message lists them);
 *         E_UNSUPPORTED when the name matches only descriptors of non-image media types.
 */
export function selectDescriptor(index: OciIndex, sel: ImageSelector, where: string, kind: LayoutKind = LAYOUT_KIND): { descriptor: OciDescriptor; position: number } {
  const { manifests } = index;
  const at = `${kind.what} ${where}`;
  if (sel.sourceIndex !== undefined) {
    const d = manifests[sel.sourceIndex];
    if (!d) {
      throw new FerryError(
        ErrorCode.NotFound,
        `no image @${sel.sourceIndex} in ${at}: it has ${manifests.length} ${manifests.length === 1 ? 'entry' : 'entries'}`,
      );
    }
    return { descriptor: d, position: sel.sourceIndex };
  }
  if (sel.refName !== undefined && sel.refName !== '') {
    const unsupported: string[] = [];
    for (let i = 0; i < manifests.length; i++) {
      const d = manifests[i]!;
      if (refNameOf(d) !== sel.refName) continue;
      if (d.mediaType === undefined || IMAGE_TYPES.has(d.mediaType)) return { descriptor: d, position: i };
      unsupported.push(d.mediaType);
    }
    if (unsupported.length > 0) {
      throw new FerryError(
        ErrorCode.Unsupported,
        `image "${sel.refName}" in ${at} has unsupported media type ${unsupported.join(', ')}`,
      );
    }
    const present = manifests.length === 0 ? 'it holds no images' : `images present: ${describeImages(index)}`;
    throw new FerryError(ErrorCode.NotFound, `no image named "${sel.refName}" in ${at} (${present})`);
  }
  if (manifests.length === 0) throw new FerryError(ErrorCode.NotFound, `${at} holds no images`);
  if (manifests.length > 1) {
    throw new FerryError(
      ErrorCode.InvalidReference,
      `${at} holds ${manifests.length} images, choose one by name (${kind.transport}:PATH:NAME) or by position from 0 (${kind.transport}:PATH:@0): ${describeImages(index)}`,
    );
  }
  return { descriptor: manifests[0]!, position: 0 };
}
