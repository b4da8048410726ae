/**
 * The `docker-daemon` transport: `docker-daemon:NAME:TAG` or `docker-daemon:sha256:ID` (containers-transports(5)),
 * an image in a Docker engine, read and written through its API as a `docker save` archive.
 */
import { FerryError, ErrorCode } from '../../errors.js';
import type { Transport } from '../../types/reference.js';
import { familiarString, parseNormalizedName } from '../../reference/name.js';
import { DockerDaemonReference } from './reference.js';

function invalid(rest: string, why: string): FerryError {
  return new FerryError(ErrorCode.InvalidReference, `invalid reference "docker-daemon:${rest}": ${why}`);
}

/**
 * Parses what follows `docker-daemon:` as containers/image does: a `sha256:` + 64 hex image ID, or a docker
 * reference with a tag or a digest (not both, not neither); other digest algorithms and the repository name
 * `sha256` are refused as ambiguous.
 */
export function parseDockerDaemonReference(rest: string): DockerDaemonReference {
  const id = /^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-fA-F0-9]{32,})$/.exec(rest);
  if (id) {
    if (id[1] !== 'sha256' || !/^[a-f0-9]{64}$/.test(id[2]!)) throw invalid(rest, 'only sha256 image IDs (64 hexadecimal digits) are accepted');
    return new DockerDaemonReference({ id: rest });
  }
  let name;
  try {
    name = parseNormalizedName(rest);
  } catch (e) {
    throw invalid(rest, e instanceof Error ? e.message : String(e));
  }
  if (familiarString({ domain: name.domain, path: name.path }) === 'sha256') {
    throw invalid(rest, 'the sha256 repository name is reserved for image IDs (sha256:64 hexadecimal digits)');
  }
  if (name.tag === undefined && name.digest === undefined) throw invalid(rest, 'the reference has neither a tag nor a digest');
  if (name.tag !== undefined && name.digest !== undefined) throw invalid(rest, 'references with both a tag and a digest are not supported');
  return new DockerDaemonReference({ name });
}

/** The `docker-daemon` transport. */
export const dockerDaemonTransport: Transport = Object.freeze({
  name: 'docker-daemon',
  parseReference: parseDockerDaemonReference,
  /** None: an image can be named by its ID as well as by a name, so only the default scope `""` applies (containers/image). */
  validatePolicyScope(scope: string): void {
    throw new FerryError(ErrorCode.Config, `invalid docker-daemon scope ${JSON.stringify(scope)}: docker-daemon supports no scopes except the default ""`);
  },
});
