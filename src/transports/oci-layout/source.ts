/**
 * Reading an image from an OCI image layout. Used by `oci:`.
 * Unverified, like every ImageSource: callers check digests.
 */
import type { Readable } from 'node:stream';
import { FerryError, ErrorCode } from '../../errors.js';
import { guessManifestMediaType } from '../../manifest/guess.js';
import type { OpOptions } from '../../types/context.js';
import type { BlobInfo, ImageSource, RawManifest } from '../../types/image.js';
import type { ImageReference } from '../../types/reference.js';
import { checkAborted, openFileBlob, readWholeFile, requireDirectory } from '../shared/files.js';
import { blobPath, type ImageSelector, type OciDescriptor, readIndex, readLayoutVersion, refNameOf, selectDescriptor } from './layout.js';
import { taggedDescriptor, taggedManifest } from './tagged.js';
import { verifyDigest } from '../../util/digest.js';

/** Where to read from. */
export interface OciLayoutLocation {
  /** The layout directory. */
  dir: string;
  /** Which image of the layout (by ref name, by position, or the only one). */
  selector: ImageSelector;
  /** The reference reported by the source (an `oci:` or `oci-archive:` reference). */
  reference: ImageReference;
  /** The directory shared between layouts that holds the blobs (`--src-shared-blob-dir`), if any. */
  sharedBlobDir?: string;
}

/** An ImageSource over an OCI layout; `descriptor` is the index.json entry of the chosen image. */
export class OciLayoutSource implements ImageSource {
  readonly reference: ImageReference;
  /** The layout directory. */
  readonly dir: string;
  /** The `index.json` descriptor of the image (manifest or index). */
  readonly descriptor: OciDescriptor;
  private readonly sharedBlobDir: string | undefined;

  constructor(loc: OciLayoutLocation, descriptor: OciDescriptor) {
    this.reference = loc.reference;
    this.dir = loc.dir;
    this.descriptor = descriptor;
    this.sharedBlobDir = loc.sharedBlobDir;
  }

  /**
   * The image's manifest (or index) as stored, with the media type of its descriptor (detected from
   * the JSON when the descriptor has none); with `instanceDigest`, the blob of that digest.
   */
  async getManifest(instanceDigest?: string, opts: OpOptions = {}): Promise<RawManifest> {
    const digest = instanceDigest ?? this.descriptor.digest;
    const what = `manifest ${digest} in OCI layout ${this.dir}`;
    const bytes = await readWholeFile(this.blobPathOf(digest, 'manifest'), what, opts);
    // the file must be what its name and index.json say (an instance is checked by its reader against its digest)
    if (instanceDigest === undefined) verifyDigest(what, bytes, digest);
    const declared = instanceDigest === undefined ? this.descriptor.mediaType : undefined;
    return { bytes, mediaType: declared || guessManifestMediaType(bytes) };
  }

  /** Streams `blobs/<alg>/<hex>` from `offset`. Missing blob → E_NOT_FOUND. */
  async getBlob(info: BlobInfo, opts: OpOptions & { offset?: number } = {}): Promise<{ stream: Readable; size: number }> {
    return openFileBlob(this.blobPathOf(info.digest, 'blob'), `blob ${info.digest} in OCI layout ${this.dir}`, opts);
  }

  /** OCI layouts store no simple-signing signatures. */
  async getSignatures(_instanceDigest?: string, opts: OpOptions = {}): Promise<Buffer[]> {
    checkAborted(opts.signal, 'reading signatures');
    return [];
  }

  /** The image whose ref name is this image's with `tag` as its tag (see tagged.ts). */
  async getTaggedManifest(tag: string, opts: OpOptions = {}): Promise<RawManifest | undefined> {
    const desc = taggedDescriptor(await readIndex(this.dir, opts), refNameOf(this.descriptor) ?? '', tag);
    if (!desc) return undefined;
    const where = `OCI layout ${this.dir}`;
    return taggedManifest(desc, await readWholeFile(this.blobPathOf(desc.digest, 'manifest'), `manifest ${desc.digest} in ${where}`, opts), where);
  }

  async close(): Promise<void> {}

  private blobPathOf(digest: string, what: string): string {
    try {
      return blobPath(this.dir, digest, this.sharedBlobDir);
    } catch (e) {
      throw new FerryError(ErrorCode.InvalidManifest, `invalid ${what} digest "${digest}" for OCI layout ${this.dir}`, { cause: e });
    }
  }
}

/**
 * Opens the image a location selects: checks the directory, `oci-layout` and `index.json`, and resolves the
 * descriptor now, so that a missing layout or image fails here.
 * @throws FerryError(E_NOT_FOUND) for a missing directory, layout or image; see `selectDescriptor` for the others.
 */
export async function openOciLayoutSource(loc: OciLayoutLocation, opts: OpOptions = {}): Promise<OciLayoutSource> {
  checkAborted(opts.signal, `opening OCI layout ${loc.dir}`);
  await requireDirectory(loc.dir, 'OCI layout');
  await readLayoutVersion(loc.dir, opts);
  const index = await readIndex(loc.dir, opts);
  const { descriptor } = selectDescriptor(index, loc.selector, loc.dir);
  return new OciLayoutSource(loc, descriptor);
}
