/**
 * The sizes layers will have once written, told before they are copied, for destinations that write layers into
 * one sequential file ({@link ImageDestination.planLayers}: `docker-archive:` places every layer at its final
 * offset at once instead of staging all but the first and copying them in later).
 *
 * A layer kept as it is will be its own size. A gzip layer being decompressed will be the size its gzip trailer
 * records (ISIZE: the last 4 bytes, the uncompressed size modulo 2^32), read with a ranged peek at the blob's end;
 * exact for single-member gzip under 4 GiB, which is what layer writers produce. Anything else is left unknown.
 * These are hints: the destination checks them against what arrives and copes when they are wrong.
 */
import { compressionOfMediaType } from '../manifest/layer-compression.js';
import type { BlobInfo, ImageSource, LayerPlan } from '../types/image.js';
import { createLimit } from '../util/limit.js';
import { compressionStep, type CompressionPolicy } from './blob.js';

/** How long a trailer peek may take before the layer is left unplanned. */
const PEEK_TIMEOUT_MS = 5000;

/** The smallest gzip member: 10-byte header, an empty deflate block, 8-byte trailer. */
const MIN_GZIP = 20;

/** The gzip trailer's ISIZE of `layer` (read from its last 4 bytes), or undefined if the source cannot tell cheaply. */
async function gzipTrailerSize(source: ImageSource, layer: BlobInfo, signal: AbortSignal): Promise<number | undefined> {
  const peek = AbortSignal.any([signal, AbortSignal.timeout(PEEK_TIMEOUT_MS)]);
  try {
    const { stream } = await source.getBlob(layer, { offset: layer.size - 4, rangeOnly: true, signal: peek });
    const parts: Buffer[] = [];
    let n = 0;
    try {
      for await (const c of stream) {
        parts.push(c as Buffer);
        n += (c as Buffer).length;
        if (n > 4) return undefined; // more than asked for: not the trailer
      }
    } finally {
      stream.destroy();
    }
    return n === 4 ? Buffer.concat(parts).readUInt32LE(0) : undefined;
  } catch {
    return undefined; // no ranged reads, a slow source, …: simply unplanned
  }
}

/**
 * One {@link LayerPlan} per distinct layer digest of `layers` (manifest order), with `writtenSize` where it can be
 * told: `policyFor` gives each layer's compression policy, as the copy will apply it.
 */
export async function planLayerSizes(
  source: ImageSource,
  layers: BlobInfo[],
  policyFor: (layer: BlobInfo) => CompressionPolicy,
  signal: AbortSignal,
): Promise<LayerPlan[]> {
  const seen = new Set<string>();
  const unique = layers.filter((l) => !seen.has(l.digest) && seen.add(l.digest));
  const limit = createLimit(6, { signal });
  return Promise.all(
    unique.map((layer) =>
      limit(async (): Promise<LayerPlan> => {
        const media = compressionOfMediaType(layer.mediaType ?? '');
        if (layer.size < 0 || media === undefined) return { digest: layer.digest };
        const step = compressionStep(media, policyFor(layer));
        if (step.op === 'preserve') return { digest: layer.digest, writtenSize: layer.size };
        if (step.op === 'decompress' && media === 'gzip' && layer.size >= MIN_GZIP) {
          const size = await gzipTrailerSize(source, layer, signal);
          return size === undefined ? { digest: layer.digest } : { digest: layer.digest, writtenSize: size };
        }
        return { digest: layer.digest };
      }),
    ),
  );
}
