/**
 * A manifest read from a source and verified before anyone parses it (containers/image `UnparsedImage`).
 */
import { digestMismatch } from '../errors.js';
import { manifestDigest } from '../manifest/manifest-digest.js';
import { normalizeManifestMediaType } from '../manifest/parse.js';
import type { OpOptions } from '../types/context.js';
import type { ImageSource } from '../types/image.js';
import { digestOf, parseDigest } from '../util/digest.js';

/** A verified manifest. */
export interface VerifiedManifest {
  bytes: Buffer;
  /** The media type the source reported, or the one guessed from the bytes when it reported none usable. */
  mediaType: string;
  /** The manifest digest (for signed schema1: of the payload without signatures). */
  digest: string;
}

/** One image (or instance of an index) of a source, with the digest its manifest must have. */
export class UnparsedImage {
  private pending?: Promise<VerifiedManifest>;

  /**
   * @param source where the manifest is read from (not closed here).
   * @param instanceDigest an instance of the source's index; its manifest must have this digest. Without it,
   *   the top-level manifest, verified against the reference's digest if it has one.
   */
  constructor(
    readonly source: ImageSource,
    readonly instanceDigest?: string,
  ) {}

  /**
   * Fetches the manifest once (later calls share the result) and verifies its digest.
   * @throws FerryError(E_DIGEST_MISMATCH | E_NOT_FOUND | E_INVALID_MANIFEST …)
   */
  manifest(opts: OpOptions = {}): Promise<VerifiedManifest> {
    if (this.pending === undefined) {
      this.pending = this.fetch(opts);
      this.pending.catch(() => (this.pending = undefined)); // a failed fetch may be retried
    }
    return this.pending;
  }

  private async fetch(opts: OpOptions): Promise<VerifiedManifest> {
    const raw = await this.source.getManifest(this.instanceDigest, opts);
    const expected = this.instanceDigest ?? this.source.reference.pinnedDigest?.();
    const algorithm = expected === undefined ? 'sha256' : parseDigest(expected).algorithm;
    const digest = manifestDigestWith(raw.bytes, algorithm);
    if (expected !== undefined && digest !== expected) {
      throw digestMismatch(`manifest of ${this.source.reference.toString()}`, expected, digest);
    }
    return { bytes: raw.bytes, mediaType: normalizeManifestMediaType(raw.bytes, raw.mediaType), digest };
  }
}

function manifestDigestWith(bytes: Buffer, algorithm: string): string {
  // Signed schema1 manifests are digested without their signatures; registries only do that for sha256.
  return algorithm === 'sha256' ? manifestDigest(bytes) : digestOf(bytes, algorithm);
}
