/** The trust policy of `copy` and `sync`, from the global `--policy` / `--insecure-policy` flags. */
import { FerryError, ErrorCode } from '../../errors.js';
import type { PolicyContext } from '../../signature/policy/evaluate.js';

/**
 * Loads the policy the flags name: none with `--insecure-policy` (anything is accepted), else `--policy PATH`, else
 * `~/.config/containers/policy.json`, else `/etc/containers/policy.json`.
 * @throws FerryError(E_CONFIG) `Error loading trust policy: …` when no policy file exists or it cannot be read or parsed.
 */
export async function policyFromArgs(args: Record<string, unknown>, env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<PolicyContext> {
  if (args['insecure-policy']) {
    const { PolicyContext } = await import('../../signature/policy/evaluate.js');
    return PolicyContext.acceptAnything();
  }
  // loaded together: one after the other, each would wait for the reads and compiling of the one before
  const [{ PolicyContext }, { loadPolicy }, { getTransport }, { parseNormalizedName, repositoryString }] = await Promise.all([
    import('../../signature/policy/evaluate.js'),
    import('../../config/policy.js'),
    import('../../transports/registry.js'),
    import('../../reference/name.js'),
  ]);
  const parseDockerReference = (s: string) => {
    const n = parseNormalizedName(s);
    return { name: repositoryString(n), ...(n.tag !== undefined ? { tag: n.tag } : {}), ...(n.digest !== undefined ? { digest: n.digest } : {}) };
  };
  const path = args['policy'] as string | undefined;
  try {
    const { policy } = await loadPolicy({
      ...(path !== undefined ? { path } : {}),
      ...(env['HOME'] ? { homeDir: env['HOME'] } : {}),
      scopeValidator: (name) => {
        const t = getTransport(name);
        return t ? (scope) => t.validatePolicyScope(scope) : undefined;
      },
      parseDockerReference,
      signal,
    });
    return new PolicyContext(policy, { parseDockerReference });
  } catch (e) {
    if (!(e instanceof FerryError) || e.code === ErrorCode.Aborted) throw e;
    throw new FerryError(ErrorCode.Config, `Error loading trust policy: ${e.message}`, { cause: e });
  }
}
