/**
 * OCI 1.1 referrers (image-spec `subject`, distribution-spec 1.1): the image index that lists the manifests referring
 * to one digest (what the referrers API returns, and what the fallback tag `sha256-HEX` holds), and the tags cosign
 * stores beside an image (`sha256-HEX.sig`, `.att`, `.sbom`).
 */
import { FerryError, ErrorCode } from '../errors.js';
import type { ReferrerDescriptor } from '../types/image.js';
import { parseDigest } from '../util/digest.js';
import { MediaType } from './media-types.js';

/**
 * `v` as a blob descriptor (`digest`, `size`, optional `mediaType`), or a reason it is not one: a digest that
 * parses and a size that is a safe non-negative integer.
 */
export function blobDescriptorOf(v: unknown): { digest: string; size: number; mediaType?: string } | string {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'is not a descriptor';
  const { digest, size, mediaType } = v as Record<string, unknown>;
  if (typeof digest !== 'string' || typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) return 'is not a descriptor';
  try {
    parseDigest(digest);
  } catch {
    return 'has an invalid digest';
  }
  return { digest, size, ...(typeof mediaType === 'string' ? { mediaType } : {}) };
}

/** The most referrers read for one digest (a listing, or a fallback index). */
export const MAX_REFERRERS = 1000;

/** cosign's tag suffixes: signatures, attestations, SBOMs. */
export const COSIGN_TAG_SUFFIXES: readonly string[] = ['sig', 'att', 'sbom'];

/** The fallback tag of the referrers of `digest` (distribution-spec 1.1 "referrers tag schema"): `sha256-HEX`. */
export function referrersTag(digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return `${algorithm}-${hex}`;
}

/** Whether `tag` is one derived from a digest: the fallback tag `ALG-HEX`, or a cosign `ALG-HEX.sig|att|sbom`. */
export function isReferrerTag(tag: string): boolean {
  return /^sha(256-[0-9a-f]{64}|512-[0-9a-f]{128})(\.(sig|att|sbom))?$/.test(tag);
}

function invalid(what: string, reason: string): FerryError {
  return new FerryError(ErrorCode.InvalidManifest, `${what}: invalid referrers index: ${reason}`);
}

function stringMap(v: unknown, what: string, where: string): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw invalid(what, `${where} is not an object`);
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'string') throw invalid(what, `${where}.${k} is not a string`);
    out[k] = x;
  }
  return out;
}

/**
 * The descriptors of a referrers index (an OCI image index).
 * @throws FerryError(E_INVALID_MANIFEST) naming `what` for anything else, bad descriptors, or more than {@link MAX_REFERRERS}.
 */
export function parseReferrersIndex(bytes: Buffer, what: string): ReferrerDescriptor[] {
  let doc: { mediaType?: unknown; manifests?: unknown };
  try {
    doc = JSON.parse(bytes.toString('utf8')) as typeof doc;
  } catch (e) {
    throw invalid(what, (e as Error).message);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw invalid(what, 'not a JSON object');
  if (doc.mediaType !== undefined && doc.mediaType !== MediaType.OciIndex) throw invalid(what, `media type ${String(doc.mediaType)}`);
  const list = doc.manifests ?? [];
  if (!Array.isArray(list)) throw invalid(what, 'manifests is not a list');
  if (list.length > MAX_REFERRERS) throw invalid(what, `more than ${MAX_REFERRERS} referrers`);
  return list.map((v: unknown, i) => {
    const d = v as Partial<Record<keyof ReferrerDescriptor, unknown>> | null;
    if (typeof d !== 'object' || d === null || typeof d.mediaType !== 'string' || typeof d.digest !== 'string' || typeof d.size !== 'number') {
      throw invalid(what, `manifests[${i}] is not a descriptor`);
    }
    try {
      parseDigest(d.digest);
    } catch {
      throw invalid(what, `manifests[${i}] has an invalid digest`);
    }
    if (!Number.isSafeInteger(d.size) || d.size < 0) throw invalid(what, `manifests[${i}] has an invalid size`);
    const out: ReferrerDescriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
    if (typeof d.artifactType === 'string') out.artifactType = d.artifactType;
    const a = stringMap(d.annotations, what, `manifests[${i}].annotations`);
    if (a !== undefined) out.annotations = a;
    return out;
  });
}

/** A new referrers index listing `referrers`, as distribution-spec 1.1 describes it. */
export function referrersIndex(referrers: ReferrerDescriptor[]): Buffer {
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: referrers }));
}
