/**
 * `docker://` ImageSource: reads manifests and blobs from a registry through {@link RegistryClient}.
 * The top-level manifest is fetched when the source opens (so a missing image fails early with E_NOT_FOUND), by the
 * reference's digest if it has one, else by its tag; the client verifies it against that digest or the registry's
 * `Docker-Content-Digest`.
 */
import type { Readable } from 'node:stream';
import { recordBlobLocation } from '../../registry/blob-cache.js';
import { RegistryClient } from '../../registry/client.js';
import type { OpOptions, SystemContext } from '../../types/context.js';
import { ErrorCode, FerryError } from '../../errors.js';
import type { BlobInfo, BlobLocation, ImageSource, RawManifest, ReferrerDescriptor, SourceProperties } from '../../types/image.js';
import type { DockerReference } from './reference.js';
import { readDockerSignatures, signatureLocations, type SignatureLocations } from './signatures.js';

/** An image in a registry, opened for reading. */
class DockerImageSource implements ImageSource {
  /** A network source: a copy keeps partial downloads, which a later run continues with ranged reads. */
  readonly properties: SourceProperties = { resumableDownloads: true };
  private closed = false;
  private locations?: Promise<SignatureLocations>;

  constructor(
    readonly reference: DockerReference,
    private readonly client: RegistryClient,
    private readonly top: { bytes: Buffer; mediaType: string; digest: string },
    private readonly ctx: SystemContext = {},
  ) {}

  /** The digest of the top-level manifest as read (verified). */
  get manifestDigest(): string {
    return this.top.digest;
  }

  async getManifest(instanceDigest?: string, opts: OpOptions = {}): Promise<RawManifest> {
    if (instanceDigest === undefined || instanceDigest === this.top.digest) {
      return { bytes: Buffer.from(this.top.bytes), mediaType: this.top.mediaType };
    }
    const m = await this.client.getManifest(instanceDigest, opts);
    return { bytes: m.bytes, mediaType: m.mediaType };
  }

  async getBlob(info: BlobInfo, opts: OpOptions & { offset?: number; rangeOnly?: boolean } = {}): Promise<{ stream: Readable; size: number }> {
    const r = await this.client.getBlob(info.digest, opts);
    // Remember where the blob lives, so pushes to other repositories of this registry can mount it.
    void recordBlobLocation(this.reference.name.domain, this.reference.name.path, info.digest, this.ctx);
    return { stream: r.stream, size: r.size >= 0 ? r.size : info.size };
  }

  /**
   * The repository the manifest was read from (a mirror's or a rewritten location's, when one answered): blobs are
   * read there first, so that is where they are.
   */
  blobLocation(): BlobLocation | undefined {
    const at = this.client.readFrom;
    return at ? { registry: at.host, repository: at.repository } : { registry: this.reference.name.domain, repository: this.reference.name.path };
  }

  /** Simple signatures from the lookaside, then sigstore attachments where registries.d enables them. */
  async getSignatures(instanceDigest?: string, opts: OpOptions = {}): Promise<Buffer[]> {
    this.locations ??= signatureLocations(this.reference, this.ctx);
    const locations = await this.locations;
    return readDockerSignatures(this.reference, this.client, locations, instanceDigest ?? this.top.digest, this.ctx, opts);
  }

  /** The registry's referrers API; undefined when it has none. */
  async listReferrers(digest: string, opts: OpOptions & { artifactType?: string } = {}): Promise<ReferrerDescriptor[] | undefined> {
    const { listRegistryReferrers } = await import('../../registry/referrers.js');
    return listRegistryReferrers(this.client, digest, opts);
  }

  /** The manifest of `tag` in this repository (verified against the registry's digest header, when it sends one). */
  async getTaggedManifest(tag: string, opts: OpOptions = {}): Promise<RawManifest | undefined> {
    return taggedManifest(this.client, tag, opts);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.close();
  }
}

/**
 * Opens `ref` for reading: creates a pull client (registries.conf mirrors and rewrites apply) and fetches the
 * top-level manifest.
 * @throws FerryError(E_NOT_FOUND | E_UNAUTHORIZED | E_NETWORK | E_TLS | E_DIGEST_MISMATCH …)
 */
export async function openDockerSource(ref: DockerReference, ctx: SystemContext, opts: OpOptions = {}): Promise<ImageSource> {
  const { domain, path, tag, digest } = ref.name;
  const client = RegistryClient.open({ registry: domain, repository: path, ctx, actions: ['pull'] });
  try {
    const top = await client.getManifest(digest ?? tag ?? 'latest', opts);
    return new DockerImageSource(ref, client, top, ctx);
  } catch (e) {
    await client.close();
    throw e;
  }
}

/** The manifest `tag` names in the client's repository, or undefined when the tag does not exist. */
export async function taggedManifest(client: RegistryClient, tag: string, opts: OpOptions): Promise<RawManifest | undefined> {
  try {
    const m = await client.getManifest(tag, opts);
    return { bytes: m.bytes, mediaType: m.mediaType };
  } catch (e) {
    if (e instanceof FerryError && e.code === ErrorCode.NotFound) return undefined;
    throw e;
  }
}
