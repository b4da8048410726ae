/**
 * policy.json scopes of the path-based transports (containers-policy.json(5)), as containers/image resolves them
 * (`directory`, `oci/internal`): a scope is an absolute, clean path; an image's scopes are its resolved path, then
 * its parent directories.
 */
import { posix } from 'node:path';
import { FerryError, ErrorCode } from '../../errors.js';

function invalidScope(transport: string, scope: string, why: string): FerryError {
  return new FerryError(ErrorCode.Config, `invalid ${transport} scope ${JSON.stringify(scope)}: ${why}`);
}

/** Go's `filepath.Clean` for absolute POSIX paths: normalized, no trailing slash (except `/`). */
function cleanPath(p: string): string {
  const n = posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

/**
 * Checks a path scope: absolute, not `/` (that is what the default scope `""` is for), and in clean form.
 * @throws FerryError(E_CONFIG)
 */
export function validatePathScope(transport: string, scope: string): void {
  if (!scope.startsWith('/')) throw invalidScope(transport, scope, 'must be an absolute path');
  if (scope === '/') throw invalidScope(transport, scope, 'use the default scope "" instead');
  const cleaned = cleanPath(scope);
  if (cleaned !== scope) throw invalidScope(transport, scope, `not in canonical form, perhaps ${JSON.stringify(cleaned)}`);
}

/** `dir:`: the parent directories of `resolved`, nearest first, down to (not including) `/`. */
export function parentDirectoryScopes(resolved: string): string[] {
  const out: string[] = [];
  let p = resolved;
  for (;;) {
    const slash = p.lastIndexOf('/');
    if (slash <= 0) break;
    p = p.slice(0, slash);
    out.push(p);
  }
  return out;
}

/** `oci:` and `oci-archive:`: `resolved` itself, then its parent directories, down to (not including) `/`. */
export function pathAndParentScopes(resolved: string): string[] {
  return resolved === '/' || !resolved.includes('/') ? [] : [resolved, ...parentDirectoryScopes(resolved)];
}
