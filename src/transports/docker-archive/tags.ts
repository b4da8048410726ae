/** `ferry list-tags docker-archive:FILE`: the tags of every image in a docker archive. */
import type { OpOptions } from '../../types/context.js';
import type { TempOptions } from '../../util/temp.js';
import { openDockerArchive } from './archive.js';

/**
 * The `RepoTags` of all images of the `docker save` archive at `path`, as stored (e.g.
 * `docker.io/library/busybox:latest`), in archive order, without duplicates. Untagged images add nothing.
 * Gzip-compressed archives are accepted.
 * @throws FerryError(E_NOT_FOUND) for a missing file or a tar without manifest.json; E_HOSTILE_ARCHIVE,
 *         E_INVALID_MANIFEST (corrupt/truncated), E_IO, E_ABORTED.
 */
export async function listArchiveTags(path: string, opts: OpOptions & TempOptions = {}): Promise<string[]> {
  const archive = await openDockerArchive(path, opts);
  try {
    const seen = new Set<string>();
    for (const item of archive.items) for (const t of item.RepoTags) seen.add(t);
    return [...seen];
  } finally {
    await archive.close();
  }
}
