/** The `oci` transport: `oci:PATH[:REF]` or `oci:PATH:@N`. */
import { FerryError, ErrorCode } from '../../errors.js';
import type { Transport } from '../../types/reference.js';
import { isValidRefName } from './layout.js';
import { validatePathScope } from '../shared/policy-scopes.js';
import { OciReference } from './reference.js';

function invalid(rest: string, why: string): FerryError {
  return new FerryError(ErrorCode.InvalidReference, `invalid reference "oci:${rest}": ${why}`);
}

/**
 * Parses what follows `oci:`, like containers/image: split at the first `:` into the layout path and an
 * optional image part; the path therefore cannot contain a colon (`oci:/a:b:c` is path `/a`, name `b:c`).
 * The image part is either a ref name (`org.opencontainers.image.ref.name` grammar) or `@N`, the zero-based
 * position of the image in `index.json` (sources only).
 */
export function parseOciReference(rest: string): OciReference {
  const colon = rest.indexOf(':');
  const dir = colon === -1 ? rest : rest.slice(0, colon);
  const image = colon === -1 ? '' : rest.slice(colon + 1);
  if (dir === '') throw invalid(rest, 'the layout path is empty');
  if (image.startsWith('@')) {
    const n = image.slice(1);
    if (!/^[0-9]+$/.test(n) || !Number.isSafeInteger(Number(n))) {
      throw invalid(rest, `invalid source index "${image}": expected @ and a non-negative integer`);
    }
    return new OciReference(dir, '', Number(n));
  }
  if (image !== '' && !isValidRefName(image)) {
    throw invalid(rest, `invalid image name "${image}": letters and digits separated by "/", "-", ".", "_", ":", "@", "+" or "--"`);
  }
  return new OciReference(dir, image);
}

/** The `oci` transport (OCI image layout directories). */
export const ociTransport: Transport = Object.freeze({
  name: 'oci',
  completion: { paths: true },
  parseReference: parseOciReference,
  /** An absolute, clean path other than `/`. */
  validatePolicyScope(scope: string): void {
    validatePathScope('oci', scope);
  },
});
