import type { Readable } from 'node:stream';
import type { OpOptions } from './context.js';
import type { ImageReference } from './reference.js';

/** What is known about a blob: at least its digest; size -1 when unknown. */
export interface BlobInfo {
  /** `algorithm:hex`, e.g. `sha256:…`. */
  digest: string;
  /** Size in bytes, or -1 if unknown. */
  size: number;
  /** Media type from the manifest, if known. */
  mediaType?: string;
  /** Annotations from the manifest descriptor, if any. */
  annotations?: Record<string, string>;
  /** Alternative locations for the blob (OCI `urls`), if any. */
  urls?: string[];
  /**
   * Only in what `ImageDestination.tryReusingBlob` returns: why nothing had to be uploaded, for progress output
   * (`already exists`, `mounted from <repository>`). Not part of any manifest.
   */
  reason?: string;
}

/** Raw manifest bytes as stored, plus the media type the source reported or detected. */
export interface RawManifest {
  bytes: Buffer;
  mediaType: string;
}

/**
 * Unverified raw access to one image (or one multi-platform index and its instances).
 *
 * Call order: any of the getters, any number of times, then `close()` once.
 * The source does not verify digests: callers wrap it (see `UnparsedImage`, `util/verify`).
 */
export interface ImageSource {
  readonly reference: ImageReference;
  /**
   * The manifest of the image, or with `instanceDigest` the manifest of one instance of its index.
   * @throws FerryError(E_NOT_FOUND) if there is no such image or instance.
   */
  getManifest(instanceDigest?: string, opts?: OpOptions): Promise<RawManifest>;
  /**
   * Opens a blob for reading from byte `offset` (default 0). `size` is the full blob size (-1 if unknown).
   * The stream is not verified; destroy it to cancel. With `rangeOnly`, a source that would have to read (or
   * download) the bytes before `offset` to skip them fails instead (E_UNSUPPORTED): for small peeks at a blob's end.
   */
  getBlob(info: BlobInfo, opts?: OpOptions & { offset?: number; rangeOnly?: boolean }): Promise<{ stream: Readable; size: number }>;
  /**
   * Optional (containers/image `LayerInfosForCopy`): the layer blobs a copy must read instead of the layers
   * the manifest of the image (or of instance `instanceDigest`) names, one per manifest layer, base first —
   * for sources that cannot serve the blobs their manifest lists (containers-storage keeps layers unpacked
   * and serves them as uncompressed tars, named by their diff IDs).
   *
   * Call order: after `getManifest` for the same `instanceDigest`, before any `getBlob` of its layers; never
   * for a manifest list. A copy that uses the result writes a manifest whose layer descriptors are updated to
   * these blobs (which changes the manifest digest, so signatures must be removed and `--preserve-digests` fails).
   * @returns undefined when the manifest's layers can be copied as they are (sources without the method: always).
   */
  layerInfosForCopy?(instanceDigest?: string, opts?: OpOptions): Promise<BlobInfo[] | undefined>;
  /**
   * Signatures stored with the image (or instance `instanceDigest`), possibly none, each in containers/image's storage
   * form (see `signature/blob.ts`: simple-signing messages as they are, sigstore records behind a format marker).
   */
  getSignatures(instanceDigest?: string, opts?: OpOptions): Promise<Buffer[]>;
  /** Releases resources (connections, temp dirs). */
  close(): Promise<void>;
}

/** What a destination can do, as one plain object. */
export interface DestinationProperties {
  /** Manifest media types accepted, most preferred first; empty means any. */
  supportedManifestMIMETypes: string[];
  /** Whether signatures can be stored; if false, copying signed images needs `--remove-signatures`. */
  supportsSignatures: boolean;
  /** Compression the destination wants for layers: keep what the source has, or force one way. */
  desiredLayerCompression: 'preserve' | 'compress' | 'decompress';
  /** Whether putBlob may be called concurrently. */
  hasThreadSafePutBlob: boolean;
  /**
   * How many blobs to copy at once when the user does not say (default 6). A destination whose `putBlob` is
   * CPU-bound (unpacking layers into a store) asks for fewer: more at the same time then only costs memory.
   */
  preferredParallelBlobs?: number;
  /** Whether layers with `urls` (foreign/non-distributable layers) may be referenced without being copied. */
  acceptsForeignLayerURLs: boolean;
}

/** One layer announced to {@link ImageDestination.planLayers}. */
export interface LayerPlan {
  /** The layer's digest at the source (what `putBlob`'s stream comes from). */
  digest: string;
  /** The size the layer will have as written, if it can be told in advance. */
  writtenSize?: number;
}

/** Options of {@link ImageDestination.commit}. */
export interface CommitOptions extends OpOptions {
  /**
   * When one platform of a multi-platform source was copied as a single image: the source's list (its bytes and
   * digest). A destination that records where an image came from may keep it (containers-storage stores it as the
   * image's `manifest-<digest>`, as containers/image does, so the image is found by the list's digest too).
   */
  sourceList?: { bytes: Buffer; digest: string };
}

/**
 * Writes one image. Call order:
 * 1. `tryReusingBlob` / `putBlob` for every blob (config and layers), possibly in parallel if `hasThreadSafePutBlob`;
 * 2. `putManifest` (for an index: every instance manifest first, with its digest, then the index);
 * 3. `putSignatures`;
 * 4. `commit`. Nothing is visible to other readers before `commit`; `close` without `commit` discards everything.
 */
export interface ImageDestination {
  readonly reference: ImageReference;
  readonly properties: DestinationProperties;
  /** If the blob is already present (or can be mounted), records it and returns its info; otherwise undefined. */
  tryReusingBlob(info: BlobInfo, opts?: OpOptions): Promise<BlobInfo | undefined>;
  /**
   * Stores a blob from `stream`, verifying digest (and size, if known) while bytes flow.
   * On any error nothing of the blob remains.
   * @throws FerryError(E_DIGEST_MISMATCH | E_SIZE_MISMATCH)
   */
  putBlob(stream: Readable, info: BlobInfo, opts?: OpOptions): Promise<BlobInfo>;
  /**
   * Optional, for destinations that write layers into one sequential file: the layers of the image about to be
   * written (manifest order, once each), each with the size it will have as written when the engine can tell in
   * advance (a layer kept as it is: its size; a gzip layer being decompressed: the size its gzip trailer records).
   * Called before the layers' `tryReusingBlob`/`putBlob`. The sizes are hints: the destination must check them
   * against what arrives and stay correct when they are wrong.
   */
  planLayers?(layers: LayerPlan[]): void;
  /**
   * Optional, for destinations that can tell cheaply (one registry HEAD, a small file): the digest of the manifest the
   * destination's reference names now, before this copy writes anything; undefined when it names none. The copy
   * engine compares it with what it would write, to skip an image that is already there (containers/image
   * `OptimizeDestinationImageAlreadyExists`). Called first, before any blob; an error reading it means "not known".
   */
  existingManifestDigest?(opts?: OpOptions): Promise<string | undefined>;
  /** Stores a manifest; `instanceDigest` when it is one instance of an index being written. */
  putManifest(manifest: RawManifest, instanceDigest?: string, opts?: OpOptions): Promise<void>;
  /** Stores signatures for the image or one instance, in the storage form `getSignatures` returns. */
  putSignatures(signatures: Buffer[], instanceDigest?: string, opts?: OpOptions): Promise<void>;
  /** Makes the image visible (renames, index update under lock, tag push). */
  commit(opts?: CommitOptions): Promise<void>;
  /** Releases resources; discards uncommitted data. */
  close(): Promise<void>;
}

/**
 * A read-only look at what a destination holds (a sync dry run's plan): the questions a copy asks first, asked
 * without opening anything for writing, creating anything, claiming, mounting or recording blobs.
 * Call order: any of the methods, any number of times, then `close()` once.
 */
export interface DestinationProbe {
  /** The properties the destination would have (the copy's choices of format and compression depend on them). */
  readonly properties: DestinationProperties;
  /**
   * Destinations with the same scope hold the same blobs (a registry repository, a layout's blob directory), so a
   * blob one image writes there is not written again for another.
   */
  readonly blobScope: string;
  /** As {@link ImageDestination.existingManifestDigest}: the digest the reference names now, or undefined. */
  existingManifestDigest(opts?: OpOptions): Promise<string | undefined>;
  /** Whether the blob is at the destination already (with its size when known), as a copy would reuse it there. */
  hasBlob(info: BlobInfo, opts?: OpOptions): Promise<boolean>;
  /** Releases resources. */
  close(): Promise<void>;
}
