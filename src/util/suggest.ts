/**
 * "Did you mean …?" for a mistyped command or flag: the closest known name by edit distance (insertions, deletions,
 * substitutions and swaps of two neighbouring letters), when it is close enough to be a typo.
 */

/** Edit distance between `a` and `b`, a swap of two neighbouring characters counting as one edit. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The candidate closest to `word`, if it is within a typo's reach: at most 2 edits, and fewer than a third of the
 * word's length for short words (so `-x` suggests nothing); else the only candidate that starts with `word` (an
 * abbreviation of at least 3 characters, `--tls` for `--tls-verify`).
 */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const names = [...candidates].filter((name) => name !== word);
  const limit = Math.min(2, Math.max(1, Math.floor(word.length / 3)));
  let best: { name: string; dist: number } | undefined;
  for (const name of names) {
    const dist = editDistance(word, name);
    if (dist <= limit && (best === undefined || dist < best.dist)) best = { name, dist };
  }
  if (best !== undefined) return best.name;
  const longer = word.length >= 3 ? names.filter((name) => name.startsWith(word)) : [];
  return longer.length === 1 ? longer[0] : undefined;
}
