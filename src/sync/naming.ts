/**
 * Where `sync` writes each image, as skopeo names it:
 *
 * - the source image's suffix is its docker name (`host/ns/repo:tag`) for registry sources, or its directory
 *   relative to the `--src dir` base (`ns/repo:tag`; the base's own name when the base itself is the image);
 * - without `--scoped` only the last path element is kept (`repo:tag`);
 * - the destination is `DESTINATION/SUFFIX` followed by `--append-suffix` (so the suffix lands on the tag).
 */
import path from 'node:path';
import { FerryError, ErrorCode } from '../errors.js';
import type { ImageReference } from '../types/reference.js';
import { isValidRefName } from '../transports/oci-layout/layout.js';

/** The kinds of destination `sync` writes to (`oci` and `oci-archive`: src/sync/archive-dest.ts). */
export type SyncDestKind = 'docker' | 'dir' | 'oci' | 'oci-archive';

/** Options of {@link destinationName}. */
export interface NamingOptions {
  /** Keep the whole source name (registry host included) under the destination. */
  scoped?: boolean;
  /** Appended to the destination name (to its tag for `name:tag` names). */
  appendSuffix?: string;
}

/**
 * The suffix naming `src` under the destination, before `--scoped` is applied.
 * @param dirBase the `--src dir` base directory the image was found in.
 */
export function sourceSuffix(src: ImageReference, dirBase?: string): string {
  const docker = src.dockerReference();
  if (docker !== undefined) return docker;
  if (dirBase === undefined) throw new FerryError(ErrorCode.Unsupported, `cannot name ${src.toString()} at a sync destination`);
  const rel = path.relative(path.resolve(dirBase), path.resolve(src.stringWithinTransport())).split(path.sep).join('/');
  return rel === '' ? path.basename(path.resolve(dirBase)) : rel;
}

/**
 * The destination name (without transport) for `src`: `DEST/repo:tag` or, with `scoped`, `DEST/host/ns/repo:tag`,
 * plus `appendSuffix`. `suffix` replaces the source's own (the ref name of an image read from an OCI layout).
 * The name is always below `dest`: a suffix comes from the source (an archive's `index.json` is as hostile as the
 * archive), so one that is not a valid ref name, or that has an empty, `.` or `..` element (which would name
 * `dest`'s parent, another registry host, or a directory outside `dest`), is refused.
 * @throws FerryError(E_INVALID_REFERENCE) for such a suffix.
 */
export function destinationName(src: ImageReference, dest: string, opts: NamingOptions & { dirBase?: string; suffix?: string } = {}): string {
  if (opts.suffix !== undefined && !isValidRefName(opts.suffix)) {
    throw new FerryError(ErrorCode.InvalidReference, `ref name ${JSON.stringify(opts.suffix)} of ${src.toString()} is not a valid image name (REPO:TAG): refusing to name a destination after it`);
  }
  let suffix = opts.suffix ?? sourceSuffix(src, opts.dirBase);
  if (!opts.scoped) suffix = path.posix.basename(suffix);
  if (suffix.split('/').some((e) => e === '' || e === '.' || e === '..')) {
    throw new FerryError(ErrorCode.InvalidReference, `${src.toString()}: ${JSON.stringify(suffix)} does not name an image below the destination: refusing it`);
  }
  return path.posix.join(dest, suffix) + (opts.appendSuffix ?? '');
}
