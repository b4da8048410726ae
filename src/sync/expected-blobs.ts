/**
 * Importing an incremental archive (`sync --src oci-archive NEW.tar`, where NEW was written `--since OLD.tar`):
 * before any image is copied, every blob an image uses that the archive leaves out must already be at that image's
 * destination (the destination's own check, `tryReusingBlob`: for a registry, the blob in the image's repository
 * or one it can be mounted from), or in an earlier archive given with `--since` (read from there when the image is
 * copied; the group leaves those out). Otherwise the sync fails naming each missing blob, the image that needs it and
 * the earlier archive that carried it, and nothing is pushed.
 */
import { FerryError, ErrorCode } from '../errors.js';
import { destinationReference, type SyncOptions } from './sync.js';
import type { SyncSourceGroup } from './sources.js';

/** How many missing blobs the error message lists (the rest are counted). */
const LISTED = 10;

/**
 * Checks the expected blobs of every group that has some (see the module comment).
 * @throws FerryError(E_NOT_FOUND) naming the missing blobs; what listing or opening a destination throws.
 */
export async function checkExpectedBlobs(groups: SyncSourceGroup[], opts: Pick<SyncOptions, 'destKind' | 'destination' | 'target' | 'scoped' | 'appendSuffix' | 'copy' | 'signal'>): Promise<void> {
  const signal = opts.signal;
  const missing: string[] = [];
  let since = false;
  for (const group of groups) {
    since ||= (group.ctx.archiveSince?.length ?? 0) > 0;
    if (!group.expectedAtDestination) continue;
    for (const src of await group.list({ signal })) {
      const blobs = await group.expectedAtDestination(src, { signal });
      if (blobs.length === 0) continue;
      let to: ReturnType<typeof destinationReference>;
      try {
        to = destinationReference(src, group, opts as SyncOptions);
      } catch {
        continue; // an image that cannot be named (a hostile ref name) fails on its own when the sync reaches it
      }
      const dest = await to.ref().newImageDestination(opts.copy.destCtx ?? {}, { signal });
      try {
        for (const b of blobs) {
          if (!(await dest.tryReusingBlob({ digest: b.digest, size: b.size }, { signal }))) {
            missing.push(`${b.digest} (${src.toString()} → ${to.name}; carried by ${b.in || 'an earlier archive'})`);
          }
        }
      } finally {
        await dest.close().catch(() => {});
      }
    }
  }
  if (missing.length === 0) return;
  const more = missing.length > LISTED ? `, and ${missing.length - LISTED} more` : '';
  throw new FerryError(
    ErrorCode.NotFound,
    `${missing.length} blob${missing.length === 1 ? '' : 's'} the archive leaves out ${missing.length === 1 ? 'is' : 'are'} not at the destination${since ? ' nor in the archives given with --since' : ''}: ${missing.slice(0, LISTED).join(', ')}${more}; import the earlier archive first, or name it with --since`,
  );
}
