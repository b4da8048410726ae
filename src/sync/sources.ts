/**
 * What `sync` copies: the SOURCE argument turned into groups of images ("sources" in skopeo's final count).
 *
 * - `docker`: a repository (one group: every tag the registry lists), one image (`repo:tag`, `repo@digest`), or a
 *   registry or namespace (`HOST`, `HOST/NS/`: one group per repository its catalog lists, see ./catalog-source.ts);
 * - `dir`: every `dir:` image below a directory (a folder holding `manifest.json`; nothing below it is searched);
 * - `yaml`: one group per repository entry of a skopeo sync file (`images`, then `images-by-tag-regex`, then
 *   `images-by-semver`), each with the registry's own credentials and TLS settings.
 *
 * Groups list their images lazily ({@link SyncSourceGroup.list}), so a repository that cannot be listed is a
 * failure of that group (which `--keep-going` can step over), not of the whole file.
 *
 * Registry sources (`docker`, `yaml`) take only the repositories and images the {@link SyncSelection} takes: its
 * filters (./filters.ts) and its shard (./shard.ts). A repository left out is never listed.
 */
import type { Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { FerryError, ErrorCode } from '../errors.js';
import type { OpOptions, SystemContext } from '../types/context.js';
import type { ImageReference } from '../types/reference.js';
import { type DockerName, isValidTag, parseNormalizedName, repositoryString } from '../reference/name.js';
import { DockerReference } from '../transports/docker/reference.js';
import { dirTransport } from '../transports/dir/transport.js';
import { readSyncConfig, type RegistrySyncConfig, type SyncConfigOptions } from './config.js';
import { parseSemver } from './semver.js';
import { ImageFilter } from './filters.js';
import { shardTakes, type Shard } from './shard.js';
import { catalogGroup, parseCatalogSource } from './catalog-source.js';

/** The kinds of SOURCE `sync` reads (`oci` and `oci-archive`: src/sync/archive-sources.ts). */
export type SyncSourceKind = 'docker' | 'dir' | 'yaml' | 'oci' | 'oci-archive';

/** One group of images to sync, read with one context. */
export interface SyncSourceGroup {
  /** What the group is, for messages: `127.0.0.1:5000/team/app`, `dir:/media/usb`. */
  readonly label: string;
  /** The source context for every image of the group. */
  readonly ctx: SystemContext;
  /** For `dir` sources: the base directory (destination names are relative to it). */
  readonly dirBase?: string;
  /**
   * The images of the group, in a stable order; may be empty for YAML entries (nothing matched).
   * @throws FerryError (E_NOT_FOUND for a repository or directory that does not exist; E_NOT_FOUND when there is nothing to sync).
   */
  list(opts?: OpOptions): Promise<ImageReference[]>;
  /** The name an image of the group goes by at the destination, when it has no docker name (an OCI ref name). */
  nameOf?(src: ImageReference): string | undefined;
  /**
   * The blobs an image of the group uses that its source leaves out and expects at the destination (an
   * incremental archive; src/sync/expected-blobs.ts), with the earlier archive that carried each.
   */
  expectedAtDestination?(src: ImageReference, opts?: OpOptions): Promise<{ digest: string; size: number; in: string }[]>;
  /**
   * For a group that lists a whole repository (every tag, or every tag a filter accepts): the repository
   * (`host/path`) and which of its tags the group speaks for. `sync --prune` deletes destination tags only there
   * (src/sync/prune.ts); a group without it never causes a deletion.
   */
  readonly pruneScope?: { repository: string; covers(tag: string): boolean };
  /** Removes what listing left (an unpacked archive); called once the sync is over. */
  close?(): Promise<void>;
  /**
   * For a group that stands for many (a registry's catalog): its groups, one at a time as they are found. A sync
   * lists and copies each before the next is found; `list` gives all their images at once.
   * @throws FerryError as `list` does, for the whole group (the groups already given stand).
   */
  expand?(opts?: OpOptions): AsyncIterable<SyncSourceGroup>;
}

/** Which repositories and images of registry sources a sync takes. */
export interface SyncSelection {
  /** `--include` / `--exclude`. */
  filter?: ImageFilter;
  /** `--shard`. */
  shard?: Shard;
}

/**
 * A YAML entry, or part of one, that this run leaves out (`--shard`, `--include`/`--exclude`, the registry's
 * `include:`/`exclude:`) although it may write the same destination repositories as the entries the run syncs: a
 * run of another shard, or one without the filter, puts its images there. `sync --prune` must not delete them.
 */
export interface LeftOutSource {
  /** The source repository, `host/path`. */
  readonly repository: string;
  /** Why it is left out, for messages: `not in --shard 2/3`, `left out by the filters`. */
  readonly why: string;
  /**
   * The tags it would sync, when the configuration names them (an explicit tag list); undefined when only a
   * listing of the source repository could tell (an entry for a whole repository, a tag regex, a semver range).
   */
  readonly tags?: readonly string[];
}

/** A tag list filter of a YAML group. */
type TagFilter = (tag: string) => boolean;

/**
 * Turns SOURCE into groups of images.
 * @param ctx the source context from the command line (YAML entries override parts of it per registry).
 * @throws FerryError: E_INVALID_REFERENCE for a bad docker name, E_CONFIG for a bad YAML file, E_NOT_FOUND when the
 *         YAML file or the source directory does not exist.
 */
export async function syncSources(
  kind: SyncSourceKind,
  source: string,
  ctx: SystemContext,
  opts: OpOptions & SyncConfigOptions & { select?: SyncSelection; onLeftOut?: (l: LeftOutSource) => void } = {},
): Promise<SyncSourceGroup[]> {
  const select = opts.select ?? {};
  if ((kind !== 'docker' && kind !== 'yaml') && (select.shard || (select.filter && !select.filter.isEmpty))) {
    throw new FerryError(ErrorCode.Usage, `--include, --exclude and --shard apply to --src docker and --src yaml sources, not --src ${kind}`);
  }
  switch (kind) {
    case 'docker':
      return dockerGroups(source, ctx, select);
    case 'dir':
      return [await dirGroup(source, ctx)];
    case 'yaml':
      return yamlGroups(await readSyncConfig(source, opts), source, ctx, select, opts.onLeftOut ?? (() => undefined));
    case 'oci':
      return [(await import('./archive-sources.js')).ociLayoutGroup(source, ctx)];
    case 'oci-archive':
      return [(await import('./archive-sources.js')).ociArchiveGroup(source, ctx)];
  }
}

function dockerGroups(source: string, ctx: SystemContext, select: SyncSelection): SyncSourceGroup[] {
  const registry = parseCatalogSource(source);
  if (registry) return [catalogGroup(registry, ctx, (name) => (selects(name, select) ? repoGroup(name, ctx, acceptAll, false, select.filter) : undefined))];
  const name = parseNormalizedName(source);
  if (!selects(name, select)) return [];
  if (name.tag !== undefined || name.digest !== undefined) {
    const ref = new DockerReference(name);
    if (!(select.filter ?? ImageFilter.all).takes(name.path, name.tag)) return [];
    return [{ label: ref.dockerReference(), ctx, list: async () => [ref] }];
  }
  return [repoGroup(name, ctx, acceptAll, true, select.filter)];
}

/** Whether the selection may take images of the repository `name` (its shard, and a filter that may take some). */
function selects(name: DockerName, select: SyncSelection): boolean {
  return shardTakes(select.shard, repositoryString(name)) && (select.filter ?? ImageFilter.all).mayTakeRepository(name.path);
}

/**
 * Every tag of `repo` that `filter` and `images` accept.
 * @param emptyIsError whether a repository without tags is an error (E_NOT_FOUND) rather than a group with nothing to sync.
 */
function repoGroup(repo: DockerName, ctx: SystemContext, filter: TagFilter, emptyIsError: boolean, images: ImageFilter = ImageFilter.all): SyncSourceGroup {
  const label = repositoryString(repo);
  return {
    label,
    ctx,
    // the tags the group speaks for: those its own filter takes and --include/--exclude leave in (a tag the user
    // left out of the sync is not the sync's to delete). Here and in `list` a tag's grammar is checked before any
    // filter sees it: a user's regex runs on a registry's text only once it is a tag of at most 128 characters.
    pruneScope: { repository: label, covers: (tag) => isValidTag(tag) && filter(tag) && images.takes(repo.path, tag) },
    async list(opts: OpOptions = {}) {
      const { listDockerTags } = await import('../transports/docker/tags.js');
      let tags: string[];
      try {
        tags = await listDockerTags({ name: repo }, ctx, opts);
      } catch (e) {
        if (e instanceof FerryError) throw new FerryError(e.code, `listing the tags of ${repositoryString(repo)}: ${e.message}`, { cause: e });
        throw e;
      }
      const refs: ImageReference[] = [];
      let nameable = 0;
      for (const tag of tags) {
        if (!isValidTag(tag) || !filter(tag)) continue;
        let ref: DockerReference;
        try {
          ref = new DockerReference(parseNormalizedName(`${repositoryString(repo)}:${tag}`));
        } catch {
          continue; // a tag the registry lists but no reference can name: skipped, as skopeo does
        }
        nameable++;
        if (images.takes(repo.path, tag)) refs.push(ref);
      }
      if (nameable === 0 && emptyIsError) throw new FerryError(ErrorCode.NotFound, `no images to sync found in ${repositoryString(repo)}`);
      return refs;
    },
  };
}

const acceptAll: TagFilter = () => true;

async function dirGroup(source: string, ctx: SystemContext): Promise<SyncSourceGroup> {
  try {
    if (!(await stat(source)).isDirectory()) throw new FerryError(ErrorCode.InvalidReference, `sync source ${source} is not a directory`);
  } catch (e) {
    if (e instanceof FerryError) throw e;
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new FerryError(ErrorCode.NotFound, `sync source directory ${source} does not exist`, { cause: e });
    throw new FerryError(ErrorCode.Io, `reading sync source directory ${source}: ${(e as Error).message}`, { cause: e });
  }
  return {
    label: `dir:${source}`,
    ctx,
    dirBase: source,
    async list(opts: OpOptions = {}) {
      const dirs = await findDirImages(source, opts);
      if (dirs.length === 0) throw new FerryError(ErrorCode.NotFound, `no images to sync found in ${source}`);
      return dirs.map((d) => dirTransport.parseReference(d));
    },
  };
}

/**
 * Folders below `base` (and `base` itself) that hold a `manifest.json`, in lexical order; the search does not go
 * below an image, nor into ferry's staging folders.
 */
export async function findDirImages(base: string, opts: OpOptions = {}): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    if (opts.signal?.aborted) throw new FerryError(ErrorCode.Aborted, `searching ${base}: aborted`, { cause: opts.signal.reason });
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (e) {
      throw new FerryError(ErrorCode.Io, `reading directory ${dir}: ${(e as Error).message}`, { cause: e });
    }
    if (entries.some((e) => e.isFile() && e.name === 'manifest.json')) {
      out.push(dir);
      return;
    }
    const subdirs = entries.filter((e) => e.isDirectory() && !e.name.startsWith('.ferry-staging-')).map((e) => e.name).sort();
    for (const name of subdirs) await walk(path.join(dir, name));
  };
  await walk(base);
  return out;
}

/** Why `repo` is not taken at all by `select` (its shard, else the filters). */
function leftOutWhy(repo: DockerName, select: SyncSelection): string {
  const shard = select.shard;
  return shard !== undefined && !shardTakes(shard, repositoryString(repo)) ? `not in --shard ${shard.index}/${shard.count}` : 'left out by the filters';
}

/**
 * The groups of a YAML file. `leftOut` hears of every entry (or part of one) the selection leaves out: the entries
 * of other shards or that the filters skip, and the tags the filters take out of an entry.
 */
function yamlGroups(config: RegistrySyncConfig[], file: string, base: SystemContext, select: SyncSelection, leftOut: (l: LeftOutSource) => void): SyncSourceGroup[] {
  const groups: SyncSourceGroup[] = [];
  for (const reg of config) {
    const filter = (select.filter ?? ImageFilter.all).and(reg.filter ?? ImageFilter.all);
    const sel: SyncSelection = { shard: select.shard, filter };
    /** A whole-repository entry: left out, or with the tags the filters leave out (unknown without listing them). */
    const repoEntry = (repo: DockerName): boolean => {
      const repository = repositoryString(repo);
      if (!selects(repo, sel)) {
        leftOut({ repository, why: leftOutWhy(repo, sel) });
        return false;
      }
      if (!filter.isEmpty) leftOut({ repository, why: 'left out by the filters' });
      return true;
    };
    const ctx: SystemContext = { ...base };
    if (reg.certDir !== undefined) ctx.certDir = reg.certDir;
    if (reg.tlsVerify !== undefined) ctx.tlsVerify = reg.tlsVerify;
    if (reg.credentials) {
      ctx.credentials = reg.credentials;
      delete ctx.registryToken;
      delete ctx.noCreds;
    }
    const repoName = (repo: string, line: number): DockerName => {
      let n: DockerName;
      try {
        n = parseNormalizedName(`${reg.registry}/${repo}`);
      } catch (e) {
        throw new FerryError(ErrorCode.Config, `${file}:${line}: invalid repository "${reg.registry}/${repo}": ${(e as Error).message}`, { cause: e });
      }
      if (n.tag !== undefined || n.digest !== undefined) {
        throw new FerryError(ErrorCode.Config, `${file}:${line}: "${reg.registry}/${repo}" names an image, not a repository; list its tags under it`);
      }
      return n;
    };
    for (const entry of reg.images) {
      const repo = repoName(entry.repo, entry.line);
      if (entry.refs.length === 0) {
        if (repoEntry(repo)) groups.push(repoGroup(repo, ctx, acceptAll, false, filter));
        continue;
      }
      const refs = entry.refs.map((r) => {
        const isDigest = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}$/.test(r);
        try {
          return new DockerReference(parseNormalizedName(`${repositoryString(repo)}${isDigest ? '@' : ':'}${r}`));
        } catch (e) {
          throw new FerryError(ErrorCode.Config, `${file}:${entry.line}: invalid ${isDigest ? 'digest' : 'tag'} "${r}" for ${repositoryString(repo)}: ${(e as Error).message}`, { cause: e });
        }
      });
      const tagsOf = (list: DockerReference[]) => list.flatMap((r) => (r.name.tag !== undefined ? [r.name.tag] : []));
      if (!selects(repo, sel)) {
        leftOut({ repository: repositoryString(repo), why: leftOutWhy(repo, sel), tags: tagsOf(refs) });
        continue;
      }
      const taken = refs.filter((r) => filter.takes(repo.path, r.name.tag));
      if (taken.length < refs.length) leftOut({ repository: repositoryString(repo), why: 'left out by the filters', tags: tagsOf(refs.filter((r) => !taken.includes(r))) });
      groups.push({ label: repositoryString(repo), ctx, list: async () => taken });
    }
    for (const entry of reg.imagesByTagRegex) {
      const repo = repoName(entry.repo, entry.line);
      if (!repoEntry(repo)) continue;
      const re = entry.pattern;
      groups.push(repoGroup(repo, ctx, (t) => re.test(t), false, filter));
    }
    for (const entry of reg.imagesBySemver) {
      const repo = repoName(entry.repo, entry.line);
      if (!repoEntry(repo)) continue;
      const c = entry.constraint;
      groups.push(
        repoGroup(repo, ctx, (t) => {
          const v = parseSemver(t);
          return v !== undefined && c(v);
        }, false, filter),
      );
    }
  }
  return groups;
}
