/**
 * Tags beside an image in an OCI layout (or archive): a layout has no repositories, so the manifest "tagged T in the
 * repository of the image named `REPO:TAG`" is the one whose ref name is `REPO:T` (for an image named by a tag alone,
 * `T`). This is how referrers copied with an image travel in layouts and archives (`app:sha256-HEX.sig`,
 * `app:sha256-HEX`), and what a later copy out of the layout turns back into registry tags.
 */
import { FerryError, ErrorCode } from '../../errors.js';
import { guessManifestMediaType } from '../../manifest/guess.js';
import type { RawManifest } from '../../types/image.js';
import { verifyDigest } from '../../util/digest.js';
import { type OciDescriptor, type OciIndex, refNameOf } from './layout.js';

/** The ref name of `tag` beside the image named `imageRefName` (`''`: an unnamed image). */
export function taggedRefName(imageRefName: string, tag: string): string {
  const slash = imageRefName.lastIndexOf('/');
  const colon = imageRefName.lastIndexOf(':');
  return colon > slash ? `${imageRefName.slice(0, colon)}:${tag}` : tag;
}

/** The descriptor of `index` named by the ref name of `tag` beside `imageRefName`, if any (the last one wins). */
export function taggedDescriptor(index: OciIndex, imageRefName: string, tag: string): OciDescriptor | undefined {
  const name = taggedRefName(imageRefName, tag);
  return index.manifests.filter((d) => refNameOf(d) === name).pop();
}

/**
 * `bytes` read for `desc`, checked against its size and digest, with its media type (guessed from the JSON when the
 * descriptor has none).
 */
export function taggedManifest(desc: OciDescriptor, bytes: Buffer, where: string): RawManifest {
  if (bytes.length !== desc.size) throw new FerryError(ErrorCode.SizeMismatch, `manifest ${desc.digest} in ${where} has ${bytes.length} bytes, expected ${desc.size}`);
  verifyDigest(`manifest ${desc.digest} in ${where}`, bytes, desc.digest);
  return { bytes, mediaType: desc.mediaType || guessManifestMediaType(bytes) };
}
