/**
 * The YAML source file of `sync --src yaml`, in skopeo's format (skopeo-sync(1)):
 *
 * ```yaml
 * registry.example.com:
 *   images:
 *     busybox: []            # every tag
 *     redis: ["1.0", "2.0"]  # these tags (or digests)
 *   images-by-tag-regex:
 *     nginx: ^1\.13\.[12]-alpine-perl$
 *   images-by-semver:
 *     alpine: ">= 3.12"
 *   credentials:
 *     username: john
 *     password: secret
 *   tls-verify: false
 *   cert-dir: /home/john/certs
 *   include: ["team/*"]      # (ferry only) filters, as --include / --exclude (./filters.ts)
 *   exclude: ["**:*-rc*"]
 * ```
 *
 * Read as skopeo reads it (go-yaml v2 into string fields, see ./yaml-tree.ts): flow mappings, anchors, aliases and
 * merge keys are fine, every value is text (`tls-verify` takes YAML 1.1's `true`/`yes`/`on` and `false`/`no`/`off`,
 * unquoted), and keys skopeo does not know are ignored, as skopeo ignores them (a registry left with no images at all
 * is a sync of nothing, as in skopeo) — with a warning naming each such key (and the known key a typo was probably
 * meant to be) and each registry without images, so that a misspelt `imagess:` is not a silent sync of nothing. Wrongly shaped values of known keys are errors (E_CONFIG with the line), as
 * are duplicate keys (go-yaml keeps the last; a duplicated registry would silently lose images). YAML syntax errors
 * and invalid filter patterns are named with their column too (`FILE:LINE:COLUMN:`).
 */
import { FerryError, ErrorCode } from '../errors.js';
import type { OpOptions } from '../types/context.js';
import { parseSemverConstraint, type SemverConstraint } from './semver.js';
import { parseYaml, type YamlMap, type YamlNode } from './yaml-tree.js';
import { readBoundedFile } from '../util/bounded-read.js';
import { ImageFilter, compilePattern } from './filters.js';
import { closest } from '../util/suggest.js';

/** The keys of a registry entry. */
const REGISTRY_KEYS = ['images', 'images-by-tag-regex', 'images-by-semver', 'credentials', 'tls-verify', 'cert-dir', 'include', 'exclude'];

/** Reading options: where warnings about the file go (`FILE:LINE: what`). */
export interface SyncConfigOptions {
  onWarning?: (message: string) => void;
}

/** Images of one repository named by tag or digest (empty `refs`: every tag of the repository). */
export interface RepoRefs {
  repo: string;
  refs: string[];
  line: number;
}

/** Tags of one repository matching a regular expression (Go's `MatchString`: anywhere in the tag unless anchored). */
export interface RepoTagRegex {
  repo: string;
  pattern: RegExp;
  line: number;
}

/** Tags of one repository that are semantic versions satisfying a constraint. */
export interface RepoSemver {
  repo: string;
  constraint: SemverConstraint;
  line: number;
}

/** One registry entry of the file. */
export interface RegistrySyncConfig {
  /** The top-level key: a registry host, optionally with a namespace (`quay.io/team`). */
  registry: string;
  line: number;
  images: RepoRefs[];
  imagesByTagRegex: RepoTagRegex[];
  imagesBySemver: RepoSemver[];
  credentials?: { username: string; password: string };
  tlsVerify?: boolean;
  certDir?: string;
  /** (ferry only) The entry's `include:` / `exclude:` patterns; undefined when it has neither. */
  filter?: ImageFilter;
}

/** Largest sync file read (4 MiB, like the other configuration and JSON reads). */
export const MAX_SYNC_FILE_SIZE = 4 << 20;

/**
 * Reads and validates a sync YAML file (at most {@link MAX_SYNC_FILE_SIZE} bytes).
 * @throws FerryError(E_NOT_FOUND) when the file does not exist, E_IO when it cannot be read,
 *         E_CONFIG `FILE:LINE: what is wrong` when it is not valid or too large.
 */
export async function readSyncConfig(file: string, opts: OpOptions & SyncConfigOptions = {}): Promise<RegistrySyncConfig[]> {
  let text: string;
  try {
    text = (await readBoundedFile(file, { what: `sync source file ${file}`, limit: MAX_SYNC_FILE_SIZE, signal: opts.signal, regularFile: true })).toString('utf8');
  } catch (e) {
    if (e instanceof FerryError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new FerryError(ErrorCode.NotFound, `sync source file ${file} does not exist`, { cause: e });
    throw new FerryError(ErrorCode.Io, `reading sync source file ${file}: ${(e as Error).message}`, { cause: e });
  }
  return parseSyncConfig(text, file, opts);
}

/**
 * Validates parsed YAML text as a sync source file; registries in file order.
 * @throws FerryError(E_CONFIG) `FILE:LINE: what is wrong`.
 */
export function parseSyncConfig(text: string, file = '<yaml>', opts: SyncConfigOptions = {}): RegistrySyncConfig[] {
  const warn = (line: number, msg: string) => opts.onWarning?.(`${file}:${line}: ${msg}`);
  const fail = (line: number, msg: string): never => {
    throw new FerryError(ErrorCode.Config, `${file}:${line}: ${msg}`);
  };
  const root = parseYaml(text, file);
  if (root.kind === 'null') return [];
  const top = asMap(root, 'the file', fail);
  const out: RegistrySyncConfig[] = [];
  for (const [registry, { line, value }] of top.entries) {
    const cfg: RegistrySyncConfig = { registry, line, images: [], imagesByTagRegex: [], imagesBySemver: [] };
    if (value.kind === 'null') {
      warn(line, `no images specified for registry "${registry}"`);
      out.push(cfg);
      continue;
    }
    const body = asMap(value, `registry "${registry}"`, fail);
    const patterns: Record<'include' | 'exclude', string[]> = { include: [], exclude: [] };
    for (const [key, entry] of body.entries) {
      const v = entry.value;
      // keys skopeo does not know are ignored, as go-yaml ignores them for skopeo
      switch (key) {
        case 'images':
          for (const [repo, r] of repoMap(v, key, fail)) {
            const list = r.value;
            if (list.kind === 'null') {
              cfg.images.push({ repo, refs: [], line: r.line });
              continue;
            }
            if (list.kind !== 'seq') return fail(list.line, `images of "${repo}" must be a list of tags or digests`);
            const refs = list.items.map((it) => (it.kind === 'scalar' && it.value !== '' ? it.value : fail(it.line, `images of "${repo}": each item must be a tag or digest`)));
            cfg.images.push({ repo, refs, line: r.line });
          }
          break;
        case 'images-by-tag-regex':
          for (const [repo, r] of repoMap(v, key, fail)) {
            cfg.imagesByTagRegex.push({ repo, pattern: compileRegex(scalar(r.value, `the tag regex of "${repo}"`, fail), r.value.line, fail), line: r.line });
          }
          break;
        case 'images-by-semver':
          for (const [repo, r] of repoMap(v, key, fail)) {
            const text = scalar(r.value, `the semver constraint of "${repo}"`, fail);
            let constraint: SemverConstraint;
            try {
              constraint = parseSemverConstraint(text);
            } catch (e) {
              fail(r.value.line, `invalid semver constraint for "${repo}": ${(e as Error).message}`);
            }
            cfg.imagesBySemver.push({ repo, constraint: constraint!, line: r.line });
          }
          break;
        case 'credentials': {
          const m = asMap(v, 'credentials', fail);
          const username = m.entries.get('username');
          const password = m.entries.get('password');
          if (!username || !password) fail(entry.line, 'credentials need both username and password');
          // never echo the values: they are secrets
          cfg.credentials = { username: scalar(username!.value, 'credentials username', fail), password: scalar(password!.value, 'credentials password', fail) };
          break;
        }
        case 'tls-verify':
          cfg.tlsVerify = boolean(v, fail);
          break;
        case 'cert-dir':
          cfg.certDir = scalar(v, 'cert-dir', fail);
          break;
        case 'include':
        case 'exclude':
          patterns[key] = patternList(v, key, file, fail);
          break;
        default: {
          const near = closest(key, REGISTRY_KEYS);
          warn(entry.line, `unknown key "${key}" in registry "${registry}"${near !== undefined ? ` (did you mean "${near}"?)` : ''}, ignored`);
        }
      }
    }
    if (!body.entries.has('images') && !body.entries.has('images-by-tag-regex') && !body.entries.has('images-by-semver')) {
      warn(line, `no images specified for registry "${registry}"`);
    }
    if (patterns.include.length > 0 || patterns.exclude.length > 0) cfg.filter = ImageFilter.parse(patterns.include, patterns.exclude);
    out.push(cfg);
  }
  return out;
}

type Fail = (line: number, msg: string) => never;

function asMap(n: YamlNode, what: string, fail: Fail): YamlMap {
  if (n.kind === 'map') return n;
  return fail(n.line, `${what} must be a mapping of "key: value" lines`);
}

function repoMap(n: YamlNode, key: string, fail: Fail): Map<string, { line: number; value: YamlNode }> {
  if (n.kind === 'null') return new Map();
  return asMap(n, `"${key}"`, fail).entries;
}

function scalar(n: YamlNode, what: string, fail: Fail): string {
  if (n.kind === 'scalar') return n.value;
  return fail(n.line, `${what} must be a single value`);
}

/** An `include:` / `exclude:` list (or one pattern), each pattern checked where it is written. */
function patternList(n: YamlNode, key: string, file: string, fail: Fail): string[] {
  if (n.kind === 'null') return [];
  const items = n.kind === 'seq' ? n.items : [n];
  return items.map((it) => {
    if (it.kind !== 'scalar' || it.value === '') return fail(it.line, `each item of ${key} must be a pattern`);
    try {
      compilePattern(it.value);
    } catch (e) {
      throw new FerryError(ErrorCode.Config, `${file}:${it.line}:${it.column}: ${key}: ${(e as Error).message}`, { cause: e });
    }
    return it.value;
  });
}

function boolean(n: YamlNode, fail: Fail): boolean {
  if (n.kind === 'scalar' && !n.quoted) {
    const v = n.value.toLowerCase();
    if (v === 'true' || v === 'yes' || v === 'on') return true;
    if (v === 'false' || v === 'no' || v === 'off') return false;
  }
  return fail(n.line, 'tls-verify must be true or false');
}

/** Compiles a Go (RE2) regular expression the way JavaScript can run it: a leading `(?flags)` becomes flags. */
function compileRegex(source: string, line: number, fail: Fail): RegExp {
  let body = source;
  let flags = '';
  const m = /^\(\?([ims]+)\)/.exec(body);
  if (m) {
    flags = [...new Set(m[1]!)].join('');
    body = body.slice(m[0].length);
  }
  try {
    return new RegExp(body, flags);
  } catch (e) {
    return fail(line, `invalid tag regex "${source}": ${(e as Error).message}`);
  }
}
