/** The `docker-archive` transport: `docker-archive:PATH[:{NAME:TAG|@N}]` (containers-transports(5)). */
import { FerryError, ErrorCode } from '../../errors.js';
import type { Transport } from '../../types/reference.js';
import { fullString, parseNormalizedName, withDefaultTag } from '../../reference/name.js';
import { DockerArchiveReference } from './reference.js';

function invalid(rest: string, why: string): FerryError {
  return new FerryError(ErrorCode.InvalidReference, `invalid reference "docker-archive:${rest}": ${why}`);
}

/**
 * Parses what follows `docker-archive:` like containers/image: split at the first `:` into the archive
 * path and an optional part that is either `@N` (zero-based position in `manifest.json`, sources only)
 * or a docker reference (normalized, `latest` added when untagged; digests are refused).
 */
export function parseDockerArchiveReference(rest: string): DockerArchiveReference {
  const colon = rest.indexOf(':');
  const path = colon === -1 ? rest : rest.slice(0, colon);
  const part = colon === -1 ? undefined : rest.slice(colon + 1);
  if (path === '') throw invalid(rest, 'the archive path is empty');
  if (part === undefined || part === '') return new DockerArchiveReference(path);
  if (part.startsWith('@')) {
    const n = part.slice(1);
    if (!/^[0-9]+$/.test(n) || !Number.isSafeInteger(Number(n))) {
      throw invalid(rest, `invalid source index "${part}": expected @ and a non-negative integer`);
    }
    return new DockerArchiveReference(path, { sourceIndex: Number(n) });
  }
  let name;
  try {
    name = withDefaultTag(parseNormalizedName(part));
  } catch (e) {
    throw invalid(rest, e instanceof Error ? e.message : String(e));
  }
  if (name.digest !== undefined) throw invalid(rest, `docker-archive references cannot contain a digest (${fullString(name)})`);
  return new DockerArchiveReference(path, { name });
}

/** The `docker-archive` transport (`docker save` tar files). */
export const dockerArchiveTransport: Transport = Object.freeze({
  name: 'docker-archive',
  completion: { paths: true },
  archiveOptions: { since: false, split: true },
  parseReference: parseDockerArchiveReference,
  /** None: as containers/image, `docker-archive` has only the default scope `""`. */
  validatePolicyScope(scope: string): void {
    throw new FerryError(ErrorCode.Config, `invalid docker-archive scope ${JSON.stringify(scope)}: docker-archive supports no scopes except the default ""`);
  },
});
