/**
 * The hostile-path check every reader of tar entry names applies before a name is used as a path: a name is a
 * sequence of `/`-separated components inside the archive's root, never absolute, never `..`, never with a NUL.
 */

/** Why a name is refused, in words each caller puts into its own error. */
export type TarPathProblem = 'absolute' | 'dotdot' | 'nul';

/**
 * The clean components of a tar entry name (`./a//b/` → `['a', 'b']`; `[]` for the root itself).
 * @param refuse builds the error thrown for a hostile name.
 */
export function tarPathParts(name: string, refuse: (problem: TarPathProblem) => Error): string[] {
  if (name.startsWith('/')) throw refuse('absolute');
  const parts: string[] = [];
  for (const p of name.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') throw refuse('dotdot');
    if (p.includes('\0')) throw refuse('nul');
    parts.push(p);
  }
  return parts;
}
