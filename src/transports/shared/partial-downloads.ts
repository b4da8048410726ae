/**
 * Where the file-based destinations ask the copy engine to keep partial downloads
 * (`DestinationProperties.partialDownloads`): always beside, never inside, what a reader of the destination sees as
 * an image, on the same file system, so that a complete partial can become the blob by a rename.
 */
import { basename, dirname, join, resolve } from 'node:path';
import type { PartialDownloads } from '../../types/image.js';

/** Directory name of partials inside an `oci:` layout (OCI readers ignore it: not under `blobs/`, not in `index.json`). */
export const OCI_PARTIAL_DIR = '.ferry-partial';
/** Directory name of partials inside a `dir:` destination (starts with the `dir:` staging prefix, which it keeps). */
export const DIR_PARTIAL_DIR = '.ferry-staging-partial';

/** Partials of an `oci:` layout: `LAYOUT/.ferry-partial/`, removed once their blob is written (blobs stay in place). */
export function layoutPartialDownloads(layoutDir: string): PartialDownloads {
  return { dir: join(resolve(layoutDir), OCI_PARTIAL_DIR), keepUntilCommit: false };
}

/** Partials of a `dir:` destination: `DIR/.ferry-staging-partial/`, kept until the commit (staged blobs go on failure). */
export function dirPartialDownloads(dir: string): PartialDownloads {
  return { dir: join(resolve(dir), DIR_PARTIAL_DIR), keepUntilCommit: true };
}

/** Partials of an archive written to the file `path`: `.<name>.ferry-partial/` beside it, kept until the commit. */
export function archivePartialDownloads(path: string): PartialDownloads {
  const abs = resolve(path);
  return { dir: join(dirname(abs), `.${basename(abs)}.ferry-partial`), keepUntilCommit: true };
}
