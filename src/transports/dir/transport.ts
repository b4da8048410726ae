/** The `dir` transport: `dir:PATH` (everything after `dir:` is the path, colons included). */
import { FerryError, ErrorCode } from '../../errors.js';
import type { Transport } from '../../types/reference.js';
import { validatePathScope } from '../shared/policy-scopes.js';
import { DirReference } from './reference.js';

/** The `dir` transport (skopeo's directory layout). */
export const dirTransport: Transport = Object.freeze({
  name: 'dir',
  completion: { paths: true },
  parseReference(rest: string): DirReference {
    if (rest === '') throw new FerryError(ErrorCode.InvalidReference, 'invalid reference "dir:": the directory path is empty');
    return new DirReference(rest);
  },
  /** An absolute, clean directory path other than `/`. */
  validatePolicyScope(scope: string): void {
    validatePathScope('dir', scope);
  },
});
