/** The `docker` transport: `docker://NAME[:TAG][@DIGEST]`. */
import { FerryError, ErrorCode } from '../../errors.js';
import type { Transport } from '../../types/reference.js';
import { redactCredentials } from '../../util/redact.js';
import { parseNormalizedName } from '../../reference/name.js';
import { DockerReference } from './reference.js';

/** The `docker` transport. `parseReference` takes what follows `docker:`, which must start with `//`. */
export const dockerTransport: Transport = Object.freeze({
  name: 'docker',
  completion: { prefix: '//' },
  parseReference(rest: string): DockerReference {
    if (!rest.startsWith('//')) {
      throw new FerryError(
        ErrorCode.InvalidReference,
        redactCredentials(`invalid reference "docker:${rest}": docker references must start with "//" (e.g. docker://${rest.replace(/^\/+/, '') || 'busybox'})`),
      );
    }
    return new DockerReference(parseNormalizedName(rest.slice(2)));
  },
  /** Any scope, as containers/image: a scope that matches no name is never used. */
  validatePolicyScope(): void {},
});
