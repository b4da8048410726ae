/**
 * `docker://` ImageDestination: pushes blobs and manifests to a registry.
 *
 * - `tryReusingBlob`: a cross-repository mount ("mounted from …") from the repository the copy's source reads the blob
 *   from when it is on the same registry, or from one the blob-location cache knows there (`mount-candidates.ts`);
 *   else a HEAD in the destination repository ("already exists"). The HEAD comes first when there is no other
 *   repository to mount from, or when the blob is known to be in the destination's own. A mount the registry answers
 *   202 opens an upload session: it is kept for the blob's `putBlob`, and cancelled in `close` if none comes.
 * - `putBlob`: streamed upload (see `registry/upload.ts`), verified while it streams, through the session a refused
 *   mount of the blob opened when there is one.
 * - `putManifest`: instance manifests of an index are PUT by digest at once (invisible without a tag); the top-level
 *   manifest is kept and PUT in `commit` — by tag, or by digest when the reference has one — so nothing is visible
 *   before `commit`.
 * - `putSignatures`: kept until `commit`, which stores them after the manifests (simple signatures in the
 *   registries.d lookaside, sigstore signatures as attachments; see `signatures.ts`).
 */
import type { Readable } from 'node:stream';
import { ErrorCode, FerryError, digestMismatch } from '../../errors.js';
import { MediaType } from '../../manifest/media-types.js';
import { recordBlobLocation, flushBlobLocations } from '../../registry/blob-cache.js';
import { claimBlob, claimHeldElsewhere, claimKey, knownPresent, notePresent } from './blob-claims.js';
import { RegistryClient } from '../../registry/client.js';
import { discard, header } from '../../registry/http.js';
import { blobSize, cancelUpload, mountBlob, uploadBlob, type UploadSession, type UploadSettings } from '../../registry/upload.js';
import type { OpOptions, SystemContext } from '../../types/context.js';
import type { BlobInfo, DestinationProperties, ImageDestination, PutBlobOptions, RawManifest, ReuseBlobOptions } from '../../types/image.js';
import { digestOf, parseDigest } from '../../util/digest.js';
import { mountCandidates } from './mount-candidates.js';
import type { DockerReference } from './reference.js';
import { checkDockerSignatures, signatureLocations, writeDockerSignatures, type SignatureLocations } from './signatures.js';

/** Manifest types a registry destination accepts, most preferred first (schema1 is never written). */
export const DOCKER_DESTINATION_MANIFEST_TYPES: readonly string[] = [
  MediaType.OciManifest,
  MediaType.DockerManifest,
  MediaType.OciIndex,
  MediaType.DockerManifestList,
];

/** Options of {@link openDockerDestination} beyond the operation's signal. */
export interface DockerDestinationOptions extends OpOptions {
  /** Upload tuning (chunked uploads); see {@link UploadSettings}. */
  upload?: UploadSettings;
  /** Whether to use the blob-location cache for mounts and record pushed blobs in it (default true). */
  blobCache?: boolean;
}

/** What a registry destination can do (also what its probe, probe.ts, reports). */
export const DOCKER_DESTINATION_PROPERTIES: DestinationProperties = Object.freeze({
  supportedManifestMIMETypes: [...DOCKER_DESTINATION_MANIFEST_TYPES],
  supportsSignatures: true,
  // Registries get gzip layers, like containers/image (docker_image_dest: types.Compress): uncompressed layers
  // from docker-archive:/containers-storage: are compressed, compressed ones are kept.
  desiredLayerCompression: 'compress',
  hasThreadSafePutBlob: true,
  blobsInAnyOrder: true,
  acceptsForeignLayerURLs: true,
});

/** A registry repository opened for pushing one image. */
export class DockerImageDestination implements ImageDestination {
  readonly properties: DestinationProperties;
  private top?: { bytes: Buffer; mediaType: string; digest: string };
  private committed = false;
  private closed = false;
  /** Signatures to store at commit, by manifest digest (the top-level one under '' until its digest is known). */
  private readonly signatures = new Map<string, Buffer[]>();
  private locationsOnce?: Promise<SignatureLocations>;
  /** Manifests to PUT by tag at commit (referrers stored under tags: cosign's, the fallback index). */
  private readonly tagged = new Map<string, RawManifest>();

  constructor(
    readonly reference: DockerReference,
    private readonly client: RegistryClient,
    private readonly ctx: SystemContext,
    private readonly opts: DockerDestinationOptions,
  ) {
    // Partial downloads in the user's cache, one folder per registry; pushed blobs stay in the registry.
    this.properties = Object.freeze({ ...DOCKER_DESTINATION_PROPERTIES, partialDownloads: { cacheKey: reference.name.domain, keepUntilCommit: false } });
  }

  private get registry(): string {
    return this.reference.name.domain;
  }
  private get repository(): string {
    return this.reference.name.path;
  }
  private get useCache(): boolean {
    return this.opts.blobCache !== false;
  }

  /** Blobs this destination claimed (see blob-claims.ts) when it found them missing, until written or closed. */
  private readonly claims = new Map<string, () => void>();

  private endClaim(digest: string): void {
    this.claims.get(digest)?.();
    this.claims.delete(digest);
  }

  /**
   * Upload sessions the registry opened when it answered a mount of a blob with 202, by the blob's digest: the
   * blob's `putBlob` uploads through it (one request less), `close` cancels what no `putBlob` took.
   */
  private readonly sessions = new Map<string, UploadSession>();

  /** Takes the session kept for `digest` (it is then the caller's to use or cancel). */
  private takeSession(digest: string | undefined): UploadSession | undefined {
    if (!digest) return undefined;
    const s = this.sessions.get(digest);
    this.sessions.delete(digest);
    return s;
  }

  /** Notes that `digest` (`size` bytes) is in this repository: for this job (blob-claims.ts), and in the blob-location cache. */
  private record(digest: string, size: number): void {
    if (size >= 0) notePresent(this.ctx, claimKey(this.registry, this.repository, digest), size);
    if (this.useCache) void recordBlobLocation(this.registry, this.repository, digest, this.ctx);
  }

  /**
   * Whether the blob is in this repository already (HEAD), or can be mounted there from another repository of the
   * registry: the source's (`opts.sourceLocation`, on this registry), or one the blob-location cache names
   * (`mount-candidates.ts`). With such a repository, and none saying the blob is in this one, the mount is tried
   * first, without a HEAD: a registry answers 201 to a mount of a blob the repository already holds too, and the
   * HEAD is sent only when no mount succeeded. Otherwise the HEAD comes first. A mount answered 202 leaves an upload
   * session open: it is kept for this blob's `putBlob` (cancelled if the blob turns out to be here, or in `close`).
   * A blob found missing is claimed (blob-claims.ts) until `putBlob` writes it. A blob this job (this context) already
   * wrote to, found in or mounted into this repository is reused with no request at all.
   */
  async tryReusingBlob(info: BlobInfo, opts: ReuseBlobOptions = {}): Promise<BlobInfo | undefined> {
    if (!info.digest) return undefined;
    const digest = info.digest;
    parseDigest(digest);
    const key = claimKey(this.registry, this.repository, digest);
    const seen = (): BlobInfo | undefined => {
      const size = knownPresent(this.ctx, key);
      return size === undefined ? undefined : { ...info, size, reason: 'already exists' };
    };
    const exists = async (): Promise<BlobInfo | undefined> => {
      const size = await blobSize(this.client, digest, opts);
      if (size === undefined) return undefined;
      const found = { ...info, size: size >= 0 ? size : info.size, reason: 'already exists' };
      this.record(digest, found.size);
      return found;
    };
    // another image of this process is writing the blob into this repository: wait for it before asking
    for (let other = claimHeldElsewhere(key); other !== undefined; other = claimHeldElsewhere(key)) {
      await other;
      opts.signal?.throwIfAborted();
    }
    const early = seen();
    if (early) return early;
    const { from: candidates, here } = await mountCandidates(this.registry, this.repository, digest, this.ctx, {
      useCache: this.useCache,
      sourceLocation: opts.sourceLocation,
    });
    let looked = false;
    if (candidates.length === 0 || here) {
      const found = await exists();
      if (found) return found;
      looked = true;
    }
    // one started meanwhile: wait for it, then look again
    for (let other = claimHeldElsewhere(key); other !== undefined; other = claimHeldElsewhere(key)) {
      await other;
      opts.signal?.throwIfAborted();
      const found = seen() ?? (await exists());
      if (found) return found;
      looked = true;
    }
    this.claims.set(digest, claimBlob(key));
    // the session the first mount answered 202 opened, for the upload
    let session: UploadSession | undefined;
    const drop = async () => {
      if (session) await cancelUpload(this.client, session);
      session = undefined;
    };
    try {
      for (const from of candidates) {
        let r;
        try {
          r = await mountBlob(this.client, digest, from, { signal: opts.signal, keepSession: true });
        } catch (e) {
          if (opts.signal?.aborted || (e instanceof FerryError && e.code === ErrorCode.Aborted)) throw e;
          continue; // not allowed to read there, or the registry refuses mounts: try the next one, then upload
        }
        if (r.mounted) {
          await drop();
          this.record(digest, info.size);
          this.endClaim(digest);
          return { ...info, reason: `mounted from ${from}` };
        }
        if (r.session && session) await cancelUpload(this.client, r.session);
        else session ??= r.session;
      }
      if (!looked) {
        // no mount: the blob may still be in this repository (nothing said it was)
        const found = await exists();
        if (found) {
          await drop();
          this.endClaim(digest);
          return found;
        }
      }
    } catch (e) {
      await drop();
      this.endClaim(digest);
      throw e;
    }
    if (session) {
      // a session left from an earlier call for this blob (a putBlob that never came) goes first; once closed, no
      // putBlob will come
      const old = this.takeSession(digest);
      if (old) await cancelUpload(this.client, old);
      if (this.closed) await cancelUpload(this.client, session);
      else this.sessions.set(digest, session);
    }
    return undefined;
  }

  /** One manifest HEAD for the reference's tag (or digest); a GET only when the registry sends no digest. */
  async existingManifestDigest(opts: OpOptions = {}): Promise<string | undefined> {
    const { tag, digest } = this.reference.name;
    return (await this.client.headManifest(tag ?? digest ?? 'latest', opts))?.digest;
  }

  async putBlob(stream: Readable, info: BlobInfo, opts: PutBlobOptions = {}): Promise<BlobInfo> {
    let r;
    try {
      // a session a refused mount of this blob opened (a session takes any bytes: also those of a recompressed blob)
      const session = this.takeSession(info.digest) ?? this.takeSession(opts.sourceDigest);
      r = await uploadBlob(
        this.client,
        stream,
        { digest: info.digest, size: info.size },
        { ...this.opts.upload, signal: opts.signal, verifiedUpstream: opts.verifiedUpstream, ...(session ? { session } : {}) },
      );
      // before the claim ends: a destination waiting on it then knows the blob is here without asking
      this.record(r.digest, r.size);
    } finally {
      this.endClaim(info.digest);
    }
    const out: BlobInfo = { ...info, digest: r.digest, size: r.size };
    delete out.reason;
    return out;
  }

  async putManifest(manifest: RawManifest, instanceDigest?: string, opts: OpOptions = {}): Promise<void> {
    if (!DOCKER_DESTINATION_MANIFEST_TYPES.includes(manifest.mediaType)) {
      throw new FerryError(ErrorCode.Unsupported, `${this.reference.toString()}: writing manifests of type ${manifest.mediaType} is not supported`);
    }
    if (instanceDigest !== undefined) {
      const digest = digestOf(manifest.bytes, parseDigest(instanceDigest).algorithm);
      if (digest !== instanceDigest) throw digestMismatch(`${this.reference.toString()}: instance manifest`, instanceDigest, digest);
      // One writer per instance manifest and repository, as for blobs (blob-claims.ts): a second PUT of it rewrites
      // the registry's link to it while another image's index PUT may be reading that link ("blob unknown").
      const key = claimKey(this.registry, this.repository, instanceDigest);
      for (let other = claimHeldElsewhere(key); other !== undefined; other = claimHeldElsewhere(key)) {
        await other;
        opts.signal?.throwIfAborted();
      }
      const end = claimBlob(key);
      try {
        // Written already (by another image of this process): not again. A failed look is not an answer: write it.
        const there = await this.client.headManifest(instanceDigest, opts).catch((e: unknown) => {
          if (opts.signal?.aborted || (e instanceof FerryError && e.code === ErrorCode.Aborted)) throw e;
          return undefined;
        });
        if (there?.digest !== instanceDigest) await this.put(instanceDigest, manifest, digest, opts);
      } finally {
        end();
      }
      return;
    }
    const wanted = this.reference.name.digest;
    const digest = digestOf(manifest.bytes, wanted ? parseDigest(wanted).algorithm : 'sha256');
    if (wanted && wanted !== digest) {
      throw new FerryError(
        ErrorCode.DigestMismatch,
        `${this.reference.toString()}: the destination names digest ${wanted}, but the manifest being written has digest ${digest}`,
      );
    }
    this.top = { bytes: manifest.bytes, mediaType: manifest.mediaType, digest };
  }

  /** PUTs a manifest by `tagOrDigest` and checks the registry's `Docker-Content-Digest`. */
  private async put(tagOrDigest: string, manifest: RawManifest, digest: string, opts: OpOptions): Promise<void> {
    const what = `docker://${this.registry}/${this.repository}${tagOrDigest.includes(':') ? '@' : ':'}${tagOrDigest}: writing manifest`;
    const res = await this.client.request({
      method: 'PUT',
      path: `manifests/${tagOrDigest}`,
      headers: { 'content-type': manifest.mediaType, 'content-length': String(manifest.bytes.length) },
      body: manifest.bytes,
      signal: opts.signal,
      what,
    });
    if (res.status !== 201 && res.status !== 200 && res.status !== 202) throw await RegistryClient.errorFrom(what, res);
    await discard(res);
    const got = header(res, 'docker-content-digest')?.trim();
    if (got && got !== digest && got.split(':')[0] === digest.split(':')[0]) {
      throw digestMismatch(`${what}: the registry stored a different manifest`, digest, got);
    }
  }

  /** Checks that the signatures can be stored (registries.d), and keeps them for `commit`. */
  async putSignatures(signatures: Buffer[], instanceDigest?: string, _opts?: OpOptions): Promise<void> {
    if (instanceDigest !== undefined) parseDigest(instanceDigest);
    if (signatures.length > 0) checkDockerSignatures(this.reference, await this.locations(), signatures);
    this.signatures.set(instanceDigest ?? '', [...signatures]);
  }

  /** Where this image's signatures go (registries.d, read once). */
  private locations(): Promise<SignatureLocations> {
    this.locationsOnce ??= signatureLocations(this.reference, this.ctx);
    return this.locationsOnce;
  }

  /** Stores the signatures given to `putSignatures`, after the manifests they sign. */
  private async storeSignatures(opts: OpOptions): Promise<void> {
    const pending = [...this.signatures].filter(([, sigs]) => sigs.length > 0);
    if (pending.length === 0) return;
    const locations = await this.locations();
    for (const [digest, sigs] of pending) {
      await writeDockerSignatures(this.reference, this.client, locations, digest === '' ? this.top!.digest : digest, sigs, opts);
    }
  }

  /** The manifest `tag` names in the repository now. */
  async getTaggedManifest(tag: string, opts: OpOptions = {}): Promise<RawManifest | undefined> {
    const { taggedManifest } = await import('./source.js');
    return taggedManifest(this.client, tag, opts);
  }

  /** Keeps the manifest for `commit`, which PUTs it by `tag` after the image. */
  async putTaggedManifest(manifest: RawManifest, tag: string, _opts?: OpOptions): Promise<void> {
    if (!DOCKER_DESTINATION_MANIFEST_TYPES.includes(manifest.mediaType)) {
      throw new FerryError(ErrorCode.Unsupported, `${this.reference.toString()}: writing manifests of type ${manifest.mediaType} is not supported`);
    }
    this.tagged.set(tag, manifest);
  }

  /** Whether the registry has the referrers API (then it lists what refers to a manifest by itself). */
  async indexesReferrers(opts: OpOptions = {}): Promise<boolean> {
    const { hasReferrersApi } = await import('../../registry/referrers.js');
    return hasReferrersApi(this.client, opts);
  }

  async commit(opts: OpOptions = {}): Promise<void> {
    if (this.committed) return;
    if (!this.top) throw new FerryError(ErrorCode.Usage, `${this.reference.toString()}: commit without a manifest`);
    const { tag, digest } = this.reference.name;
    const m = { bytes: this.top.bytes, mediaType: this.top.mediaType };
    if (digest) await this.put(digest, m, this.top.digest, opts);
    if (tag) await this.put(tag, m, this.top.digest, opts);
    // before the signatures: sigstore attachments copied as a tag are then found there, not written again
    for (const [t, manifest] of this.tagged) await this.put(t, manifest, digestOf(manifest.bytes), opts);
    await this.storeSignatures(opts);
    this.committed = true;
  }

  /** The digest of the top-level manifest given to `putManifest` (undefined before). */
  get manifestDigest(): string | undefined {
    return this.top?.digest;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const digest of [...this.claims.keys()]) this.endClaim(digest);
    const unused = [...this.sessions.values()];
    this.sessions.clear();
    try {
      await Promise.all(unused.map((s) => cancelUpload(this.client, s)));
      await flushBlobLocations();
    } finally {
      await this.client.close();
    }
  }
}

/**
 * Opens `ref` for pushing: a push client (no mirrors; `pull,push` scope). No I/O happens until the first call.
 */
export async function openDockerDestination(ref: DockerReference, ctx: SystemContext, opts: DockerDestinationOptions = {}): Promise<DockerImageDestination> {
  const { domain, path } = ref.name;
  const client = RegistryClient.open({ registry: domain, repository: path, ctx, actions: ['pull', 'push'] });
  return new DockerImageDestination(ref, client, ctx, opts);
}
