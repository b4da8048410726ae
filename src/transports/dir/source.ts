/** Reading an image from skopeo's `dir:` layout. Unverified, like every ImageSource. */
import type { Readable } from 'node:stream';
import { FerryError, ErrorCode } from '../../errors.js';
import { guessManifestMediaType } from '../../manifest/guess.js';
import type { OpOptions } from '../../types/context.js';
import type { BlobInfo, ImageSource, RawManifest } from '../../types/image.js';
import type { ImageReference } from '../../types/reference.js';
import { checkAborted, openFileBlob, readWholeFile, requireDirectory } from '../shared/files.js';
import { blobPath, manifestPath, parseDirVersion, signaturePath, versionPath } from './layout.js';

/** An ImageSource over a `dir:` directory. */
export class DirSource implements ImageSource {
  readonly reference: ImageReference;
  /** The directory. */
  readonly dir: string;

  constructor(dir: string, reference: ImageReference) {
    this.dir = dir;
    this.reference = reference;
  }

  /**
   * `manifest.json` (or `<hex>.manifest.json` for an instance), with its media type detected from the JSON
   * (`''` if it cannot be determined). Missing → E_NOT_FOUND.
   */
  async getManifest(instanceDigest?: string, opts: OpOptions = {}): Promise<RawManifest> {
    const path = this.pathOf(() => manifestPath(this.dir, instanceDigest), instanceDigest);
    const what = instanceDigest === undefined ? `manifest in ${this.dir}` : `manifest ${instanceDigest} in ${this.dir}`;
    // an instance is checked by its reader against its digest; manifest.json has none to check it by
    const bytes = await readWholeFile(path, what, { ...opts, noFollow: instanceDigest === undefined });
    return { bytes, mediaType: guessManifestMediaType(bytes) };
  }

  /** Streams the blob file from `offset`. Missing → E_NOT_FOUND. */
  async getBlob(info: BlobInfo, opts: OpOptions & { offset?: number } = {}): Promise<{ stream: Readable; size: number }> {
    const path = this.pathOf(() => blobPath(this.dir, info.digest), info.digest);
    return openFileBlob(path, `blob ${info.digest} in ${this.dir}`, opts);
  }

  /** `signature-1`, `signature-2`, … up to the first missing one, as stored. */
  async getSignatures(instanceDigest?: string, opts: OpOptions = {}): Promise<Buffer[]> {
    const out: Buffer[] = [];
    for (let i = 0; ; i++) {
      checkAborted(opts.signal, `reading signatures in ${this.dir}`);
      const path = this.pathOf(() => signaturePath(this.dir, i, instanceDigest), instanceDigest);
      try {
        // copied on as they are (no digest names them): never what a symbolic link there points to
        out.push(await readWholeFile(path, `signature ${i + 1} in ${this.dir}`, { ...opts, noFollow: true }));
      } catch (e) {
        if (e instanceof FerryError && e.code === ErrorCode.NotFound) return out;
        throw e;
      }
    }
  }

  async close(): Promise<void> {}

  private pathOf(build: () => string, digest: string | undefined): string {
    try {
      return build();
    } catch (e) {
      throw new FerryError(ErrorCode.InvalidManifest, `invalid digest "${digest}" for ${this.dir}`, { cause: e });
    }
  }
}

/**
 * Opens `dir` for reading: it must be a directory; a `version` file, if present, must be version 1.x.
 * @throws FerryError(E_NOT_FOUND) for a missing directory, E_UNSUPPORTED for another version.
 */
export async function openDirSource(dir: string, reference: ImageReference, opts: OpOptions = {}): Promise<DirSource> {
  checkAborted(opts.signal, `opening ${dir}`);
  await requireDirectory(dir, 'dir: image');
  let content: string | undefined;
  try {
    content = (await readWholeFile(versionPath(dir), 'version file', opts)).toString('utf8');
  } catch (e) {
    if (!(e instanceof FerryError && e.code === ErrorCode.NotFound)) throw e;
  }
  if (content !== undefined) {
    const version = parseDirVersion(content);
    if (version === undefined || !version.startsWith('1.')) {
      throw new FerryError(ErrorCode.Unsupported, `${versionPath(dir)}: unsupported directory transport version ${JSON.stringify(content.trim())}`);
    }
  }
  return new DirSource(dir, reference);
}
