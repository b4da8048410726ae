/**
 * What a write into an OCI layout may touch. Reading follows symbolic links in a layout — tools such as Bazel's
 * rules_oci and Nix build layouts whose blobs (or whose whole `blobs/sha256`) are links, every blob is checked
 * against its digest, and skopeo reads them — but writing and removing never go through one:
 * - blobs are written and removed only in real directories: `blobs` and `blobs/<alg>` (or `<alg>` of the shared blob
 *   directory) that are links are refused, so nothing outside the layout is created or removed;
 * - a blob path is replaced only when it holds a regular file or nothing; a link to a file of the blob's size counts
 *   as the blob already there (reused, never written through), anything else there is refused;
 * - `index.json` and `oci-layout` are replaced only when they are regular files (src/util/replaceable.ts).
 */
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { FerryError, ErrorCode, ioError } from '../../errors.js';
import { fileKind } from '../../util/bounded-read.js';
import { checkReplaceable } from '../../util/replaceable.js';
import { BLOBS_DIR } from './layout.js';

/** The directories blobs of `algorithm` are written to and removed from, outermost first. */
function blobDirectories(layoutDir: string, algorithm: string, sharedBlobDir?: string): string[] {
  if (sharedBlobDir !== undefined) return [join(sharedBlobDir, algorithm)];
  return [join(layoutDir, BLOBS_DIR), join(layoutDir, BLOBS_DIR, algorithm)];
}

/**
 * Refuses to write or remove blobs of `algorithm` (`sha256`) when one of their directories is anything but a real
 * directory (a symbolic link above all); missing ones are fine (they are created as directories).
 * @throws FerryError(E_IO) `OCI layout DIR: DIR/blobs/sha256 is a symbolic link, not a directory: refusing to write or remove blobs through it`.
 */
export async function checkBlobDirectories(layoutDir: string, algorithm: string, sharedBlobDir?: string): Promise<void> {
  for (const d of blobDirectories(layoutDir, algorithm, sharedBlobDir)) {
    let st;
    try {
      st = await lstat(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw ioError(`OCI layout ${layoutDir}: checking ${d}`, e);
    }
    if (!st.isDirectory()) {
      throw new FerryError(ErrorCode.Io, `OCI layout ${layoutDir}: ${d} is ${fileKind(st)}, not a directory: refusing to write or remove blobs through it`);
    }
  }
}

/**
 * Refuses to write blob `digest` at `path` when something there would be replaced that is not a regular file. A
 * symbolic link to a regular file of `size` bytes (any size when `size` is negative) is let through: the writers
 * reuse it as the blob already there, without writing.
 * @throws FerryError(E_IO) `blob D in OCI layout DIR: PATH is a symbolic link to nothing, not a regular file: refusing to replace it`.
 */
export async function checkBlobReplaceable(layoutDir: string, path: string, digest: string, size: number): Promise<void> {
  await checkReplaceable(path, `blob ${digest} in OCI layout ${layoutDir}: ${path}`, { linkTo: (t) => t.isFile() && (size < 0 || t.size === size) });
}
