/**
 * Where a push into a registry repository may mount a blob from, in the order it tries them: the repository the
 * copy's source reads the blob from when it is on the same registry (it holds the blob for sure), then those the
 * blob-location cache names, most recently seen first — never the destination repository itself, at most
 * {@link MAX_MOUNT_CANDIDATES}. Shared by the destination (which mounts) and its read-only probe (which tells a plan
 * what would be mounted), so the two agree.
 */
import { knownBlobLocations } from '../../registry/blob-cache.js';
import type { SystemContext } from '../../types/context.js';
import type { BlobLocation } from '../../types/image.js';

/** Most repositories tried for a mount of one blob. */
export const MAX_MOUNT_CANDIDATES = 3;

/** The mount candidates of one blob. */
export interface MountCandidates {
  /** Repositories of the registry to mount from, in order. */
  readonly from: string[];
  /**
   * Whether the blob is known to be in the destination repository already (the cache names it, or the source is that
   * repository): then a HEAD there comes before any mount.
   */
  readonly here: boolean;
}

/**
 * The mount candidates of `digest` for a push into `repository` of `registry`: `sourceLocation` counts only when it is
 * on `registry`; the cache is read only with `useCache`.
 */
export async function mountCandidates(
  registry: string,
  repository: string,
  digest: string,
  ctx: SystemContext,
  opts: { useCache: boolean; sourceLocation?: BlobLocation | undefined },
): Promise<MountCandidates> {
  const known = opts.useCache ? await knownBlobLocations(registry, digest, ctx) : [];
  const src = opts.sourceLocation?.registry === registry && opts.sourceLocation.repository !== '' ? opts.sourceLocation.repository : undefined;
  const from = [...new Set([...(src !== undefined ? [src] : []), ...known])].filter((r) => r !== repository).slice(0, MAX_MOUNT_CANDIDATES);
  return { from, here: src === repository || known.includes(repository) };
}
