/** The `sif` transport: `sif:PATH`, a Singularity image file (containers-transports(5)). Read only. */
import { FerryError, ErrorCode } from '../../errors.js';
import type { Transport } from '../../types/reference.js';
import { validatePathScope } from '../shared/policy-scopes.js';
import { SifReference } from './reference.js';

/** The `sif` transport. */
export const sifTransport: Transport = Object.freeze({
  name: 'sif',
  parseReference(rest: string): SifReference {
    if (rest === '') throw new FerryError(ErrorCode.InvalidReference, 'invalid reference "sif:": the file path is empty');
    return new SifReference(rest);
  },
  /** An absolute, clean path other than `/`. */
  validatePolicyScope(scope: string): void {
    validatePathScope('sif', scope);
  },
  completion: { paths: true },
});
