/**
 * `ferry verify-archive`'s engine: reads an archive of images once (a gzip'd one decompressed into the
 * temporary-files directory), tells an OCI archive (`index.json`) from a `docker save` archive (`manifest.json`),
 * and checks it with that format's checker.
 */
import { FerryError, ErrorCode } from '../../errors.js';
import type { ArchiveReport } from '../../types/archive-report.js';
import type { OpOptions } from '../../types/context.js';
import type { TempOptions } from '../../util/temp.js';
import { uncompressedTar } from './uncompressed-tar.js';
import { indexTar } from '../../tar/file-index.js';
import { verifyDockerTar } from '../docker-archive/verify.js';
import { verifyOciTar } from '../oci-archive/verify.js';

/**
 * Checks every image of the archive at `path`: see {@link ArchiveReport}. Damage is reported, not thrown.
 * @throws FerryError(E_NOT_FOUND) for a missing file; E_INVALID_MANIFEST for a file that is not a tar, or a tar
 *         that is neither kind of archive; E_HOSTILE_ARCHIVE; E_IO, E_ABORTED.
 */
export async function verifyArchive(path: string, opts: OpOptions & TempOptions = {}): Promise<ArchiveReport> {
  const what = `archive ${path}`;
  const { tarPath, temp } = await uncompressedTar(path, what, opts);
  try {
    const tar = await indexTar(tarPath, what, opts);
    if (tar.resolve('index.json')) return await verifyOciTar(tar, path, opts);
    if (tar.resolve('manifest.json')) return await verifyDockerTar(tar, path, opts);
    throw new FerryError(ErrorCode.InvalidManifest, `${what}: neither an OCI archive (no index.json) nor a docker archive (no manifest.json)`);
  } finally {
    await temp?.remove().catch(() => {});
  }
}
