/** The `oci-archive` transport: `oci-archive:PATH[:REF]` or `oci-archive:PATH:@N` (containers-transports(5)). */
import { FerryError, ErrorCode } from '../../errors.js';
import type { Transport } from '../../types/reference.js';
import { isValidRefName } from '../oci-layout/layout.js';
import { validatePathScope } from '../shared/policy-scopes.js';
import { OciArchiveReference } from './reference.js';

function invalid(rest: string, why: string): FerryError {
  return new FerryError(ErrorCode.InvalidReference, `invalid reference "oci-archive:${rest}": ${why}`);
}

/**
 * Parses what follows `oci-archive:` like `oci:`: split at the first `:` into the archive path and an
 * optional image part, a ref name (`org.opencontainers.image.ref.name` grammar) or `@N` (sources only).
 */
export function parseOciArchiveReference(rest: string): OciArchiveReference {
  const colon = rest.indexOf(':');
  const path = colon === -1 ? rest : rest.slice(0, colon);
  const image = colon === -1 ? '' : rest.slice(colon + 1);
  if (path === '') throw invalid(rest, 'the archive path is empty');
  if (image.startsWith('@')) {
    const n = image.slice(1);
    if (!/^[0-9]+$/.test(n) || !Number.isSafeInteger(Number(n))) {
      throw invalid(rest, `invalid source index "${image}": expected @ and a non-negative integer`);
    }
    return new OciArchiveReference(path, '', Number(n));
  }
  if (image !== '' && !isValidRefName(image)) {
    throw invalid(rest, `invalid image name "${image}": letters and digits separated by "/", "-", ".", "_", ":", "@", "+" or "--"`);
  }
  return new OciArchiveReference(path, image);
}

/** The `oci-archive` transport (tar files of OCI image layouts). */
export const ociArchiveTransport: Transport = Object.freeze({
  name: 'oci-archive',
  completion: { paths: true },
  archiveOptions: { since: true, split: true },
  parseReference: parseOciArchiveReference,
  /** An absolute, clean path other than `/`. */
  validatePolicyScope(scope: string): void {
    validatePathScope('oci-archive', scope);
  },
});
