/**
 * Hand-written to select exactly the tags the Masterminds semver library selects.
 *
 * Semantic versions and constraints for `images-by-semver` (newer skopeo; the rules of the Masterminds
 * semver library it uses): tags are read leniently (`v1.2`, `1.2` = 1.2.0); constraints are `||`-separated
 * alternatives of comma- or space-separated conditions with `=`, `!=`, `>`, `<`, `>=`, `<=`, `~`, `~>`, `^`,
 * wildcards (`1.2.x`, `*`; missing parts count as wildcards) and hyphen ranges (`1.2 - 1.4.5`).
 * A tag with a pre-release (`1.2.3-rc1`) matches only conditions that themselves name a pre-release.
 */

/** A parsed version. */
export interface SemverVersion {
  major: number;
  minor: number;
  patch: number;
  /** Pre-release identifiers (empty for a release). */
  pre: string[];
}

/** A parsed constraint: true when a version satisfies it. */
export type SemverConstraint = (v: SemverVersion) => boolean;

const VERSION = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;

/** Parses a tag as a version, or undefined when it is not one. */
export function parseSemver(tag: string): SemverVersion | undefined {
  const m = VERSION.exec(tag);
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2] ?? 0), patch: Number(m[3] ?? 0), pre: m[4] ? m[4].split('.') : [] };
}

/** Orders versions (pre-releases before their release, identifiers compared as semver 2.0 says). */
export function compareSemver(a: SemverVersion, b: SemverVersion): number {
  for (const k of ['major', 'minor', 'patch'] as const) if (a[k] !== b[k]) return a[k] < b[k] ? -1 : 1;
  if (a.pre.length === 0 || b.pre.length === 0) return Math.sign(b.pre.length - a.pre.length);
  for (let i = 0; i < Math.max(a.pre.length, b.pre.length); i++) {
    const x = a.pre[i];
    const y = b.pre[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    if (x === y) continue;
    const xn = /^\d+$/.test(x);
    const yn = /^\d+$/.test(y);
    if (xn && yn) return Number(x) < Number(y) ? -1 : 1;
    if (xn !== yn) return xn ? -1 : 1;
    return x < y ? -1 : 1;
  }
  return 0;
}

const isX = (s: string | undefined) => s === 'x' || s === 'X' || s === '*';
const PART = '(\\d+|[xX*])';
const COND = new RegExp(`^(!=|>=|=>|<=|=<|~>|[=><~^])?\\s*v?${PART}(?:\\.${PART})?(?:\\.${PART})?(?:-([0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*))?(?:\\+[0-9A-Za-z.-]+)?$`);

interface Cond {
  op: string;
  v: SemverVersion;
  /** How many leading parts were given as numbers (0–3); the rest are wildcards. */
  fixed: number;
}

function parseCond(text: string): Cond {
  const m = COND.exec(text);
  if (!m) throw new Error(`"${text}" is not a version condition`);
  const parts = [m[2], m[3], m[4]];
  let fixed = 0;
  while (fixed < 3 && parts[fixed] !== undefined && !isX(parts[fixed])) fixed++;
  if (parts.slice(fixed).some((p) => p !== undefined && !isX(p))) throw new Error(`"${text}": a number after a wildcard`);
  const num = (i: number) => (i < fixed ? Number(parts[i]) : 0);
  const op = { '=>': '>=', '=<': '<=', '~>': '~' }[m[1] ?? ''] ?? m[1] ?? '=';
  return { op, v: { major: num(0), minor: num(1), patch: num(2), pre: m[5] ? m[5].split('.') : [] }, fixed };
}

/** The first version above the wildcard range of `c` (`1.2.x` → 1.3.0). */
function bump(c: Cond, level: number): SemverVersion {
  const { major, minor } = c.v;
  if (level <= 0) return { major: major + 1, minor: 0, patch: 0, pre: [] };
  if (level === 1) return { major, minor: minor + 1, patch: 0, pre: [] };
  return { major, minor, patch: c.v.patch + 1, pre: [] };
}

function check(c: Cond, v: SemverVersion): boolean {
  if (v.pre.length > 0 && c.v.pre.length === 0) return false;
  const cmp = compareSemver(v, c.v);
  const inRange = (lo: SemverVersion, hi: SemverVersion) => compareSemver(v, lo) >= 0 && compareSemver(v, hi) < 0;
  const wildcardHigh = c.fixed < 3 ? bump(c, c.fixed - 1) : undefined;
  switch (c.op) {
    case '=':
      return c.fixed === 0 ? true : wildcardHigh ? inRange(c.v, wildcardHigh) : cmp === 0;
    case '!=':
      return c.fixed === 0 ? false : wildcardHigh ? !inRange(c.v, wildcardHigh) : cmp !== 0;
    case '>':
      return wildcardHigh ? (c.fixed === 0 ? false : compareSemver(v, wildcardHigh) >= 0) : cmp > 0;
    case '>=':
      return cmp >= 0;
    case '<':
      return cmp < 0;
    case '<=':
      return wildcardHigh ? (c.fixed === 0 ? true : compareSemver(v, wildcardHigh) < 0) : cmp <= 0;
    case '~':
      // ~1.2.3 and ~1.2: same minor; ~1: same major
      return cmp >= 0 && compareSemver(v, bump(c, c.fixed <= 1 ? 0 : 1)) < 0;
    case '^': {
      if (cmp < 0) return false;
      // ^1.2.3 → <2.0.0; ^0.2.3 → <0.3.0; ^0.0.3 → <0.0.4; ^0 → <1.0.0; ^0.0 → <0.1.0
      let level = 0;
      if (c.v.major === 0 && c.fixed >= 2) level = c.v.minor === 0 && c.fixed === 3 ? 2 : 1;
      return compareSemver(v, bump(c, level)) < 0;
    }
  }
  return false;
}

/**
 * Parses a constraint such as `>= 1.2, < 2`, `~1.4 || ^2.0`, `1.2 - 1.4.5`.
 * @throws Error naming the part that does not parse.
 */
export function parseSemverConstraint(text: string): SemverConstraint {
  const alternatives = text.split('||').map((alt) => {
    let s = alt.trim();
    if (s === '') throw new Error('empty constraint');
    // hyphen ranges: "A - B" means ">= A, <= B"
    s = s.replace(/(\S+)\s+-\s+(\S+)/g, '>=$1, <=$2');
    // "> 1.2" → ">1.2", then split on commas and spaces
    s = s.replace(/(!=|>=|=>|<=|=<|~>|[=><~^])\s+/g, '$1');
    const conds = s.split(/[\s,]+/).filter((p) => p !== '').map(parseCond);
    return (v: SemverVersion) => conds.every((c) => check(c, v));
  });
  return (v) => alternatives.some((a) => a(v));
}
