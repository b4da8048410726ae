/**
 * `--include` / `--exclude` (and the `include:` / `exclude:` lists of a YAML registry entry): which repositories
 * and images of a registry source a sync takes.
 *
 * A pattern is matched against names as the registry knows them, without the host: the repository path
 * (`team/app`; on Docker Hub `library/busybox`) and, for an image named by tag, `REPO:TAG` (`team/app:1.0`).
 *
 * - a glob without `:` matches the repository path: `*` any run of characters but `/`, `?` one character but `/`,
 *   `**` any run of characters including `/` (followed by `/`, also nothing at all: `**` + `/app` matches `app`);
 * - a glob with `:` matches `REPO:TAG`: the part before the `:` the repository path, the part after it the tag;
 * - `regex:RE` is a regular expression that must match the whole repository path or the whole `REPO:TAG`.
 *
 * An image is taken when no exclude pattern matches it and, if there are include patterns, one of them does:
 * exclude wins. An image named by digest only has a repository path to match.
 */
import { FerryError, ErrorCode } from '../errors.js';

/** One compiled pattern. */
type Pattern =
  | { kind: 'repo'; source: string; re: RegExp }
  | { kind: 'image'; source: string; repo: RegExp; tag: RegExp }
  | { kind: 'regex'; source: string; re: RegExp };

const GLOB_CHARS = /^[A-Za-z0-9._\-/*?:]+$/;

/**
 * Compiles one pattern.
 * @throws FerryError(E_USAGE) naming the pattern and what is wrong with it.
 */
export function compilePattern(source: string): Pattern {
  const bad = (why: string) => new FerryError(ErrorCode.Usage, `invalid pattern "${source}": ${why}`);
  if (source.startsWith('regex:')) {
    let body = source.slice('regex:'.length);
    if (body === '') throw bad('the regular expression is empty');
    let flags = '';
    const m = /^\(\?([is]+)\)/.exec(body);
    if (m) {
      flags = [...new Set(m[1]!)].join('');
      body = body.slice(m[0].length);
    }
    try {
      return { kind: 'regex', source, re: new RegExp(`^(?:${body})$`, flags) };
    } catch (e) {
      throw bad((e as Error).message);
    }
  }
  if (source === '') throw bad('it is empty');
  if (!GLOB_CHARS.test(source)) throw bad('a glob may hold only letters, digits, ".", "_", "-", "/", ":", "*" and "?" (write regex:… for a regular expression)');
  const colon = source.indexOf(':');
  if (colon < 0) return { kind: 'repo', source, re: globRegExp(source, false) };
  if (source.indexOf(':', colon + 1) >= 0) throw bad('it has more than one ":" (REPO:TAG has one)');
  const repo = source.slice(0, colon);
  const tag = source.slice(colon + 1);
  if (repo === '' || tag === '') throw bad('REPO:TAG needs both parts (write *:TAG or REPO:*)');
  if (tag.includes('/')) throw bad('a tag has no "/"');
  return { kind: 'image', source, repo: globRegExp(repo, false), tag: globRegExp(tag, true) };
}

/** The full-match regular expression of a glob; in a tag `**` is the same as `*`. */
function globRegExp(glob: string, tag: boolean): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      i++;
      if (!tag && glob[i + 1] === '/') {
        i++;
        out += '(?:.*/)?';
      } else out += '.*';
    } else if (c === '*') out += tag ? '.*' : '[^/]*';
    else if (c === '?') out += tag ? '.' : '[^/]';
    else out += c.replace(/[.\-/]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}

function matchesRepo(p: Pattern, repo: string): boolean {
  return p.kind !== 'image' && p.re.test(repo);
}

function matchesImage(p: Pattern, repo: string, tag: string | undefined): boolean {
  if (matchesRepo(p, repo)) return true;
  if (tag === undefined) return false;
  if (p.kind === 'image') return p.repo.test(repo) && p.tag.test(tag);
  return p.kind === 'regex' && p.re.test(`${repo}:${tag}`);
}

/** One list of include and one of exclude patterns. */
interface PatternSet {
  include: Pattern[];
  exclude: Pattern[];
}

function mayTake(set: PatternSet, repo: string): boolean {
  if (set.exclude.some((p) => matchesRepo(p, repo))) return false;
  if (set.include.length === 0) return true;
  // a regular expression might match REPO:TAG for some tag: the tags must be listed to know
  return set.include.some((p) => (p.kind === 'image' ? p.repo.test(repo) : p.kind === 'regex' || p.re.test(repo)));
}

function takes(set: PatternSet, repo: string, tag: string | undefined): boolean {
  if (set.exclude.some((p) => matchesImage(p, repo, tag))) return false;
  return set.include.length === 0 || set.include.some((p) => matchesImage(p, repo, tag));
}

/** Include and exclude patterns; several sets of them (the command line's and a YAML entry's) must all take an image. */
export class ImageFilter {
  private constructor(private readonly sets: readonly PatternSet[]) {}

  /** A filter that takes everything. */
  static readonly all = new ImageFilter([]);

  /**
   * Compiles the patterns.
   * @throws FerryError(E_USAGE) for an invalid pattern (see {@link compilePattern}).
   */
  static parse(include: readonly string[], exclude: readonly string[]): ImageFilter {
    if (include.length === 0 && exclude.length === 0) return ImageFilter.all;
    return new ImageFilter([{ include: include.map(compilePattern), exclude: exclude.map(compilePattern) }]);
  }

  /** Whether the filter takes everything. */
  get isEmpty(): boolean {
    return this.sets.length === 0;
  }

  /**
   * Whether some image of repository `repo` (path without host) could be taken: false when an exclude pattern
   * matches the repository itself, or when no include pattern could match it or one of its images.
   */
  mayTakeRepository(repo: string): boolean {
    return this.sets.every((s) => mayTake(s, repo));
  }

  /** Whether the image `repo:tag` (`tag` undefined for an image named by digest) is taken. */
  takes(repo: string, tag: string | undefined): boolean {
    return this.sets.every((s) => takes(s, repo, tag));
  }

  /** What both filters take. */
  and(other: ImageFilter): ImageFilter {
    return new ImageFilter([...this.sets, ...other.sets]);
  }
}
