/**
 * `sync --prune`: deleting the destination tags that the source no longer has, in the registry repositories the
 * sync writes to — and only there.
 *
 * - Which repositories: those a source repository that is listed as a whole (a `--src docker` repository, a YAML
 *   repository entry with no tag list, a tag regex or a semver constraint; {@link SyncSourceGroup.pruneScope}) maps
 *   to. A source of single images, an explicit YAML tag list or a directory/layout never causes a deletion.
 * - Which tags: those of such a repository that the source's filter covers (after `--append-suffix`) and that no
 *   source image of the sync is synced to (a tag `--include`/`--exclude` leave out is not covered). A repository whose
 *   source could not be listed, or lists none of the tags the group covers, is not pruned.
 * - Safeguards: at most `max` deletions per repository (see {@link pruneLimit}); above it the repository is refused
 *   as a whole. A registry v2 deletes manifests by digest, which removes every tag pointing at the digest: a tag
 *   whose digest a kept tag, a tag the sync writes or an image it copies by digest also points to (or that a kept
 *   index lists) is left, with a warning; so is a referrer tag (`sha256-HEX`, cosign's `sha256-HEX.sig`) of such a
 *   digest.
 * - What the run leaves out ({@link PruneOptions.leftOut}: the YAML entries of other `--shard`s, those the filters
 *   skip, the tags the filters take out of an entry) still counts: their destination tags are the sync
 *   configuration's as much as those of the entries the run syncs. A left-out entry with a tag list keeps those
 *   tags. One for a whole repository (or a regex, a semver range, a filtered part of one) has tags only a listing
 *   of its source would tell; its destination repository is not pruned when a group of another source repository
 *   prunes there, with a warning. Listing it instead would rest a deletion on a listing of a source the run does not
 *   sync (the other shard's credentials, reachability and timing), and multiply the listings by the shards.
 * - Not detected: two syncs with different configurations writing the same destination repository (each prunes
 *   what the other wrote: give each its own destination, e.g. with `--scoped`), a source listing cut short without
 *   an error.
 */
import { FerryError, ErrorCode } from '../errors.js';
import { isIndexType } from '../manifest/media-types.js';
import { isReferrerTag } from '../manifest/referrers.js';
import { parseManifest } from '../manifest/parse.js';
import type { ManifestList } from '../manifest/types.js';
import { RegistryClient } from '../registry/client.js';
import type { OpOptions, SystemContext } from '../types/context.js';
import { DockerReference } from '../transports/docker/reference.js';
import { destinationReference, type SyncOptions } from './sync.js';
import type { LeftOutSource, SyncSourceGroup } from './sources.js';

/** `--prune-max`: a number of tags, or a percentage of the repository's tags. */
export type PruneMax = { count: number } | { percent: number };

/** The default `--prune-max`: 10 % of a repository's tags. */
export const DEFAULT_PRUNE_MAX: PruneMax = { percent: 10 };

/**
 * Parses `--prune-max` (`N` or `P%`).
 * @throws E_USAGE for anything else.
 */
export function parsePruneMax(s: string): PruneMax {
  const m = /^(\d+)(%?)$/.exec(s.trim());
  if (!m || (m[2] === '%' && Number(m[1]) > 100)) throw new FerryError(ErrorCode.Usage, `--prune-max must be a number of tags (N) or a percentage (P%, at most 100%), not "${s}"`);
  return m[2] === '%' ? { percent: Number(m[1]) } : { count: Number(m[1]) };
}

/**
 * The most tags one repository may lose: `count`, or `percent` of `tags` rounded down but at least 1 (so a small
 * repository can lose one tag; `0%` forbids any deletion).
 */
export function pruneLimit(max: PruneMax, tags: number): number {
  if ('count' in max) return max.count;
  if (max.percent === 0) return 0;
  return Math.max(1, Math.floor((tags * max.percent) / 100));
}

/** One destination tag considered for deletion. */
export interface PruneTag {
  /** `docker://host/repo:tag`. */
  name: string;
  tag: string;
  /** The manifest digest the tag points to. */
  digest: string;
  /** `prune`: to delete; `kept`: shares its digest with a kept tag; `refused`: over the repository's limit. */
  action: 'prune' | 'kept' | 'refused';
  reason: string;
}

/** The prune of one repository. */
export interface RepositoryPrune {
  /** `host/path`. */
  repository: string;
  /** Tags the repository has once the sync is done (its tags now and those the sync writes): the base of the limit. */
  tags: number;
  limit: number;
  /** Set when the repository is refused: the error text. */
  refused?: string;
  candidates: PruneTag[];
}

/** Options of {@link planPrune}. */
export type PruneOptions = Pick<SyncOptions, 'destKind' | 'destination' | 'target' | 'scoped' | 'appendSuffix'> &
  OpOptions & {
    destCtx: SystemContext;
    max: PruneMax;
    /** The parts of the sync configuration this run leaves out (see the module comment). */
    leftOut?: readonly LeftOutSource[];
    /** Warnings for the user (a repository not pruned because its source failed, a tag kept for its digest). */
    onWarning?: (message: string) => void;
  };

/** `host/path`, tag and digest of a `docker://` destination name. */
function repoAndTag(name: string): { repo: string; tag: string | undefined; digest: string | undefined } {
  const ref = DockerReference.fromName(name.replace(/^docker:\/\//, ''));
  return { repo: `${ref.name.domain}/${ref.name.path}`, tag: ref.name.tag, digest: ref.name.digest };
}

/**
 * What `--prune` would delete (see the module comment). Read-only: lists sources and destination tags, HEADs the
 * destination's tags (and GETs the indexes among the kept ones).
 * @throws E_USAGE for a destination that is not a registry; registry errors reading a destination repository.
 */
export async function planPrune(groups: SyncSourceGroup[], opts: PruneOptions): Promise<RepositoryPrune[]> {
  if (opts.destKind !== 'docker' || opts.target !== undefined) throw new FerryError(ErrorCode.Usage, '--prune applies only to --dest docker');
  const suffix = opts.appendSuffix ?? '';
  const synced = new Map<string, Set<string>>();
  /** The digests of the images synced by digest (`repo@sha256:…`), per destination repository. */
  const pinned = new Map<string, Set<string>>();
  const covers = new Map<string, Array<(tag: string) => boolean>>();
  const unsafe = new Set<string>();
  /** The source repositories of the groups pruning each destination repository. */
  const pruners = new Map<string, Set<string>>();
  for (const group of groups) {
    if (group.expand) {
      // a registry's catalog: which repositories it has is not a listing a deletion may rest on
      opts.onWarning?.(`not pruning the repositories of ${group.label}: a registry or namespace source is never pruned (name a repository, or list them in a YAML file)`);
      continue;
    }
    let scopeRepo: string | undefined;
    if (group.pruneScope) {
      const sample = DockerReference.fromName(`${group.pruneScope.repository}:sample`);
      scopeRepo = repoAndTag(destinationReference(sample, group, opts).name).repo;
    }
    let refs;
    try {
      refs = await group.list({ signal: opts.signal });
    } catch (e) {
      if (opts.signal?.aborted) throw e;
      if (scopeRepo !== undefined) {
        unsafe.add(scopeRepo);
        opts.onWarning?.(`not pruning ${scopeRepo}: its source ${group.label} could not be listed (${e instanceof Error ? e.message : String(e)})`);
      }
      continue;
    }
    let inScope = 0;
    for (const src of refs) {
      let to;
      try {
        to = repoAndTag(destinationReference(src, group, opts).name);
      } catch {
        continue; // a name the sync cannot make: that image fails in the sync
      }
      if (!synced.has(to.repo)) synced.set(to.repo, new Set());
      if (to.tag !== undefined) synced.get(to.repo)!.add(to.tag);
      else if (to.digest !== undefined) pinned.set(to.repo, (pinned.get(to.repo) ?? new Set()).add(to.digest));
      if (to.repo === scopeRepo) inScope++;
    }
    if (scopeRepo !== undefined && inScope === 0 && !unsafe.has(scopeRepo)) {
      // An empty answer is what a registry gives after a transient failure, or a listing cut short: taking it as
      // "every tag is gone" would delete everything the group speaks for. An empty source is pruned by hand.
      unsafe.add(scopeRepo);
      opts.onWarning?.(`not pruning ${scopeRepo}: its source ${group.label} lists none of the tags the sync covers`);
    }
    if (scopeRepo !== undefined) {
      const filter = group.pruneScope!.covers;
      const fn = (tag: string) => tag.endsWith(suffix) && filter(tag.slice(0, tag.length - suffix.length));
      covers.set(scopeRepo, [...(covers.get(scopeRepo) ?? []), fn]);
      pruners.set(scopeRepo, (pruners.get(scopeRepo) ?? new Set()).add(group.pruneScope!.repository));
    }
  }
  for (const left of opts.leftOut ?? []) {
    const stub: SyncSourceGroup = { label: left.repository, ctx: {}, list: async () => [] };
    const to = (tag: string) => repoAndTag(destinationReference(DockerReference.fromName(`${left.repository}:${tag}`), stub, opts).name);
    let repo: string;
    try {
      repo = to('sample').repo;
    } catch {
      continue; // a name the sync cannot make: nothing of it is at the destination
    }
    if (left.tags !== undefined) {
      if (!synced.has(repo)) synced.set(repo, new Set());
      for (const t of left.tags) {
        try {
          synced.get(repo)!.add(to(t).tag!);
        } catch {
          // a name the sync cannot make (the tag and --append-suffix too long): that image never gets there
        }
      }
      continue;
    }
    // Tags only a listing of the left-out source could tell. A group of the same source repository lists that
    // very repository, and does not delete what it has; one of another source would delete them.
    const others = [...(pruners.get(repo) ?? [])].filter((r) => r !== left.repository);
    if (others.length > 0 && !unsafe.has(repo)) {
      unsafe.add(repo);
      opts.onWarning?.(`not pruning ${repo}: ${left.repository}, which this run leaves out (${left.why}), also syncs to it, and its tags are not known without listing it (run --prune without --shard and filters, or keep the sources apart with --scoped)`);
    }
  }
  const out: RepositoryPrune[] = [];
  for (const [repo, filters] of covers) {
    if (unsafe.has(repo)) continue;
    const plan = await planRepository(repo, filters, synced.get(repo) ?? new Set(), pinned.get(repo) ?? new Set(), opts);
    if (plan !== undefined) out.push(plan);
  }
  return out;
}

async function planRepository(repo: string, filters: Array<(tag: string) => boolean>, synced: Set<string>, pinned: Set<string>, opts: PruneOptions): Promise<RepositoryPrune | undefined> {
  const ref = DockerReference.fromName(repo);
  const client = RegistryClient.open({ registry: ref.name.domain, repository: ref.name.path, ctx: opts.destCtx, actions: ['pull'] });
  try {
    let tags: string[];
    try {
      tags = await client.listTags({ signal: opts.signal });
    } catch (e) {
      if (e instanceof FerryError && e.code === ErrorCode.NotFound) return undefined;
      throw e;
    }
    const goneSet = new Set(tags.filter((t) => !synced.has(t) && filters.some((f) => f(t))));
    const gone = [...goneSet].sort();
    if (gone.length === 0) return undefined;
    const all = new Set([...tags, ...synced]);
    const limit = pruneLimit(opts.max, all.size);
    // What the kept tags point at, the instances of kept indexes included. The tags the sync writes count even when
    // the destination's listing leaves them out (a listing that lags behind the pushes, a registry that lists
    // names otherwise than it stores them): the prune deletes by digest, and must not take what the sync wrote.
    // So do the images the sync copies by digest, which no tag names.
    const listed = new Set(tags);
    const keptDigests = new Map<string, string>();
    const keptRefs = [
      ...[...tags.filter((x) => !goneSet.has(x)), ...[...synced].filter((x) => !listed.has(x)).sort()].map((t) => ({ ref: t, what: `tag ${t}`, index: `index ${t}` })),
      ...[...pinned].sort().map((d) => ({ ref: d, what: `the image synced by digest ${d}`, index: `the index synced by digest ${d}` })),
    ];
    for (const { ref, what, index } of keptRefs) {
      const h = await client.headManifest(ref, { signal: opts.signal });
      if (!h) continue;
      if (!keptDigests.has(h.digest)) keptDigests.set(h.digest, what);
      if (isIndexType(h.mediaType)) {
        const m = await client.getManifest(h.digest, { signal: opts.signal });
        const list = parseManifest(m.bytes, m.mediaType) as ManifestList;
        for (const d of list.manifests) if (!keptDigests.has(d.digest)) keptDigests.set(d.digest, index);
      }
    }
    const candidates: PruneTag[] = [];
    for (const tag of gone) {
      const h = await client.headManifest(tag, { signal: opts.signal });
      if (!h) continue; // gone meanwhile
      const name = `docker://${repo}:${tag}`;
      const keptBy = keptDigests.get(h.digest);
      const subject = referrerSubject(tag);
      const subjectKeptBy = subject !== undefined ? keptDigests.get(subject) : undefined;
      if (subjectKeptBy !== undefined) {
        // a signature, attestation, SBOM or referrers index of a kept image (one the destination added, as a
        // mirror signing what it serves does): it goes with its image, not before it
        const reason = `not in source, but it holds what refers to ${subject}, the manifest of ${subjectKeptBy}, which is kept`;
        opts.onWarning?.(`not pruning ${name}: ${reason}`);
        candidates.push({ name, tag, digest: h.digest, action: 'kept', reason });
      } else if (keptBy !== undefined) {
        const reason = `not in source, but its manifest ${h.digest} is also that of ${keptBy}, which is kept (a registry deletes by digest)`;
        opts.onWarning?.(`not pruning ${name}: ${reason}`);
        candidates.push({ name, tag, digest: h.digest, action: 'kept', reason });
      } else candidates.push({ name, tag, digest: h.digest, action: 'prune', reason: 'not in source' });
    }
    const n = candidates.filter((c) => c.action === 'prune').length;
    const plan: RepositoryPrune = { repository: repo, tags: all.size, limit, candidates };
    if (n > limit) {
      plan.refused = `refusing to prune ${n} tags of ${repo}: more than the limit of ${limit} (--prune-max${'percent' in opts.max ? ` ${opts.max.percent}% of ${all.size} tags` : ''}); nothing deleted there`;
      for (const c of candidates) if (c.action === 'prune') Object.assign(c, { action: 'refused', reason: `not in source; ${n} tags over the limit of ${limit}` });
    }
    return plan;
  } finally {
    await client.close();
  }
}

/** The digest a referrer tag (`sha256-HEX`, `sha256-HEX.sig`, …) is derived from, or undefined for another tag. */
function referrerSubject(tag: string): string | undefined {
  if (!isReferrerTag(tag)) return undefined;
  const [alg, rest] = [tag.slice(0, tag.indexOf('-')), tag.slice(tag.indexOf('-') + 1)];
  return `${alg}:${rest.replace(/\.(sig|att|sbom)$/, '')}`;
}

/**
 * Deletes the `prune` tags of `plan` (refused repositories are left alone): each digest once, by digest, with the
 * existing delete code. `onPruned` is called for every tag gone (tags sharing a digest go together).
 * @throws the first delete that fails (E_UNSUPPORTED when the registry has deletes disabled), naming the tag.
 */
export async function executePrune(
  plan: RepositoryPrune[],
  opts: OpOptions & { destCtx: SystemContext; onPruned?: (tag: PruneTag, seconds: number) => void | Promise<void> },
): Promise<number> {
  const { deleteDockerImage } = await import('../transports/docker/delete.js');
  let pruned = 0;
  for (const repo of plan) {
    if (repo.refused !== undefined) continue;
    const byDigest = new Map<string, PruneTag[]>();
    for (const c of repo.candidates) if (c.action === 'prune') byDigest.set(c.digest, [...(byDigest.get(c.digest) ?? []), c]);
    for (const [digest, tags] of byDigest) {
      const started = performance.now();
      try {
        await deleteDockerImage(DockerReference.fromName(`${repo.repository}@${digest}`), opts.destCtx, { signal: opts.signal });
      } catch (e) {
        if (e instanceof FerryError && e.code !== ErrorCode.Aborted) throw new FerryError(e.code, `pruning ${tags.map((t) => t.name).join(', ')}: ${e.message}`, { cause: e });
        throw e;
      }
      const seconds = Math.round(performance.now() - started) / 1000;
      for (const t of tags) {
        pruned++;
        await opts.onPruned?.(t, seconds);
      }
    }
  }
  return pruned;
}
