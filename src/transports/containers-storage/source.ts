/**
 * Reading an image from the store. Layers are served as the store has them: the uncompressed tar,
 * rebuilt byte for byte from tar-split (its digest is the diff ID). Like containers/image's storage
 * source (which reports the same change through LayerInfosForCopy), the manifest is served with its
 * layer descriptors updated to those uncompressed blobs when they differ from what was stored; the
 * stored manifest is returned unchanged when every layer was stored uncompressed.
 */
import { FerryError, ErrorCode, notFound } from '../../errors.js';
import { layerMediaTypeWithCompression } from '../../compression/index.js';
import { guessManifestMediaType } from '../../manifest/guess.js';
import { parseManifest } from '../../manifest/parse.js';
import { serializeImageManifest } from '../../manifest/serialize.js';
import type { OpOptions } from '../../types/context.js';
import type { BlobInfo, ImageSource, RawManifest } from '../../types/image.js';
import { Store, MANIFEST_KEY, manifestKey, signatureKey } from '../../store/store.js';
import type { ImageRecord, LayerRecord } from '../../store/records.js';
import type { StorageReference } from './reference.js';

/** What the source serves for one image. */
interface Loaded {
  image: ImageRecord;
  /** Layers of the image, base first. */
  chain: LayerRecord[];
  manifest: RawManifest;
  /** Whether the manifest was rewritten (stored signatures then no longer apply). */
  rewritten: boolean;
}

/** The image's layer chain, base first. @throws FerryError(E_NOT_FOUND) for a missing layer. */
export function layerChain(layers: LayerRecord[], top: string | undefined): LayerRecord[] {
  const byId = new Map(layers.map((l) => [l.id, l]));
  const out: LayerRecord[] = [];
  for (let id = top; id; ) {
    const l = byId.get(id);
    if (!l) throw notFound(`layer ${id} is missing from the store`);
    out.unshift(l);
    id = l.parent;
  }
  return out;
}

class StorageSource implements ImageSource {
  constructor(
    readonly reference: StorageReference,
    private readonly store: Store,
    private readonly loaded: Loaded,
  ) {}

  async getManifest(instanceDigest?: string, _opts?: OpOptions): Promise<RawManifest> {
    if (instanceDigest !== undefined) {
      throw notFound(`image ${this.loaded.image.id} is a single image, it has no instance ${instanceDigest}`);
    }
    return this.loaded.manifest;
  }

  async getBlob(info: BlobInfo, opts: OpOptions & { offset?: number } = {}) {
    const { image, chain } = this.loaded;
    const offset = opts.offset ?? 0;
    if (image['big-data-names']?.includes(info.digest)) {
      const data = await this.store.imageBigData(image.id, info.digest, opts);
      const { Readable } = await import('node:stream');
      return { stream: Readable.from([data.subarray(offset)]), size: data.length };
    }
    const layer = chain.find((l) => l['diff-digest'] === info.digest);
    if (!layer) throw notFound(`blob ${info.digest} is not part of image ${image.id} in the store`);
    const stream = this.store.layerDiff(layer.id, opts);
    if (offset > 0) {
      throw new FerryError(ErrorCode.Unsupported, 'reading a layer from the store at an offset is not supported');
    }
    return { stream, size: layer['diff-size'] ?? -1 };
  }

  async getSignatures(instanceDigest?: string, opts: OpOptions = {}): Promise<Buffer[]> {
    const { image, rewritten } = this.loaded;
    if (instanceDigest !== undefined) return [];
    const digest = image.digest;
    if (!digest) return [];
    const sigs = await this.storedSignatures(digest, opts);
    if (sigs.length > 0 && rewritten) {
      // As containers/image: serving the layers uncompressed changes the manifest, which the signatures sign.
      throw new FerryError(
        ErrorCode.Unsupported,
        `image ${image.id} has ${sigs.length} signature(s) for its stored manifest, which cannot be kept: the store serves its layers uncompressed, which changes the manifest (use --remove-signatures)`,
      );
    }
    return sigs;
  }

  private async storedSignatures(digest: string, opts: OpOptions): Promise<Buffer[]> {
    const { image } = this.loaded;
    let sizes: number[] | undefined;
    try {
      const meta = JSON.parse(image.metadata ?? '{}') as { 'signatures-sizes'?: Record<string, number[]>; 'signature-sizes'?: number[] };
      sizes = meta['signatures-sizes']?.[digest];
      if (!sizes && meta['signature-sizes']) {
        const all = await this.store.imageBigData(image.id, 'signatures', opts);
        return split(all, meta['signature-sizes']);
      }
    } catch (e) {
      if (e instanceof FerryError) throw e;
      return [];
    }
    if (!sizes || sizes.length === 0) return [];
    return split(await this.store.imageBigData(image.id, signatureKey(digest), opts), sizes);
  }

  async close(): Promise<void> {}
}

function split(all: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  for (const n of sizes) {
    out.push(all.subarray(off, off + n));
    off += n;
  }
  return out;
}

/** Opens the image `ref` names. @throws FerryError(E_NOT_FOUND) */
export async function openStorageSource(ref: StorageReference, opts: OpOptions = {}): Promise<ImageSource> {
  const store = new Store(ref.storeOptions());
  const image = ref.resolve(await store.images(opts));
  const layers = await store.layers(opts);
  const chain = layerChain(layers, image.layer);
  let bytes: Buffer;
  try {
    bytes = await store.imageBigData(image.id, image.digest ? manifestKey(image.digest) : MANIFEST_KEY, opts);
  } catch {
    bytes = await store.imageBigData(image.id, MANIFEST_KEY, opts);
  }
  const mediaType = guessManifestMediaType(bytes);
  const parsed = parseManifest(bytes, mediaType);
  if (parsed.kind !== 'image') throw new FerryError(ErrorCode.Unsupported, `image ${image.id}: stored manifest lists are not supported`);
  if (parsed.layers.length !== chain.length) {
    throw new FerryError(ErrorCode.InvalidManifest, `image ${image.id}: the manifest has ${parsed.layers.length} layers, the store ${chain.length}`);
  }
  let rewritten = false;
  const layersOut = parsed.layers.map((l, i) => {
    const s = chain[i]!;
    const diff = s['diff-digest'];
    if (!diff) throw new FerryError(ErrorCode.InvalidManifest, `layer ${s.id} has no diff digest`);
    if (l.digest === diff) return l;
    rewritten = true;
    return { ...l, digest: diff, size: s['diff-size'] ?? -1, mediaType: layerMediaTypeWithCompression(l.mediaType ?? '', 'none') };
  });
  const manifest: RawManifest = rewritten ? { bytes: serializeImageManifest({ ...parsed, layers: layersOut }), mediaType: parsed.mediaType } : { bytes, mediaType };
  return new StorageSource(ref, store, { image, chain, manifest, rewritten });
}
