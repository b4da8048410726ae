/**
 * The optional capability of file-based destinations to take a complete blob file as a blob without copying
 * its bytes (see src/transports/shared/blob-adopt.ts); the copy engine uses it for partial downloads.
 */
import type { BlobInfo, ImageDestination } from '../types/image.js';

/** Options of {@link BlobFileAdopter.adoptBlobFile}. */
export interface AdoptBlobFileOptions {
  signal?: AbortSignal;
  /** Leave the file at its path (hard link) instead of moving it (rename). */
  keepSource: boolean;
}

/** Optional capability of file-based destinations (`oci:`, `dir:`, `oci-archive:`). */
export interface BlobFileAdopter {
  /**
   * Takes the file at `path`, which holds exactly the blob `info` (digest already verified by the caller,
   * `info.size` known), as that blob: moved or linked to where `putBlob` would have written it.
   * @returns the blob's info at the destination, or undefined when the file cannot be taken that way
   *   (another file system, no hard links): the caller then falls back to `putBlob`.
   * @throws FerryError(E_IO | E_SIZE_MISMATCH | E_ABORTED)
   */
  adoptBlobFile(path: string, info: BlobInfo, opts: AdoptBlobFileOptions): Promise<BlobInfo | undefined>;
}

/** Whether `dest` implements {@link BlobFileAdopter}. */
export function isBlobFileAdopter(dest: ImageDestination): dest is ImageDestination & BlobFileAdopter {
  return typeof (dest as Partial<BlobFileAdopter>).adoptBlobFile === 'function';
}

