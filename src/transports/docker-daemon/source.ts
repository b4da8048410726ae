/**
 * Reading an image from a Docker engine: the engine's `docker save` archive of it is copied into a temporary file,
 * then read as `docker-archive:` reads archives (the same synthesized manifest as skopeo's). The copy is removed on
 * close.
 */
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { OpOptions, SystemContext } from '../../types/context.js';
import type { BlobInfo, ImageSource, RawManifest } from '../../types/image.js';
import { makeTempDir, type TempDir } from '../../util/temp.js';
import { DockerArchiveSource } from '../docker-archive/source.js';
import { checkAborted, ioError } from '../shared/files.js';
import { connectDaemon, daemonSave } from './client.js';
import type { DockerDaemonReference } from './reference.js';

/** An ImageSource over an image of a Docker engine. */
export class DockerDaemonSource implements ImageSource {
  readonly reference: DockerDaemonReference;
  private readonly inner: DockerArchiveSource;
  private readonly temp: TempDir;

  constructor(reference: DockerDaemonReference, inner: DockerArchiveSource, temp: TempDir) {
    this.reference = reference;
    this.inner = inner;
    this.temp = temp;
  }

  getManifest(instanceDigest?: string, opts?: OpOptions): Promise<RawManifest> {
    return this.inner.getManifest(instanceDigest, opts);
  }

  getBlob(info: BlobInfo, opts?: OpOptions & { offset?: number }): Promise<{ stream: Readable; size: number }> {
    return this.inner.getBlob(info, opts);
  }

  /** The engine keeps no signatures. */
  getSignatures(_instanceDigest?: string, opts?: OpOptions): Promise<Buffer[]> {
    return this.inner.getSignatures(undefined, opts);
  }

  async close(): Promise<void> {
    try {
      await this.inner.close();
    } finally {
      await this.temp.remove();
    }
  }
}

/**
 * Asks the engine for the image and opens its archive.
 * @throws FerryError(E_NOT_FOUND) when the engine has no such image; E_NETWORK, E_IO, E_INVALID_MANIFEST.
 */
export async function openDockerDaemonSource(ref: DockerDaemonReference, ctx: SystemContext, opts: OpOptions = {}): Promise<DockerDaemonSource> {
  checkAborted(opts.signal, `opening ${ref.toString()}`);
  const conn = connectDaemon(ctx);
  const temp = await makeTempDir(ctx, 'ferry-daemon-');
  try {
    const path = join(temp.path, 'image.tar');
    try {
      const body = await daemonSave(conn, ref.apiName(), opts);
      try {
        await pipeline(body, createWriteStream(path, { flags: 'wx', mode: 0o600 }), { signal: opts.signal });
      } catch (e) {
        checkAborted(opts.signal, `reading ${ref.toString()}`);
        throw ioError(`reading ${ref.toString()} from the Docker daemon at ${conn.host}`, e);
      }
    } finally {
      await conn.close().catch(() => {});
    }
    const inner = await DockerArchiveSource.open({ path, selector: {}, reference: ref }, { ...opts, tmpDir: ctx.tmpDir });
    return new DockerDaemonSource(ref, inner, temp);
  } catch (e) {
    await temp.remove().catch(() => {});
    throw e;
  }
}
