/**
 * Deleting an image from an OCI layout (like containers/image `oci/layout/oci_delete.go`): the image's entry is
 * removed from `index.json`, then every blob the image used that nothing else in the layout still reaches is removed —
 * manifests, configs and layers, recursively through nested indexes. All of it happens under the layout's index lock.
 *
 * Only blobs reachable from the deleted image are candidates: other files under `blobs/` (for instance those a
 * concurrent copy has written but not yet named in `index.json`) are never touched. A blob of the deleted image that
 * a concurrent copy found already there and means to reuse may go: that copy's commit, under the same lock, finds it
 * gone and fails rather than naming it (present.ts).
 */
import { unlink } from 'node:fs/promises';
import { FerryError, ErrorCode, ioError } from '../../errors.js';
import type { OpOptions, SystemContext } from '../../types/context.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { parseDigest } from '../../util/digest.js';
import { withLock } from '../../util/lock.js';
import { blobPath, indexPath, readIndex, readLayoutVersion, selectDescriptor, type OciDescriptor } from './layout.js';
import { reachable } from './reachable.js';
import type { OciReference } from './reference.js';
import { checkBlobDirectories } from './guard.js';
import { checkIndexReplaceable, indexLockPath } from './writer.js';

/** What a delete removed. */
export interface OciDeleteResult {
  /** The descriptor removed from `index.json`. */
  removed: OciDescriptor;
  /** Digests of the blobs deleted. */
  deletedBlobs: string[];
}

/**
 * Removes the image `ref` names from its layout and garbage-collects the blobs only it used.
 * @throws FerryError(E_NOT_FOUND) if the layout or image does not exist; E_INVALID_REFERENCE when the layout holds
 *   several images and `ref` names none; E_IO.
 */
export async function deleteOciImage(ref: OciReference, _ctx: SystemContext = {}, opts: OpOptions = {}): Promise<OciDeleteResult> {
  const dir = ref.resolvedDir;
  await readLayoutVersion(dir, opts);
  return withLock(
    indexLockPath(dir),
    async () => {
      const index = await readIndex(dir, opts);
      const { descriptor, position } = selectDescriptor(index, ref.selector, dir);
      const remaining = index.manifests.filter((_, i) => i !== position);
      const kept = await reachable(dir, remaining, opts);
      const dropped = await reachable(dir, [descriptor], opts);
      // refused before anything changes: index.json that cannot be replaced, blobs that would be removed through a
      // linked blob directory (outside the layout); a blob that is itself a link only loses the link
      await checkIndexReplaceable(dir);
      for (const algorithm of new Set([...dropped].filter((d) => !kept.has(d)).map((d) => parseDigest(d).algorithm))) {
        await checkBlobDirectories(dir, algorithm);
      }
      await writeFileAtomic(indexPath(dir), JSON.stringify({ ...index, manifests: remaining }), { signal: opts.signal });
      const deletedBlobs: string[] = [];
      for (const digest of dropped) {
        if (kept.has(digest)) continue;
        try {
          await unlink(blobPath(dir, digest));
          deletedBlobs.push(digest);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(`removing blob ${digest} from ${dir}`, e);
        }
      }
      return { removed: descriptor, deletedBlobs };
    },
    { signal: opts.signal },
  ).catch((e: unknown) => {
    throw e instanceof FerryError ? e : new FerryError(ErrorCode.Io, `deleting ${ref.toString()}: ${String(e)}`, { cause: e });
  });
}
