/**
 * The `tarball` transport: `tarball:FILE[:FILE…]` (containers-transports(5)), filesystem tarballs (plain or gzip'd)
 * read as an image with one layer per file; `-` is standard input. Read only, like containers/image.
 */
import { FerryError, ErrorCode } from '../../errors.js';
import type { Transport } from '../../types/reference.js';
import { TarballReference } from './reference.js';

/** Separates the files of a reference (so no file name can contain it). */
export const TARBALL_SEPARATOR = ':';

/** Parses what follows `tarball:`: a `:`-separated list of non-empty file names. */
export function parseTarballReference(rest: string): TarballReference {
  const files = rest.split(TARBALL_SEPARATOR);
  if (files.some((f) => f === '')) {
    throw new FerryError(ErrorCode.InvalidReference, `invalid reference "tarball:${rest}": expected one or more file names separated by "${TARBALL_SEPARATOR}"`);
  }
  return new TarballReference(files);
}

/** The `tarball` transport. */
export const tarballTransport: Transport = Object.freeze({
  name: 'tarball',
  parseReference: parseTarballReference,
  completion: { paths: true },
  /** None: as containers/image, `tarball` has only the default scope `""`. */
  validatePolicyScope(scope: string): void {
    throw new FerryError(ErrorCode.Config, `invalid tarball scope ${JSON.stringify(scope)}: tarball supports no scopes except the default ""`);
  },
});
