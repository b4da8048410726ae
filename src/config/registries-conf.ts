/**
 * registries.conf (containers-registries.conf(5), version 2, with version 1 read for compatibility):
 * search registries, per-prefix `location` rewrites, `insecure`, `blocked` and mirrors.
 */
import { readdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { FerryError, ErrorCode } from '../errors.js';
import type { SystemContext, OpOptions } from '../types/context.js';
import type { TomlTable, TomlValue } from './toml.js';
import { memoizedPerContext } from '../util/context-memo.js';
import { readBoundedFile } from '../util/bounded-read.js';

/** When a mirror may be used: always, only for pulls by digest, or only for pulls by tag. */
export type PullFromMirror = 'all' | 'digest-only' | 'tag-only';

/** One `[[registry.mirror]]` table. */
export interface MirrorConfig {
  location: string;
  insecure: boolean;
  pullFromMirror: PullFromMirror;
}

/** One `[[registry]]` table, normalized. */
export interface RegistryConfig {
  /** Prefix of logical image names this entry applies to (`host[:port][/ns…]` or `*.host`). */
  prefix: string;
  /** Physical location replacing the prefix; equal to prefix unless rewritten ('' for a wildcard prefix: no rewrite). */
  location: string;
  insecure: boolean;
  blocked: boolean;
  mirrors: MirrorConfig[];
  /** The legacy `mirror-by-digest-only` flag of the registry. */
  mirrorByDigestOnly: boolean;
}

/** The merged configuration. */
export interface RegistriesConf {
  unqualifiedSearchRegistries: string[];
  registries: RegistryConfig[];
  /** `[aliases]` short name → fully-qualified name (drop-ins may erase one with ""). */
  aliases: Record<string, string>;
  shortNameMode?: string;
  /**
   * `credential-helpers`: where credentials are looked up and stored, in order — `containers-auth.json` for the auth
   * files, any other NAME for the program `docker-credential-NAME`. The last file that sets it wins; unset, it is
   * `["containers-auth.json"]` (see {@link AUTH_FILES_HELPER}).
   */
  credentialHelpers: string[];
  /** Files that were read, in order. */
  files: string[];
}

/** The `credential-helpers` entry that stands for the auth files (containers-auth.json(5)) rather than a program. */
export const AUTH_FILES_HELPER = 'containers-auth.json';

/** A place to pull an image from: a mirror or the primary location, with the rewritten name. */
export interface PullSource {
  /** Registry host[:port] to contact. */
  host: string;
  /** Repository path on that registry. */
  repository: string;
  insecure: boolean;
  /** True for mirrors (false for the primary location). */
  mirror: boolean;
}

const str = (v: TomlValue | undefined, what: string, file: string): string | undefined => {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new FerryError(ErrorCode.Config, `${file}: ${what} must be a string`);
  return v;
};
const bool = (v: TomlValue | undefined, what: string, file: string): boolean | undefined => {
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new FerryError(ErrorCode.Config, `${file}: ${what} must be true or false`);
  return v;
};
const strArray = (v: TomlValue | undefined, what: string, file: string): string[] | undefined => {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
    throw new FerryError(ErrorCode.Config, `${file}: ${what} must be an array of strings`);
  }
  return v as string[];
};
const tables = (v: TomlValue | undefined, what: string, file: string): TomlTable[] => {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'object' || Array.isArray(x))) {
    throw new FerryError(ErrorCode.Config, `${file}: ${what} must be an array of tables ([[${what}]])`);
  }
  return v as TomlTable[];
};

/** Strips a trailing `/` and validates a prefix or location. */
function normalizeLocation(s: string, what: string, file: string): string {
  const v = s.replace(/\/+$/, '');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(v)) {
    throw new FerryError(ErrorCode.Config, `${file}: ${what} "${s}" must not contain a URI scheme`);
  }
  return v;
}

/**
 * Parses one registries.conf file (already read) into a partial configuration. The TOML parser loads on the first
 * call: commands that never read a registries.conf do not load it.
 */
export async function parseRegistriesConf(text: string, file: string): Promise<Partial<Omit<RegistriesConf, 'files'>> & { registries: RegistryConfig[] }> {
  const { parseToml } = await import('./toml.js');
  const doc = parseToml(text, file);
  const out: Partial<RegistriesConf> & { registries: RegistryConfig[] } = { registries: [] };
  const v1 = doc['registries'];
  const search = strArray(doc['unqualified-search-registries'], 'unqualified-search-registries', file);
  if (v1 !== undefined) {
    if (doc['registry'] !== undefined || search !== undefined) {
      throw new FerryError(ErrorCode.Config, `${file}: mixing the version 1 [registries.*] tables with version 2 settings is not supported`);
    }
    return parseV1(v1, file);
  }
  if (search) out.unqualifiedSearchRegistries = search;
  const helpers = strArray(doc['credential-helpers'], 'credential-helpers', file);
  if (helpers) {
    for (const h of helpers) {
      if (h === '' || h.includes('/')) throw new FerryError(ErrorCode.Config, `${file}: credential-helpers: "${h}" is not a helper name`);
    }
    out.credentialHelpers = helpers;
  }
  const mode = str(doc['short-name-mode'], 'short-name-mode', file);
  if (mode !== undefined) {
    if (!['enforcing', 'permissive', 'disabled', ''].includes(mode)) {
      throw new FerryError(ErrorCode.Config, `${file}: invalid short-name-mode "${mode}"`);
    }
    out.shortNameMode = mode || undefined;
  }
  const aliases = doc['aliases'];
  if (aliases !== undefined) {
    if (typeof aliases !== 'object' || Array.isArray(aliases)) throw new FerryError(ErrorCode.Config, `${file}: [aliases] must be a table`);
    out.aliases = {};
    for (const [k, v] of Object.entries(aliases)) out.aliases[k] = str(v, `alias "${k}"`, file)!;
  }
  for (const [i, t] of tables(doc['registry'], 'registry', file).entries()) {
    const what = `[[registry]] #${i + 1}`;
    const rawLocation = str(t['location'], `${what} location`, file);
    const rawPrefix = str(t['prefix'], `${what} prefix`, file) ?? rawLocation;
    if (!rawPrefix) throw new FerryError(ErrorCode.Config, `${file}: ${what} needs a prefix or a location`);
    const prefix = normalizeLocation(rawPrefix, `${what} prefix`, file);
    const wildcard = prefix.startsWith('*.');
    if (prefix.includes('*') && (!wildcard || prefix.includes('/') || prefix.indexOf('*', 1) >= 0)) {
      throw new FerryError(ErrorCode.Config, `${file}: ${what} prefix "${rawPrefix}": a wildcard is only allowed as "*.host"`);
    }
    if (wildcard && rawLocation) {
      throw new FerryError(ErrorCode.Config, `${file}: ${what} prefix "${rawPrefix}": location must be empty for a wildcarded prefix`);
    }
    const mirrorByDigestOnly = bool(t['mirror-by-digest-only'], `${what} mirror-by-digest-only`, file) ?? false;
    const mirrors = tables(t['mirror'], 'registry.mirror', file).map((m, j): MirrorConfig => {
      const mwhat = `${what} mirror #${j + 1}`;
      const loc = str(m['location'], `${mwhat} location`, file);
      if (!loc) throw new FerryError(ErrorCode.Config, `${file}: ${mwhat} needs a location`);
      const pull = str(m['pull-from-mirror'], `${mwhat} pull-from-mirror`, file) ?? 'all';
      if (pull !== 'all' && pull !== 'digest-only' && pull !== 'tag-only') {
        throw new FerryError(ErrorCode.Config, `${file}: ${mwhat}: pull-from-mirror must be "all", "digest-only" or "tag-only"`);
      }
      if (mirrorByDigestOnly && pull !== 'all') {
        throw new FerryError(ErrorCode.Config, `${file}: ${mwhat}: pull-from-mirror cannot be combined with mirror-by-digest-only`);
      }
      return {
        location: normalizeLocation(loc, `${mwhat} location`, file),
        insecure: bool(m['insecure'], `${mwhat} insecure`, file) ?? false,
        pullFromMirror: mirrorByDigestOnly ? 'digest-only' : pull,
      };
    });
    out.registries.push({
      prefix,
      location: wildcard ? '' : normalizeLocation(rawLocation ?? prefix, `${what} location`, file),
      insecure: bool(t['insecure'], `${what} insecure`, file) ?? false,
      blocked: bool(t['blocked'], `${what} blocked`, file) ?? false,
      mirrors,
      mirrorByDigestOnly,
    });
  }
  return out;
}

/** Version 1: `[registries.search] registries = […]`, `[registries.insecure]`, `[registries.block]`. */
function parseV1(v1: TomlValue, file: string): Partial<RegistriesConf> & { registries: RegistryConfig[] } {
  if (typeof v1 !== 'object' || Array.isArray(v1)) throw new FerryError(ErrorCode.Config, `${file}: [registries] must be a table`);
  const list = (name: string) => {
    const t = v1[name];
    if (t === undefined) return [];
    if (typeof t !== 'object' || Array.isArray(t)) throw new FerryError(ErrorCode.Config, `${file}: [registries.${name}] must be a table`);
    return strArray(t['registries'], `registries.${name}.registries`, file) ?? [];
  };
  const byPrefix = new Map<string, RegistryConfig>();
  const get = (p: string) => {
    const prefix = normalizeLocation(p, 'registry', file);
    let r = byPrefix.get(prefix);
    if (!r) {
      r = { prefix, location: prefix, insecure: false, blocked: false, mirrors: [], mirrorByDigestOnly: false };
      byPrefix.set(prefix, r);
    }
    return r;
  };
  const search = list('search');
  for (const p of list('insecure')) get(p).insecure = true;
  for (const p of list('block')) get(p).blocked = true;
  return { unqualifiedSearchRegistries: search, registries: [...byPrefix.values()] };
}

/** Merges `later` over `base` as drop-ins do: same-prefix registries replaced, other settings overridden when set. */
function merge(base: RegistriesConf, later: Awaited<ReturnType<typeof parseRegistriesConf>>, file: string): void {
  base.files.push(file);
  if (later.unqualifiedSearchRegistries) base.unqualifiedSearchRegistries = later.unqualifiedSearchRegistries;
  if (later.shortNameMode !== undefined) base.shortNameMode = later.shortNameMode;
  if (later.credentialHelpers && later.credentialHelpers.length > 0) base.credentialHelpers = later.credentialHelpers;
  for (const [k, v] of Object.entries(later.aliases ?? {})) {
    if (v === '') delete base.aliases[k];
    else base.aliases[k] = v;
  }
  for (const r of later.registries) {
    const i = base.registries.findIndex((x) => x.prefix === r.prefix);
    if (i >= 0) base.registries[i] = r;
    else base.registries.push(r);
  }
}

async function readIfExists(path: string, signal?: AbortSignal): Promise<string | undefined> {
  try {
    return (await readBoundedFile(path, { signal, regularFile: true })).toString('utf8');
  } catch (e) {
    if (e instanceof FerryError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    if ((e as Error).name === 'AbortError') throw new FerryError(ErrorCode.Aborted, 'operation aborted', { cause: e });
    throw new FerryError(ErrorCode.Config, `reading ${path}: ${(e as Error).message}`, { cause: e });
  }
}

async function dropIns(dir: string): Promise<string[] | undefined> {
  try {
    return (await readdir(dir)).filter((f) => f.endsWith('.conf')).sort().map((f) => join(dir, f));
  } catch {
    return undefined;
  }
}

/**
 * Loads the effective registries.conf: `ctx.registriesConf`, else `$CONTAINERS_REGISTRIES_CONF` (an explicit file is
 * read alone), else `~/.config/containers/registries.conf` if it exists, else `/etc/containers/registries.conf`, then the
 * `*.conf` drop-ins of `~/.config/containers/registries.conf.d` if it exists, else `/etc/containers/registries.conf.d`,
 * in lexical order. Missing files are skipped silently.
 * @throws FerryError(E_CONFIG) for a file that does not parse.
 */
export async function loadRegistriesConf(ctx: SystemContext, opts: OpOptions = {}): Promise<RegistriesConf> {
  return readRegistriesConf(ctx, opts);
}

/**
 * {@link loadRegistriesConf}, read once per `ctx` (every client of one command shares the result; treat it as
 * read-only).
 */
export function registriesConfFor(ctx: SystemContext, opts: OpOptions = {}): Promise<RegistriesConf> {
  const key = `registries.conf\0${ctx.registriesConf ?? process.env['CONTAINERS_REGISTRIES_CONF'] ?? ''}\0${ctx.homeDir ?? ''}`;
  return memoizedPerContext(ctx, key, () => readRegistriesConf(ctx, opts));
}

async function readRegistriesConf(ctx: SystemContext, opts: OpOptions): Promise<RegistriesConf> {
  const conf: RegistriesConf = { unqualifiedSearchRegistries: [], registries: [], aliases: {}, credentialHelpers: [AUTH_FILES_HELPER], files: [] };
  const explicit = ctx.registriesConf ?? process.env['CONTAINERS_REGISTRIES_CONF'];
  const load = async (file: string) => {
    const text = await readIfExists(file, opts.signal);
    if (text !== undefined) merge(conf, await parseRegistriesConf(text, file), file);
  };
  if (explicit) {
    await load(explicit);
    return conf;
  }
  const home = ctx.homeDir ?? homedir();
  const userFile = join(home, '.config/containers/registries.conf');
  const userText = await readIfExists(userFile, opts.signal);
  if (userText !== undefined) merge(conf, await parseRegistriesConf(userText, userFile), userFile);
  else await load('/etc/containers/registries.conf');
  const dir = (await dropIns(join(home, '.config/containers/registries.conf.d'))) ?? (await dropIns('/etc/containers/registries.conf.d')) ?? [];
  for (const f of dir) await load(f);
  return conf;
}

/** The host part (up to the first `/`) of a name. */
const hostOf = (name: string) => {
  const i = name.indexOf('/');
  return i < 0 ? name : name.slice(0, i);
};

/**
 * Length of `prefix` matched by `name` (`host/path`, no tag), or -1. A wildcard `*.example.com` matches any subdomain
 * host; other prefixes must be followed in the name by `/`, `:`, `@` or the end.
 */
export function prefixMatchLength(name: string, prefix: string): number {
  if (prefix.startsWith('*.')) {
    const host = hostOf(name).replace(/:\d+$/, '');
    return host.endsWith(prefix.slice(1)) && host.length > prefix.length - 1 ? hostOf(name).length : -1;
  }
  if (name === prefix) return prefix.length;
  if (!name.startsWith(prefix)) return -1;
  const c = name[prefix.length];
  return c === '/' || c === ':' || c === '@' ? prefix.length : -1;
}

/** The `[[registry]]` entry with the longest prefix matching `name` (`host/path`), if any. */
export function findRegistry(conf: RegistriesConf, name: string): { registry: RegistryConfig; matched: number } | undefined {
  let best: { registry: RegistryConfig; matched: number; wildcard: boolean } | undefined;
  for (const r of conf.registries) {
    const n = prefixMatchLength(name, r.prefix);
    if (n < 0) continue;
    const wildcard = r.prefix.startsWith('*.');
    // Longest prefix wins; an exact prefix beats a wildcard of the same length.
    const len = wildcard ? r.prefix.length - 1 : r.prefix.length;
    const bestLen = best ? (best.wildcard ? best.registry.prefix.length - 1 : best.registry.prefix.length) : -1;
    if (!best || len > bestLen || (len === bestLen && best.wildcard && !wildcard)) best = { registry: r, matched: n, wildcard };
  }
  return best && { registry: best.registry, matched: best.matched };
}

const split = (name: string): { host: string; repository: string } => {
  const i = name.indexOf('/');
  return i < 0 ? { host: name, repository: '' } : { host: name.slice(0, i), repository: name.slice(i + 1) };
};

/**
 * Where to pull `domain/path` from, in order: the eligible mirrors, then the (possibly rewritten) primary location.
 * @param byDigest whether the pull is by digest (decides which mirrors apply).
 * @throws FerryError(E_DENIED) if the matching registry is blocked.
 */
export function pullSources(conf: RegistriesConf, domain: string, path: string, byDigest: boolean): PullSource[] {
  const name = `${domain}/${path}`;
  const found = findRegistry(conf, name);
  if (!found) return [{ ...split(name), insecure: false, mirror: false }];
  const { registry: r, matched } = found;
  if (r.blocked) throw new FerryError(ErrorCode.Denied, `registry ${domain} is blocked in registries.conf (prefix "${r.prefix}")`);
  const rest = name.slice(matched);
  const sources: PullSource[] = [];
  for (const m of r.mirrors) {
    if (m.pullFromMirror === 'digest-only' && !byDigest) continue;
    if (m.pullFromMirror === 'tag-only' && byDigest) continue;
    sources.push({ ...split(m.location + rest), insecure: m.insecure, mirror: true });
  }
  sources.push({ ...split(r.location ? r.location + rest : name), insecure: r.insecure, mirror: false });
  return sources;
}

/**
 * The primary location only (for pushes, deletes and tag lists): `domain/path` without location rewrites, with the
 * matching entry's `insecure` flag.
 * @throws FerryError(E_DENIED) if the matching registry is blocked.
 */
export function primarySource(conf: RegistriesConf, domain: string, path: string, rewrite: boolean): PullSource {
  const name = `${domain}/${path}`;
  const found = findRegistry(conf, name);
  if (!found) return { ...split(name), insecure: false, mirror: false };
  const { registry: r, matched } = found;
  if (r.blocked) throw new FerryError(ErrorCode.Denied, `registry ${domain} is blocked in registries.conf (prefix "${r.prefix}")`);
  const physical = rewrite && r.location ? r.location + name.slice(matched) : name;
  return { ...split(physical), insecure: r.insecure, mirror: false };
}
