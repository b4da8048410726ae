/**
 * Writing an image into a Docker engine: the image is written as a `docker save` archive into a temporary file by
 * the `docker-archive:` destination (layers uncompressed, `RepoTags` the reference's name and any additional tags),
 * and `commit` hands the archive to the engine (`docker load`). Nothing reaches the engine before `commit`.
 */
import { stat } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { OpOptions, SystemContext } from '../../types/context.js';
import type { BlobInfo, DestinationProperties, ImageDestination, LayerPlan, PutBlobOptions, RawManifest } from '../../types/image.js';
import { makeTempDir, type TempDir } from '../../util/temp.js';
import { DockerArchiveDestination } from '../docker-archive/destination.js';
import { DockerArchiveReference } from '../docker-archive/reference.js';
import { BLOB_READ_CHUNK, checkAborted, ioError } from '../shared/files.js';
import { connectDaemon, daemonLoad } from './client.js';
import type { DockerDaemonReference } from './reference.js';

/** An ImageDestination loading one image into a Docker engine at commit. */
export class DockerDaemonDestination implements ImageDestination {
  readonly reference: DockerDaemonReference;
  readonly properties: DestinationProperties;
  private readonly inner: DockerArchiveDestination;
  private readonly archivePath: string;
  private readonly temp: TempDir;
  private readonly ctx: SystemContext;

  constructor(reference: DockerDaemonReference, ctx: SystemContext, inner: DockerArchiveDestination, archivePath: string, temp: TempDir) {
    this.reference = reference;
    this.ctx = ctx;
    this.inner = inner;
    this.properties = inner.properties;
    this.archivePath = archivePath;
    this.temp = temp;
  }

  planLayers(layers: LayerPlan[]): void {
    this.inner.planLayers(layers);
  }

  tryReusingBlob(info: BlobInfo, opts?: OpOptions): Promise<BlobInfo | undefined> {
    return this.inner.tryReusingBlob(info, opts);
  }

  putBlob(stream: Readable, info: BlobInfo, opts?: PutBlobOptions): Promise<BlobInfo> {
    return this.inner.putBlob(stream, info, opts);
  }

  putManifest(manifest: RawManifest, instanceDigest?: string, opts?: OpOptions): Promise<void> {
    return this.inner.putManifest(manifest, instanceDigest, opts);
  }

  /** The engine keeps no signatures (the copy refuses signed images without `--remove-signatures`). */
  putSignatures(signatures: Buffer[], instanceDigest?: string, opts?: OpOptions): Promise<void> {
    return this.inner.putSignatures(signatures, instanceDigest, opts);
  }

  /** Completes the archive and loads it into the engine. */
  async commit(opts: OpOptions = {}): Promise<void> {
    await this.inner.commit(opts);
    checkAborted(opts.signal, `loading ${this.reference.toString()}`);
    let size: number;
    try {
      size = (await stat(this.archivePath)).size;
    } catch (e) {
      throw ioError(`reading the archive for ${this.reference.toString()}`, e);
    }
    const conn = connectDaemon(this.ctx);
    try {
      await daemonLoad(conn, createReadStream(this.archivePath, { highWaterMark: BLOB_READ_CHUNK }), size, opts);
    } finally {
      await conn.close().catch(() => {});
    }
  }

  async close(): Promise<void> {
    try {
      await this.inner.close();
    } finally {
      await this.temp.remove();
    }
  }
}

/** Opens a destination for `ref` (a `NAME:TAG` reference). */
export async function openDockerDaemonDestination(
  ref: DockerDaemonReference,
  ctx: SystemContext,
  opts: OpOptions & { additionalTags?: string[] } = {},
): Promise<DockerDaemonDestination> {
  checkAborted(opts.signal, `opening ${ref.toString()}`);
  connectDaemon(ctx).close().catch(() => {}); // an unsupported host fails before anything is written
  const temp = await makeTempDir(ctx, 'ferry-daemon-');
  try {
    const archivePath = join(temp.path, 'image.tar');
    const archiveRef = new DockerArchiveReference(archivePath, { name: ref.name! });
    const inner = await DockerArchiveDestination.open(archiveRef, opts);
    return new DockerDaemonDestination(ref, ctx, inner, archivePath, temp);
  } catch (e) {
    await temp.remove().catch(() => {});
    throw e;
  }
}
