/** Path handling shared by the file-based transports (`oci:`, `dir:`, archives). */
import { realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

/**
 * The absolute path of `p` with symbolic links resolved as far as the path exists
 * (like containers/image's `explicitfilepath.ResolvePathToFullyExplicit`): an existing path is fully
 * resolved; for a missing one, its parent is resolved and the last component appended; if the parent
 * is missing too, the plain absolute path is returned. Used for policy identities.
 */
export function resolveExplicitPath(p: string): string {
  const abs = resolve(p);
  try {
    return realpathSync.native(abs);
  } catch {
    try {
      return join(realpathSync.native(dirname(abs)), basename(abs));
    } catch {
      return abs;
    }
  }
}
