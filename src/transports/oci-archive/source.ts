/**
 * Reading an image from an OCI archive: the archive is unpacked (safely, see `unpack.ts`) into a
 * temporary directory and read with the `oci:` source; `close` removes the directory.
 */
import type { Readable } from 'node:stream';
import type { OpOptions } from '../../types/context.js';
import type { BlobInfo, ImageSource, RawManifest } from '../../types/image.js';
import type { ImageReference } from '../../types/reference.js';
import { makeTempDir, type TempDir, type TempOptions } from '../../util/temp.js';
import { openOciLayoutSource, type OciLayoutSource } from '../oci-layout/source.js';
import { checkAborted } from '../shared/files.js';
import type { OciArchiveReference } from './reference.js';
import { unpackTar } from './unpack.js';

/** An ImageSource over an unpacked OCI archive (delegates to {@link OciLayoutSource}). */
export class OciArchiveSource implements ImageSource {
  readonly reference: ImageReference;
  private readonly inner: OciLayoutSource;
  private readonly temp: TempDir;

  constructor(reference: ImageReference, inner: OciLayoutSource, temp: TempDir) {
    this.reference = reference;
    this.inner = inner;
    this.temp = temp;
  }

  /** The directory the archive was unpacked into. */
  get unpackedDir(): string {
    return this.temp.path;
  }

  getManifest(instanceDigest?: string, opts?: OpOptions): Promise<RawManifest> {
    return this.inner.getManifest(instanceDigest, opts);
  }

  getBlob(info: BlobInfo, opts?: OpOptions & { offset?: number }): Promise<{ stream: Readable; size: number }> {
    return this.inner.getBlob(info, opts);
  }

  getSignatures(instanceDigest?: string, opts?: OpOptions): Promise<Buffer[]> {
    return this.inner.getSignatures(instanceDigest, opts);
  }

  /** Removes the unpacked copy. */
  async close(): Promise<void> {
    await this.inner.close();
    await this.temp.remove();
  }
}

/**
 * Unpacks the archive of `ref` into a temporary directory and opens the image it selects there.
 * @throws FerryError(E_NOT_FOUND) for a missing archive or image; E_HOSTILE_ARCHIVE; E_INVALID_MANIFEST
 *         (corrupt or truncated archive, bad layout); E_INVALID_REFERENCE (several images, none chosen); E_IO.
 */
export async function openOciArchiveSource(ref: OciArchiveReference, opts: OpOptions & TempOptions = {}): Promise<OciArchiveSource> {
  checkAborted(opts.signal, `opening ${ref.toString()}`);
  const temp = await makeTempDir(opts, 'ferry-oci-archive-');
  try {
    await unpackTar(ref.path, temp.path, `OCI archive ${ref.path}`, opts);
    const inner = await openOciLayoutSource({ dir: temp.path, selector: ref.selector, reference: ref }, opts);
    return new OciArchiveSource(ref, inner, temp);
  } catch (e) {
    await temp.remove().catch(() => {});
    throw e;
  }
}
