/**
 * Writing an image into the store. Layers stream straight into staging directories as they arrive
 * (in parallel; see store/layer-stage.ts); `commit` adds them to layers.json in order, parent first,
 * then the image with its config, manifest and signatures. `close` without `commit` discards them.
 *
 * A multi-platform image (`copy --all`, `--multi-arch index-only`, `--platform`) is stored as podman stores one:
 * each instance as an image of its own (no names; its manifest under `manifest` and `manifest-<digest>`, its
 * signatures under `signature-<hex>`), then the list as a layerless image carrying the names (see
 * Store.commitList), last, so the name appears only once every instance is there. All of it is one store
 * transaction: when any part fails (a hostile layer, a full disk, an interrupt), the images and layers it created
 * are removed again and the store is left as it was.
 */
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FerryError, ErrorCode } from '../../errors.js';
import { MediaType } from '../../manifest/media-types.js';
import { parseManifest } from '../../manifest/parse.js';
import { manifestDigest } from '../../manifest/manifest-digest.js';
import type { OpOptions } from '../../types/context.js';
import type { BlobInfo, CommitOptions, DestinationProperties, ImageDestination, PutBlobOptions, RawManifest } from '../../types/image.js';
import { VerifyingStream } from '../../util/verify-stream.js';
import { verifyDigest } from '../../util/digest.js';
import { Store, manifestKey, type CommitImageSpec } from '../../store/store.js';
import type { ImageRecord } from '../../store/records.js';
import type { StagedLayer } from '../../store/layer-stage.js';
import type { StorageReference } from './reference.js';

const MAX_CONFIG = 64 << 20;

function isLayerType(mediaType: string | undefined): boolean | undefined {
  if (!mediaType) return undefined;
  return /layer|rootfs\.diff/.test(mediaType);
}

/** What a containers-storage destination takes (the same for every store). */
export const STORAGE_DESTINATION_PROPERTIES: DestinationProperties = {
  supportedManifestMIMETypes: [MediaType.OciManifest, MediaType.DockerManifest, MediaType.OciIndex, MediaType.DockerManifestList],
  supportsSignatures: true,
  desiredLayerCompression: 'preserve',
  hasThreadSafePutBlob: true,
  // Unpacking is CPU-bound: 4 layers at once pull as fast as 6 on 2 cores, with a lower peak RSS and less CPU
  // (bench/store, see docs/performance.md).
  preferredParallelBlobs: 4,
  acceptsForeignLayerURLs: false,
};

class StorageDestination implements ImageDestination {
  readonly properties: DestinationProperties = STORAGE_DESTINATION_PROPERTIES;
  private readonly staged = new Map<string, StagedLayer>();
  /** Blob digest → diff ID of a layer already in the store. */
  private readonly reused = new Map<string, string>();
  private readonly smallBlobs = new Map<string, Buffer>();
  private manifest: RawManifest | undefined;
  private signatures: Buffer[] = [];
  /** Instances of a list being written, in the order they were written: digest → manifest and signatures. */
  private readonly instances = new Map<string, { manifest: RawManifest; signatures: Buffer[] }>();
  private committed = false;

  constructor(
    readonly reference: StorageReference,
    private readonly store: Store,
  ) {}

  async tryReusingBlob(info: BlobInfo, opts: OpOptions = {}): Promise<BlobInfo | undefined> {
    const s = this.staged.get(info.digest);
    if (s) return { ...info, digest: info.digest, size: s.compressedSize };
    if (this.smallBlobs.has(info.digest)) return { ...info, size: this.smallBlobs.get(info.digest)!.length };
    if (isLayerType(info.mediaType) === false) return undefined;
    const layers = await this.store.layers(opts);
    const byCompressed = layers.find((l) => l['compressed-diff-digest'] === info.digest && l['diff-digest']);
    if (byCompressed) {
      this.reused.set(info.digest, byCompressed['diff-digest']!);
      return { ...info, size: byCompressed['compressed-size'] ?? info.size };
    }
    const byDiff = layers.find((l) => l['diff-digest'] === info.digest);
    if (byDiff) {
      this.reused.set(info.digest, info.digest);
      return { ...info, size: byDiff['diff-size'] ?? info.size };
    }
    return undefined;
  }

  async putBlob(stream: Readable, info: BlobInfo, opts: PutBlobOptions = {}): Promise<BlobInfo> {
    let layer = isLayerType(info.mediaType);
    let input: Readable = stream;
    if (layer === undefined) {
      // No media type: a JSON document is a config, anything else a layer.
      const { peekBytes } = await import('../../compression/index.js');
      const peeked = await peekBytes(stream, 1, opts);
      layer = peeked.head[0] !== 0x7b;
      input = peeked.stream;
    }
    if (!layer) {
      const v = new VerifyingStream({ digest: info.digest || undefined, size: info.size, what: `blob ${info.digest}` });
      const chunks: Buffer[] = [];
      let n = 0;
      // pipeline, not pipe: a failing source must fail this call, not leave it waiting for data that never comes.
      await pipeline(input, v, async (verified: AsyncIterable<Buffer>) => {
        for await (const c of verified) {
          n += c.length;
          if (n > MAX_CONFIG) throw new FerryError(ErrorCode.Unsupported, `blob ${info.digest}: a non-layer blob over ${MAX_CONFIG} bytes`);
          chunks.push(c);
        }
      });
      const data = Buffer.concat(chunks);
      this.smallBlobs.set(v.digest!, data);
      return { ...info, digest: v.digest!, size: data.length };
    }
    const s = await this.store.stageLayer(input, { digest: info.digest || undefined, size: info.size }, opts);
    const prev = this.staged.get(s.compressedDigest);
    if (prev) await prev.discard();
    this.staged.set(s.compressedDigest, s);
    return { ...info, digest: s.compressedDigest, size: s.compressedSize };
  }

  async putManifest(manifest: RawManifest, instanceDigest?: string): Promise<void> {
    const parsed = parseManifest(manifest.bytes, manifest.mediaType);
    if (instanceDigest !== undefined) {
      if (parsed.kind !== 'image') {
        throw new FerryError(ErrorCode.Unsupported, `containers-storage: instance ${instanceDigest} is itself a list; lists of lists cannot be stored`);
      }
      this.instances.set(instanceDigest, { manifest, signatures: this.instances.get(instanceDigest)?.signatures ?? [] });
      return;
    }
    this.manifest = manifest;
  }

  async putSignatures(signatures: Buffer[], instanceDigest?: string): Promise<void> {
    if (instanceDigest === undefined) {
      this.signatures = signatures;
      return;
    }
    const inst = this.instances.get(instanceDigest);
    if (!inst) throw new FerryError(ErrorCode.Usage, `containers-storage: signatures of instance ${instanceDigest} before its manifest`);
    inst.signatures = signatures;
  }

  async commit(opts: CommitOptions = {}): Promise<void> {
    if (!this.manifest) throw new FerryError(ErrorCode.Usage, 'containers-storage: commit before putManifest');
    const top = this.manifest;
    const names = this.reference.name ? [this.reference.name] : [];
    if (parseManifest(top.bytes, top.mediaType).kind === 'image') {
      const spec = await this.imageSpec(top, this.signatures, names, opts, opts.sourceList);
      await this.store.transaction((tx) => tx.commitImage(spec), opts);
    } else {
      // Every instance's spec first (configs read, diff IDs checked), so that a bad instance stops the copy before
      // anything is written.
      const specs: Array<[string, CommitImageSpec]> = [];
      for (const [digest, inst] of this.instances) specs.push([digest, await this.imageSpec(inst.manifest, inst.signatures, [], opts)]);
      const listDigest = manifestDigest(top.bytes);
      await this.store.transaction(async (tx) => {
        const refs: Record<string, string> = {};
        for (const [digest, spec] of specs) refs[digest] = this.instanceReference(await tx.commitImage(spec));
        const missing = this.storedInstances(top, refs, await tx.images());
        await tx.commitList({ list: top.bytes, listDigest, instances: { ...missing, ...refs }, signatures: this.signatures, names });
      }, opts);
    }
    this.committed = true;
    this.staged.clear();
  }

  /** `containers-storage:[driver@graphroot+runroot]@ID`, how podman's list images name their instances. */
  private instanceReference(imageId: string): string {
    const o = this.store.options;
    return `containers-storage:[${o.driver}@${o.graphRoot}+${o.runRoot}]@${imageId}`;
  }

  /**
   * References for the list's instances not written by this copy (`--multi-arch index-only`, `--platform`) that
   * the store already holds, found by manifest digest.
   */
  private storedInstances(list: RawManifest, written: Record<string, string>, images: ImageRecord[]): Record<string, string> {
    const parsed = parseManifest(list.bytes, list.mediaType);
    if (parsed.kind === 'image') return {};
    const out: Record<string, string> = {};
    for (const d of parsed.manifests) {
      if (written[d.digest] !== undefined) continue;
      const img = images.find((i) => i.layer !== undefined && (i['big-data-names'] ?? []).includes(manifestKey(d.digest)));
      if (img) out[d.digest] = this.instanceReference(img.id);
    }
    return out;
  }

  /** What to commit for one image (a single image, or an instance of a list), from the layers written. */
  private async imageSpec(manifest: RawManifest, signatures: Buffer[], names: string[], opts: OpOptions, sourceList?: CommitOptions['sourceList']): Promise<CommitImageSpec> {
    const m = parseManifest(manifest.bytes, manifest.mediaType);
    if (m.kind !== 'image') throw new FerryError(ErrorCode.Unsupported, 'containers-storage: not a single image');
    const config = this.smallBlobs.get(m.config.digest) ?? (await this.existingConfig(m.config.digest, opts));
    let cfg: { created?: string; rootfs?: { diff_ids?: string[] } } = {};
    try {
      cfg = JSON.parse(config.toString('utf8')) as typeof cfg;
    } catch {
      throw new FerryError(ErrorCode.InvalidManifest, `config ${m.config.digest} is not JSON`);
    }
    const layers = m.layers.map((l, i) => {
      const s = this.staged.get(l.digest);
      const diffDigest = s?.diffDigest ?? this.reused.get(l.digest);
      if (!diffDigest) throw new FerryError(ErrorCode.Io, `containers-storage: layer ${l.digest} was neither written nor reused`);
      const expected = cfg.rootfs?.diff_ids?.[i];
      if (expected !== undefined && expected !== diffDigest) {
        throw new FerryError(ErrorCode.DigestMismatch, `layer ${l.digest}: diff ID ${diffDigest} does not match the config's ${expected}`);
      }
      return { diffDigest, ...(s ? { staged: s } : {}) };
    });
    return {
      layers,
      configDigest: m.config.digest,
      config,
      manifest: manifest.bytes,
      manifestDigest: manifestDigest(manifest.bytes),
      signatures,
      names,
      ...(cfg.created ? { created: cfg.created } : {}),
      ...(sourceList ? { sourceList } : {}),
    };
  }

  private async existingConfig(digest: string, opts: OpOptions): Promise<Buffer> {
    const images = await this.store.images(opts);
    const img = images.find((i) => i['big-data-names']?.includes(digest));
    if (!img) throw new FerryError(ErrorCode.NotFound, `containers-storage: config ${digest} was not written`);
    // Another image's big data is only as good as the store: what is stored under this digest must be it.
    const config = await this.store.imageBigData(img.id, digest, opts);
    verifyDigest(`config ${digest} of image ${img.id} in the store`, config, digest);
    return config;
  }

  async close(): Promise<void> {
    for (const s of this.staged.values()) await s.discard();
    this.staged.clear();
  }
}

/** Opens a destination writing the image `ref` names. */
export async function openStorageDestination(ref: StorageReference, _opts: OpOptions = {}): Promise<ImageDestination> {
  if (ref.idPrefix !== undefined) throw new FerryError(ErrorCode.InvalidReference, `${ref.toString()}: a destination needs a name or a full image ID`);
  return new StorageDestination(ref, new Store(ref.storeOptions()));
}
