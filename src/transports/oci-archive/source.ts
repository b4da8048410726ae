/**
 * Reading an image from an OCI archive: the archive is indexed and read in place (tar-source.ts); a gzip'd
 * archive, a stream or a split archive is first made into one plain tar in a temporary directory, removed by
 * `close`. Blobs an incremental archive leaves out are read from the earlier archives `since` names, if they carry them.
 * Errors name the archive.
 */
import type { OpOptions } from '../../types/context.js';
import type { TempOptions } from '../../util/temp.js';
import { checkAborted } from '../shared/files.js';
import type { OciArchiveReference } from './reference.js';
import { IndexedOciArchive, OciTarSource } from './tar-source.js';

/** An ImageSource over an OCI archive. */
export type OciArchiveSource = OciTarSource;

/**
 * Opens the image `ref` selects in its archive.
 * @throws FerryError(E_NOT_FOUND) for a missing archive or image; E_HOSTILE_ARCHIVE; E_INVALID_MANIFEST
 *         (corrupt or truncated archive, bad layout); E_INVALID_REFERENCE (several images, none chosen); E_IO.
 */
export async function openOciArchiveSource(ref: OciArchiveReference, opts: OpOptions & TempOptions & { since?: readonly string[] } = {}): Promise<OciArchiveSource> {
  checkAborted(opts.signal, `opening ${ref.toString()}`);
  const archive = await IndexedOciArchive.open(ref.path, opts);
  try {
    return new OciTarSource(ref, archive, archive.select(ref.selector), true);
  } catch (e) {
    await archive.close().catch(() => {});
    throw e;
  }
}
