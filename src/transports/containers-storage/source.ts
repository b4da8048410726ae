/**
 * Reading an image from the store, like containers/image's storage source: `getManifest` returns the
 * manifest bytes as stored (so its digest is the one podman and skopeo report), and `layerInfosForCopy`
 * names the layers the store can actually serve when they differ from the manifest's. The store keeps
 * layers unpacked and can only rebuild the uncompressed tar (byte for byte, from tar-split; its digest is
 * the diff ID), so a layer stored compressed is served under its diff ID, and requests for its compressed
 * digest fail with E_NOT_FOUND. The copy engine then writes the manifest with the updated layers.
 *
 * An instance of a multi-platform image is read from the image itself when it stores that manifest (a
 * platform pulled from a list keeps the list too), otherwise from the image of the store that holds it: a list
 * image (podman's `manifest` lists, ferry's `copy --all`) has no layers, its instances are images of their own.
 */
import { Readable } from 'node:stream';
import { FerryError, ErrorCode, notFound } from '../../errors.js';
import { guessManifestMediaType } from '../../manifest/guess.js';
import { isIndexType, MediaType } from '../../manifest/media-types.js';
import { parseManifest } from '../../manifest/parse.js';
import type { OpOptions } from '../../types/context.js';
import type { BlobInfo, ImageSource, RawManifest } from '../../types/image.js';
import { Store, MANIFEST_KEY, TOP_SIGNATURES_KEY, manifestKey, signatureKey } from '../../store/store.js';
import type { ImageRecord, LayerRecord } from '../../store/records.js';
import type { StorageReference } from './reference.js';

/** What the source serves for one image. */
interface Loaded {
  image: ImageRecord;
  /** Layers of the image, base first. */
  chain: LayerRecord[];
  /** The top-level manifest as stored. */
  manifest: RawManifest;
}

/**
 * The image's layer chain, base first.
 * @throws FerryError(E_NOT_FOUND) for a missing layer, E_IO for parents that loop (layers.json edited by hand).
 */
export function layerChain(layers: LayerRecord[], top: string | undefined): LayerRecord[] {
  const byId = new Map(layers.map((l) => [l.id, l]));
  const out: LayerRecord[] = [];
  const seen = new Set<string>();
  for (let id = top; id; ) {
    const l = byId.get(id);
    if (!l) throw notFound(`layer ${id} is missing from the store`);
    if (seen.has(id)) throw new FerryError(ErrorCode.Io, `layer ${id} is its own ancestor in the store's layers.json: refusing to use it`);
    seen.add(id);
    out.unshift(l);
    id = l.parent;
  }
  return out;
}

/** The uncompressed layer media type of a manifest type (containers/image: none for types it does not know). */
function uncompressedLayerType(manifestType: string): string | undefined {
  if (manifestType === MediaType.OciManifest) return MediaType.OciLayer;
  if (manifestType === MediaType.DockerManifest || /^application\/vnd\.docker\.distribution\.manifest\.v1\+(prettyjws|json)$/.test(manifestType)) {
    return MediaType.DockerLayer;
  }
  return undefined;
}

class StorageSource implements ImageSource {
  constructor(
    readonly reference: StorageReference,
    private readonly store: Store,
    private readonly loaded: Loaded,
  ) {}

  /** Instances read so far, by manifest digest (the images holding them). */
  private readonly instances = new Map<string, Loaded>();

  /** The stored manifest; with `instanceDigest`, the stored `manifest-<digest>` of the image or of the instance's image. */
  async getManifest(instanceDigest?: string, opts: OpOptions = {}): Promise<RawManifest> {
    if (instanceDigest === undefined) return this.loaded.manifest;
    return (await this.instance(instanceDigest, opts)).manifest;
  }

  /**
   * The image holding instance `digest`: this image when it stores that manifest, else the image of the store
   * (with layers) that does.
   * @throws FerryError(E_NOT_FOUND)
   */
  private async instance(digest: string, opts: OpOptions): Promise<Loaded> {
    const known = this.instances.get(digest);
    if (known) return known;
    const key = manifestKey(digest);
    const { image } = this.loaded;
    let loaded: Loaded | undefined;
    if ((image['big-data-names'] ?? []).includes(key)) {
      const bytes = await this.store.imageBigData(image.id, key, opts);
      loaded = { ...this.loaded, manifest: { bytes, mediaType: guessManifestMediaType(bytes) } };
    } else {
      const holder = (await this.store.images(opts)).find((i) => i.layer !== undefined && (i['big-data-names'] ?? []).includes(key));
      if (!holder) throw notFound(`image ${image.id} in the store has no manifest for instance ${digest}, and no image in the store holds it`);
      const bytes = await this.store.imageBigData(holder.id, key, opts);
      loaded = { image: holder, chain: layerChain(await this.store.layers(opts), holder.layer), manifest: { bytes, mediaType: guessManifestMediaType(bytes) } };
    }
    this.instances.set(digest, loaded);
    return loaded;
  }

  /**
   * The layers as the store serves them (uncompressed, named by diff ID), or undefined when the manifest
   * already names exactly those (every layer was stored uncompressed).
   * @throws FerryError(E_INVALID_MANIFEST) when the manifest and the store disagree on the layer count,
   *   or a layer has no diff ID; E_UNSUPPORTED for a manifest list.
   */
  async layerInfosForCopy(instanceDigest?: string, opts: OpOptions = {}): Promise<BlobInfo[] | undefined> {
    const { image, chain, manifest: raw } = instanceDigest === undefined ? this.loaded : await this.instance(instanceDigest, opts);
    if (isIndexType(raw.mediaType)) throw new FerryError(ErrorCode.Unsupported, `image ${image.id}: cannot list the layers of a manifest list`);
    const parsed = parseManifest(raw.bytes, raw.mediaType);
    if (parsed.kind !== 'image') throw new FerryError(ErrorCode.Unsupported, `image ${image.id}: cannot list the layers of a manifest list`);
    if (parsed.layers.length !== chain.length) {
      throw new FerryError(ErrorCode.InvalidManifest, `image ${image.id}: the manifest has ${parsed.layers.length} layers, the store ${chain.length}`);
    }
    const diffIds = chain.map((l) => {
      const diff = l['diff-digest'];
      if (!diff) throw new FerryError(ErrorCode.InvalidManifest, `layer ${l.id} of image ${image.id} has no diff digest`);
      return diff;
    });
    if (parsed.layers.every((l, i) => l.digest === diffIds[i])) return undefined;
    const mediaType = uncompressedLayerType(parsed.mediaType);
    return chain.map((l, i) => ({ digest: diffIds[i]!, size: l['diff-size'] ?? -1, ...(mediaType !== undefined ? { mediaType } : {}) }));
  }

  /**
   * A big-data item (the config) by its digest, or a layer of the image by its diff ID (rebuilt uncompressed).
   * A layer's compressed digest is served only when the layer was stored uncompressed (then it is the diff ID).
   * @throws FerryError(E_NOT_FOUND) for anything else, including compressed forms the store cannot produce.
   */
  async getBlob(info: BlobInfo, opts: OpOptions & { offset?: number } = {}) {
    const offset = opts.offset ?? 0;
    const all = [this.loaded, ...this.instances.values()];
    const withData = all.find(({ image }) => image['big-data-names']?.includes(info.digest));
    if (withData) {
      const data = await this.store.imageBigData(withData.image.id, info.digest, opts);
      return { stream: Readable.from([data.subarray(offset)]), size: data.length };
    }
    const layer = all.flatMap((l) => l.chain).find((l) => l['diff-digest'] === info.digest);
    if (!layer) {
      const stored = all.flatMap((l) => l.chain).find((l) => l['compressed-diff-digest'] === info.digest);
      if (stored) {
        throw notFound(
          `blob ${info.digest} is the compressed form of layer ${stored.id}, which the store keeps unpacked: it can serve only its uncompressed form ${stored['diff-digest'] ?? '(unknown)'}`,
        );
      }
      throw notFound(`blob ${info.digest} is not part of image ${this.loaded.image.id} in the store`);
    }
    if (offset > 0) {
      throw new FerryError(ErrorCode.Unsupported, 'reading a layer from the store at an offset is not supported');
    }
    return { stream: this.store.layerDiff(layer.id, opts), size: layer['diff-size'] ?? -1 };
  }

  /** The image's signatures; with `instanceDigest`, those stored for that instance (where its manifest is). */
  async getSignatures(instanceDigest?: string, opts: OpOptions = {}): Promise<Buffer[]> {
    if (instanceDigest !== undefined) {
      const inst = await this.instance(instanceDigest, opts);
      return storedSignatures(this.store, inst.image, instanceDigest, false, opts);
    }
    const digest = this.loaded.image.digest;
    if (!digest) return [];
    return storedSignatures(this.store, this.loaded.image, digest, true, opts);
  }

  async close(): Promise<void> {}
}

/**
 * The signatures image `image` stores for manifest `digest` (`signature-<hex>`, sizes in the metadata's
 * `signatures-sizes`); with `orOwn`, for an image stored without per-digest sizes, its own `signatures`.
 */
async function storedSignatures(store: Store, image: ImageRecord, digest: string, orOwn: boolean, opts: OpOptions): Promise<Buffer[]> {
  let sizes: number[] | undefined;
  try {
    const meta = JSON.parse(image.metadata ?? '{}') as { 'signatures-sizes'?: Record<string, number[]>; 'signature-sizes'?: number[] };
    sizes = meta['signatures-sizes']?.[digest];
    if (!sizes && orOwn && meta['signature-sizes']) {
      const all = await store.imageBigData(image.id, TOP_SIGNATURES_KEY, opts);
      return split(all, meta['signature-sizes']);
    }
  } catch (e) {
    if (e instanceof FerryError) throw e;
    return [];
  }
  if (!sizes || sizes.length === 0) return [];
  return split(await store.imageBigData(image.id, signatureKey(digest), opts), sizes);
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

/** The digest a reference's name carries (`name@sha256:…`), if any. */
function namedDigest(name: string | undefined): string | undefined {
  const m = name === undefined ? null : /@([a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-fA-F]{32,})$/.exec(name);
  return m?.[1];
}

/**
 * The stored manifest as containers/image picks it: `manifest-<digest>` when the reference names a digest
 * and the image has that item, otherwise the image's `manifest` item.
 */
async function storedManifest(store: Store, ref: StorageReference, image: ImageRecord, opts: OpOptions): Promise<Buffer> {
  const digest = namedDigest(ref.name);
  if (digest !== undefined) {
    try {
      return await store.imageBigData(image.id, manifestKey(digest), opts);
    } catch (e) {
      if (!(e instanceof FerryError && e.code === ErrorCode.NotFound)) throw e;
    }
  }
  return store.imageBigData(image.id, MANIFEST_KEY, opts);
}

/** Opens the image `ref` names. @throws FerryError(E_NOT_FOUND) */
export async function openStorageSource(ref: StorageReference, opts: OpOptions = {}): Promise<ImageSource> {
  const store = new Store(ref.storeOptions());
  const image = ref.resolve(await store.images(opts));
  const layers = await store.layers(opts);
  const chain = layerChain(layers, image.layer);
  const bytes = await storedManifest(store, ref, image, opts);
  return new StorageSource(ref, store, { image, chain, manifest: { bytes, mediaType: guessManifestMediaType(bytes) } });
}
