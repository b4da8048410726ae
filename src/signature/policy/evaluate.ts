/**
 * Deciding whether an image may be read (containers/image `PolicyContext.IsRunningImageAllowed`): the requirements
 * of the most specific scope that policy.json has for the image — its identity, then its namespaces, then the
 * transport's `""`, then `default` — must all accept it.
 */
import { FerryError, ErrorCode } from '../../errors.js';
import type { PolicyImage } from './image.js';
import { describeKeySource } from './key-sources.js';
import type { ParseDockerReference, Policy, PolicyRequirement, PolicyRequirements } from '../../config/policy-types.js';
import type { Verdict } from './verdict.js';

/** The requirements that apply to an image, and where in policy.json they come from. */
export interface ScopedRequirements {
  requirements: PolicyRequirements;
  /** `default`, or `transports.NAME["SCOPE"]`. */
  source: string;
}

/** The requirements policy.json has for `image` (most specific scope first, then `""`, then `default`). */
export function requirementsFor(policy: Policy, image: Pick<PolicyImage, 'transport' | 'identity' | 'namespaces'>): ScopedRequirements {
  const scopes = policy.transports.get(image.transport);
  if (scopes !== undefined) {
    for (const scope of [image.identity, ...image.namespaces, '']) {
      const reqs = scopes.get(scope);
      if (reqs !== undefined) return { requirements: reqs, source: `transports.${image.transport}[${JSON.stringify(scope)}]` };
    }
  }
  return { requirements: policy.default, source: 'default' };
}

/** A requirement as shown in messages: `signedBy (GPGKeys, keyPath "/k.gpg")`. */
export function describeRequirement(r: PolicyRequirement): string {
  switch (r.type) {
    case 'signedBy':
      return `signedBy (${r.keyType}, ${describeKeySource(r.keys)})`;
    case 'sigstoreSigned':
      return `sigstoreSigned (${r.keys ? describeKeySource(r.keys) : r.roots.fulcio ? 'fulcio' : 'pki'})`;
    default:
      return r.type;
  }
}

/** What evaluation needs besides the policy. */
export interface PolicyEnvironment {
  /** The docker-name parser (ParseNormalizedNamed semantics). */
  parseDockerReference: ParseDockerReference;
}

/** A loaded policy, ready to check images: what the CLI hands the copy engine. */
export class PolicyContext {
  constructor(
    readonly policy: Policy,
    private readonly env: PolicyEnvironment,
  ) {}

  /** `--insecure-policy`: a policy that accepts any image. */
  static acceptAnything(): PolicyContext {
    return new PolicyContext(
      { default: [{ type: 'insecureAcceptAnything' }], transports: new Map() },
      {
        parseDockerReference: () => {
          throw new Error('not used');
        },
      },
    );
  }

  /**
   * Whether the verdict on an image of this scope depends on the image itself (its manifest and signatures), not
   * only on its scope: false when every requirement that applies is `insecureAcceptAnything` or `reject`.
   */
  judgesImages(scope: Pick<PolicyImage, 'transport' | 'identity' | 'namespaces'>): boolean {
    return requirementsFor(this.policy, scope).requirements.some((r) => r.type !== 'insecureAcceptAnything' && r.type !== 'reject');
  }

  /**
   * Checks that `image` may be read. Signatures are read only if a requirement needs them.
   * @throws FerryError(E_POLICY) `Source image rejected: IMAGE: REQUIREMENT (from SCOPE): REASON` naming the first
   *   requirement that refused; E_ABORTED if `signal` aborts; a source's own error if its signatures cannot be read.
   */
  async checkImage(image: PolicyImage, opts: { signal?: AbortSignal } = {}): Promise<void> {
    const { requirements, source } = requirementsFor(this.policy, image);
    if (requirements.length === 0) throw rejected(image, source, 'policy', 'List of verification policy requirements must not be empty');
    let signatures: Promise<Buffer[]> | undefined;
    const cached: PolicyImage = { ...image, signatures: () => (signatures ??= image.signatures()) };
    for (const req of requirements) {
      const verdict = await this.evaluate(req, cached, opts.signal);
      if (!verdict.allowed) throw rejected(image, source, describeRequirement(req), verdict.reason);
    }
  }

  private async evaluate(req: PolicyRequirement, image: PolicyImage, signal?: AbortSignal): Promise<Verdict> {
    switch (req.type) {
      case 'insecureAcceptAnything':
        return { allowed: true };
      case 'reject':
        return { allowed: false, reason: `Running image ${image.name} is rejected by policy.` };
      case 'signedBaseLayer':
        return { allowed: false, reason: 'signedBaseLayer not implemented yet!' };
      // The signature code (OpenPGP, sigstore) loads only for a policy that asks for signatures.
      case 'signedBy': {
        const { evaluateSignedBy } = await import('./signed-by.js');
        return evaluateSignedBy(req, image, this.env.parseDockerReference, signal);
      }
      case 'sigstoreSigned': {
        const { evaluateSigstoreSigned } = await import('./sigstore-signed.js');
        return evaluateSigstoreSigned(req, image, this.env.parseDockerReference, signal);
      }
    }
  }
}

function rejected(image: PolicyImage, source: string, requirement: string, reason: string): FerryError {
  return new FerryError(ErrorCode.Policy, `Source image rejected: ${image.name}: ${requirement} (policy ${source}): ${reason}`);
}
