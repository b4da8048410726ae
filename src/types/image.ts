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
 * A manifest that refers to an image (OCI 1.1 `subject`), as the referrers API and the fallback tag index list it.
 */
export interface ReferrerDescriptor {
  mediaType: string;
  /** `algorithm:hex` of the referrer's manifest. */
  digest: string;
  size: number;
  /** The artifact's type (`artifactType`, else its config's media type), if the listing gives one. */
  artifactType?: string;
  annotations?: Record<string, string>;
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
  /** What the copy engine may assume of this source; absent: every property at its default. */
  readonly properties?: SourceProperties;
  /**
   * Optional: what refers to manifest `digest` of the image's repository, as the source's own referrers listing
   * gives it (the OCI 1.1 referrers API `GET /v2/<name>/referrers/<digest>`), only those of `artifactType` when given.
   * @returns undefined when the source has no such listing (a registry without the API): the caller then looks for
   *   the fallback tag index (`sha256-HEX`, see {@link getTaggedManifest}).
   */
  listReferrers?(digest: string, opts?: OpOptions & { artifactType?: string }): Promise<ReferrerDescriptor[] | undefined>;
  /**
   * Optional: the manifest tagged `tag` in the image's repository (a registry tag; in an OCI layout or archive, the
   * image whose ref name is the image's own with `tag` as its tag: `REPO:tag`), undefined when there is none. Used
   * to find what is stored beside an image under tags derived from its digest (`sha256-HEX`, `sha256-HEX.sig`).
   * The bytes are not verified.
   */
  getTaggedManifest?(tag: string, opts?: OpOptions): Promise<RawManifest | undefined>;
  /**
   * Optional: the registry repository this source reads its blobs from (for a registry source, where its manifest
   * was read: the primary location, a rewritten one or a mirror), known once the source is open; undefined when
   * the blobs are not in a registry. The copy engine hands it to the destination with each blob it reads from this
   * source as it is ({@link ReuseBlobOptions.sourceLocation}), so that a push into another repository of the same
   * registry can mount the blob from there instead of moving its bytes.
   */
  blobLocation?(): BlobLocation | undefined;
  /** Releases resources (connections, temp dirs). */
  close(): Promise<void>;
}

/**
 * A repository of a registry that holds blobs ({@link ImageSource.blobLocation}), named as a push to that registry
 * names it: a destination compares `registry` with its own registry's name, and mounts from `repository` only
 * there (credentials for the registry go to that registry alone).
 */
export interface BlobLocation {
  /** The registry's `host[:port]` as references name it (`registry.example.com:5000`, `docker.io`). */
  readonly registry: string;
  /** The repository's path in that registry (`team/app`). */
  readonly repository: string;
}

/** Options of {@link ImageDestination.tryReusingBlob} and {@link DestinationProbe.mountableFrom}. */
export interface ReuseBlobOptions extends OpOptions {
  /**
   * Where the source of this copy keeps the blob ({@link ImageSource.blobLocation}); given only for blobs read from
   * that source with the digest they have there. A registry destination of the same registry may mount the blob
   * from it (first, before what its blob-location cache names); other destinations ignore it.
   */
  sourceLocation?: BlobLocation;
}

/** What a source is like, as one plain object (see {@link ImageSource.properties}). */
export interface SourceProperties {
  /**
   * Whether blobs read from this source are worth keeping as partial downloads across runs (default false): true for
   * network sources, where a copy run again continues a blob with a ranged read; false for local ones, which are read
   * again faster than a partial copy of them would be written.
   */
  readonly resumableDownloads?: boolean;
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
   * Whether blobs may arrive in any order (a registry): the copy engine then copies a config it does not rewrite
   * together with the layers, instead of after them. Absent: the config comes after the layers (archives lay out
   * their entries in the order blobs arrive).
   */
  blobsInAnyOrder?: boolean;
  /**
   * How many blobs to copy at once when the user does not say (default 6). A destination whose `putBlob` is
   * CPU-bound (unpacking layers into a store) asks for fewer: more at the same time then only costs memory.
   */
  preferredParallelBlobs?: number;
  /** Whether layers with `urls` (foreign/non-distributable layers) may be referenced without being copied. */
  acceptsForeignLayerURLs: boolean;
  /**
   * Where the copy engine keeps partial downloads of the blobs it copies into this destination (see `copy/partial.ts`).
   * Absent: a folder of the user's cache named after the destination's transport, kept until the commit.
   */
  partialDownloads?: PartialDownloads;
}

/**
 * Where partial downloads go ({@link DestinationProperties.partialDownloads}): a directory on the destination's file
 * system (beside, never inside, what a reader of the destination sees as an image), or a folder of the user's cache
 * (`$XDG_CACHE_HOME/ferry/partial/<cacheKey>/`, `<homeDir>/.cache/…` with `SystemContext.homeDir`).
 */
export type PartialDownloads = PartialDownloadsBeside | PartialDownloadsInCache;

/** Partial downloads in a directory the destination names. */
export interface PartialDownloadsBeside {
  /** Absolute path of the directory holding the partial files. */
  readonly dir: string;
  /**
   * Whether a complete, verified partial stays until the commit (the destination discards written blobs when a copy
   * fails) rather than being removed as soon as its blob is written (written blobs survive a failed copy).
   */
  readonly keepUntilCommit: boolean;
}

/** Partial downloads in a folder of the user's cache. */
export interface PartialDownloadsInCache {
  /** The folder's name under `ferry/partial/` (e.g. a registry host); characters unsafe in a file name are replaced. */
  readonly cacheKey: string;
  /** As {@link PartialDownloadsBeside.keepUntilCommit}. */
  readonly keepUntilCommit: boolean;
}

/**
 * Options of {@link ImageDestination.putBlob}: what the copy engine knows about the stream it hands over.
 */
export interface PutBlobOptions extends OpOptions {
  /**
   * Set when every byte of the stream has already passed a verification of this digest and size on its way from the
   * source, wired so that a mismatch destroys the stream with the error instead of ending it. When it equals the
   * `info` given to `putBlob` (same digest, same size ≥ 0), a destination may skip hashing the same bytes again:
   * the stream's normal end means they were right. It must still count the bytes it receives.
   */
  verifiedUpstream?: { readonly digest: string; readonly size: number };
  /**
   * The digest of the source blob the stream's bytes come from, also when they were changed on the way (a
   * decompressed layer is put with an empty `info.digest`): destinations that care about the order of layers
   * (docker-archive writes them into its archive as they arrive) match it with the digests `planLayers` or
   * `tryReusingBlob` saw first, in manifest order.
   */
  sourceDigest?: string;
}

/** Options of {@link ImageDestination.adoptBlobFile}. */
export interface AdoptBlobFileOptions extends OpOptions {
  /** Leave the file at its path (hard link) instead of moving it (rename). */
  keepSource: boolean;
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
  /**
   * If the blob is already present (or can be mounted, e.g. from `opts.sourceLocation`), records it and returns its
   * info; otherwise undefined. A destination may keep what it learnt for the `putBlob` of the same blob (a registry
   * keeps the upload session a refused mount opened) and releases it in `close` when no `putBlob` came.
   */
  tryReusingBlob(info: BlobInfo, opts?: ReuseBlobOptions): Promise<BlobInfo | undefined>;
  /**
   * Stores a blob from `stream`, verifying digest (and size, if known) while bytes flow — unless
   * `opts.verifiedUpstream` says that was done already. An empty `info.digest`: the blob is named by the digest
   * computed. On any error nothing of the blob remains.
   * @throws FerryError(E_DIGEST_MISMATCH | E_SIZE_MISMATCH)
   */
  putBlob(stream: Readable, info: BlobInfo, opts?: PutBlobOptions): Promise<BlobInfo>;
  /**
   * Optional, for file-based destinations (`oci:`, `dir:`, `oci-archive:`): takes the file at `path`, which holds
   * exactly the blob `info` (digest already verified by the caller, `info.size` known), as that blob, moved or
   * linked to where `putBlob` would have written it, without copying its bytes. The copy engine uses it for
   * complete partial downloads.
   * @returns the blob's info at the destination, or undefined when the file cannot be taken that way (another file
   *   system, no hard links): the caller then falls back to `putBlob`.
   * @throws FerryError(E_IO | E_SIZE_MISMATCH | E_ABORTED)
   */
  adoptBlobFile?(path: string, info: BlobInfo, opts: AdoptBlobFileOptions): Promise<BlobInfo | undefined>;
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
  /**
   * Stores a manifest; `instanceDigest` when it is one instance of an index being written, or another manifest
   * stored by digest beside the image (a referrer, or a manifest a referrer index lists).
   */
  putManifest(manifest: RawManifest, instanceDigest?: string, opts?: OpOptions): Promise<void>;
  /** Stores signatures for the image or one instance, in the storage form `getSignatures` returns. */
  putSignatures(signatures: Buffer[], instanceDigest?: string, opts?: OpOptions): Promise<void>;
  /**
   * Optional, with {@link putTaggedManifest}: the manifest tagged `tag` in the destination's repository as it is now
   * (what an earlier copy wrote; not what this destination was given), undefined when none. The bytes are not
   * verified.
   */
  getTaggedManifest?(tag: string, opts?: OpOptions): Promise<RawManifest | undefined>;
  /**
   * Optional: stores `manifest` (its blobs and the manifests it lists already stored) under `tag` in the
   * destination's repository (an OCI layout or archive: under the ref name `REPO:tag`, REPO the image's), made
   * visible by `commit` together with the image, replacing what had that tag.
   */
  putTaggedManifest?(manifest: RawManifest, tag: string, opts?: OpOptions): Promise<void>;
  /**
   * Optional: whether manifests with a `subject` stored here (by `putManifest` with their digest) are listed by the
   * destination's own referrers API, so that no fallback tag index need be kept. Absent: false.
   */
  indexesReferrers?(opts?: OpOptions): Promise<boolean>;
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
  /**
   * Optional, asked for a blob {@link hasBlob} found missing: the repository a copy would take it from without
   * moving its bytes (for a registry, another repository of the same registry it would mount the blob from: the
   * source's own, `opts.sourceLocation`, or one the blob-location cache names, in the order a copy tries them),
   * checked read-only that it holds the blob; undefined when a copy would move its bytes. Absent: never.
   */
  mountableFrom?(info: BlobInfo, opts?: ReuseBlobOptions): Promise<string | undefined>;
  /** Releases resources. */
  close(): Promise<void>;
}
