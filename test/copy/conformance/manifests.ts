/** Comparing the manifests ferry and skopeo write for the same copy. */
import { expect } from 'chai';
import { sha256 } from './facts.js';

interface Layer {
  digest: string;
  size: number;
  mediaType?: string;
}

interface Parsed {
  mediaType?: string;
  manifests?: unknown[];
  config?: { digest: string };
  layers?: Layer[];
}

/** The parsed manifest (or index) bytes. */
export function parseManifest(bytes: Buffer): Parsed {
  return JSON.parse(bytes.toString('utf8')) as Parsed;
}

/** Options of {@link expectSameManifest}. */
export interface SameManifestOptions {
  /**
   * Uncompressed layer digests (diff IDs) that skopeo labels with a compressed media type (skopeo 1.9 keeps the
   * stored `…tar.gzip` types when containers-storage serves layers uncompressed to a destination that keeps them so).
   * Such labels are corrected before comparing, and the manifests are then compared as JSON, not as bytes.
   */
  skopeoMislabels?: ReadonlySet<string>;
  /** Layer digests the source serves, in order (single-image manifests only). */
  sourceLayers?: readonly string[];
}

const compressed = (l: Layer) => /(\.|\+)(gzip|zstd)$/.test(l.mediaType ?? '');
const uncompressedType = (t: string) => t.replace(/(\.|\+)(gzip|zstd)$/, '');

/**
 * Asserts that ferry wrote what skopeo wrote. Byte-identical manifests are required unless skopeo wrote
 * a layer other than the one the source serves — it compressed an uncompressed layer with Go's gzip (whose
 * bytes no other implementation reproduces), or its blob-info cache substituted a compressed variant it
 * had seen before (ferry has no such cache). Such layers must be compressed in ferry's manifest too and may
 * differ in digest and size; everything else must agree (each layer's content is checked separately
 * through its diff ID).
 *
 * @returns whether the manifests were byte-identical
 */
export function expectSameManifest(ferryBytes: Buffer, skopeoBytes: Buffer, what: string, opts: SameManifestOptions = {}): 'identical' | 'normalized' {
  if (ferryBytes.equals(skopeoBytes)) return 'identical';
  const f = parseManifest(ferryBytes);
  const s = parseManifest(skopeoBytes);
  const mislabeled = opts.skopeoMislabels;
  if (mislabeled) {
    s.layers = s.layers?.map((l) => (mislabeled.has(l.digest) && compressed(l) ? { ...l, mediaType: uncompressedType(l.mediaType ?? '') } : l));
  }
  const changed = new Set((s.layers ?? []).flatMap((l, i) => (opts.sourceLayers !== undefined && l.digest !== opts.sourceLayers[i] ? [i] : [])));
  const fresh = changed.size > 0;
  if (!fresh && !mislabeled) {
    expect(ferryBytes.toString('utf8'), `${what}: ferry's manifest (${sha256(ferryBytes)}) differs from skopeo's (${sha256(skopeoBytes)})`).to.equal(skopeoBytes.toString('utf8'));
  }
  const normalize = (m: Parsed) => ({
    ...m,
    layers: (m.layers ?? []).map((l, i) => (changed.has(i) && compressed(l) ? { ...l, digest: `<compressed layer ${i}>`, size: 0 } : l)),
  });
  expect(normalize(f), `${what}: ferry's manifest differs from skopeo's${fresh ? ' beyond recompressed layers' : ''}`).to.deep.equal(normalize(s));
  return 'normalized';
}
