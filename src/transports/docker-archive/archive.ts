/**
 * Opening a `docker save` archive for reading: the archive's uncompressed tar (the file itself, or a temporary
 * copy: shared/uncompressed-tar.ts) is indexed in place (headers only, blobs are streamed from their offsets
 * later), then `manifest.json` is read and checked.
 */
import { FerryError, ErrorCode } from '../../errors.js';
import type { OpOptions } from '../../types/context.js';
import type { TempOptions } from '../../util/temp.js';
import { indexTar, type TarIndex } from '../../tar/file-index.js';
import { uncompressedTar } from '../shared/uncompressed-tar.js';
import { MANIFEST_FILE, MAX_JSON_SIZE, type ManifestItem, parseManifestJson } from './format.js';

/** An opened archive: its tar index and image list. Call {@link close} to remove temporary files. */
export interface DockerArchive {
  /** The archive as the user named it. */
  readonly path: string;
  /** Index of the (possibly decompressed) tar. */
  readonly tar: TarIndex;
  /** The images of `manifest.json`. */
  readonly items: ManifestItem[];
  /** Removes the decompressed copy, if any. Idempotent. */
  close(): Promise<void>;
}

/**
 * Opens the `docker save` archive at `path`.
 * @throws FerryError(E_NOT_FOUND) if the file is missing or has no manifest.json; E_HOSTILE_ARCHIVE;
 *         E_INVALID_MANIFEST for a corrupt/truncated archive or manifest.json; E_IO, E_ABORTED.
 */
export async function openDockerArchive(path: string, opts: OpOptions & TempOptions = {}): Promise<DockerArchive> {
  const what = `docker archive ${path}`;
  const { tarPath, temp } = await uncompressedTar(path, what, opts);
  try {
    const tar = await indexTar(tarPath, what, opts);
    const m = tar.resolve(MANIFEST_FILE);
    if (!m) throw new FerryError(ErrorCode.NotFound, `${what}: no ${MANIFEST_FILE} (not a docker save archive)`);
    const items = parseManifestJson(await tar.readEntry(m, MAX_JSON_SIZE, opts), what);
    let closed = false;
    return {
      path,
      tar,
      items,
      async close() {
        if (closed) return;
        closed = true;
        await temp?.remove();
      },
    };
  } catch (e) {
    await temp?.remove().catch(() => {});
    throw e;
  }
}
