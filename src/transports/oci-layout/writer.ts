/**
 * Writing to an OCI image layout: the `oci-layout` marker and `index.json` updates under the layout's
 * inter-process lock, so that several processes writing different images into one layout all survive.
 * Everyone who rewrites `index.json` (copy, delete, …) must go through {@link updateLayoutIndex}.
 */
import { join } from 'node:path';
import { FerryError, ErrorCode } from '../../errors.js';
import { MediaType } from '../../manifest/media-types.js';
import type { OpOptions } from '../../types/context.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { withLock } from '../../util/lock.js';
import { checkReplaceable } from '../../util/replaceable.js';
import { OCI_LAYOUT_CONTENT, REF_NAME_ANNOTATION, indexPath, layoutFilePath, readIndex, readLayoutVersion, refNameOf, type OciDescriptor, type OciIndex } from './layout.js';

/** Name of the lock file guarding `index.json` updates. */
export const INDEX_LOCK_FILE = 'index.json.lock';

/** Path of the lock guarding the `index.json` of the layout at `dir`. */
export function indexLockPath(dir: string): string {
  return join(dir, INDEX_LOCK_FILE);
}

/**
 * Refuses to write the `index.json` of the layout at `dir` over anything but a regular file: a symbolic link is
 * neither written through nor replaced (it is read, as a source; see guard.ts).
 * @throws FerryError(E_IO) `OCI layout index DIR/index.json is a symbolic link, not a regular file: refusing to replace it`.
 */
export async function checkIndexReplaceable(dir: string): Promise<void> {
  await checkReplaceable(indexPath(dir), `OCI layout index ${indexPath(dir)}`);
}

/** {@link checkIndexReplaceable} for the `oci-layout` marker file (written when missing). */
export async function checkMarkerReplaceable(dir: string): Promise<void> {
  await checkReplaceable(layoutFilePath(dir), `OCI layout marker file ${layoutFilePath(dir)}`);
}

/** An empty image index, as a new layout starts. */
export function emptyIndex(): OciIndex {
  return { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
}

/** Options of the layout writes: `fsync: false` for a layout that is only staging (default true). */
export type LayoutWriteOptions = OpOptions & { fsync?: boolean };

/**
 * Writes the `oci-layout` marker if it is missing (an existing one must be a 1.x version).
 * @throws FerryError(E_UNSUPPORTED | E_INVALID_MANIFEST | E_IO)
 */
export async function ensureLayoutMarker(dir: string, opts: LayoutWriteOptions = {}): Promise<void> {
  try {
    await readLayoutVersion(dir, opts);
  } catch (e) {
    if (!(e instanceof FerryError && e.code === ErrorCode.NotFound)) throw e;
    await checkMarkerReplaceable(dir);
    await writeFileAtomic(layoutFilePath(dir), OCI_LAYOUT_CONTENT, { signal: opts.signal, fsync: opts.fsync });
  }
}

/**
 * Reads `index.json` (an empty index if it does not exist), lets `update` change it, and writes it back
 * atomically — all under the layout's lock, so concurrent updates are never lost. `update` may check the layout
 * first (it runs under the lock too, so what it finds holds until `index.json` is written).
 * @throws what `update` throws; FerryError(E_INVALID_MANIFEST) for a corrupt index, E_IO, E_ABORTED.
 */
export async function updateLayoutIndex(dir: string, update: (index: OciIndex) => OciIndex | void | Promise<OciIndex | void>, opts: LayoutWriteOptions = {}): Promise<OciIndex> {
  return withLock(
    indexLockPath(dir),
    async () => {
      await checkIndexReplaceable(dir);
      let index: OciIndex;
      try {
        index = await readIndex(dir, opts);
      } catch (e) {
        if (!(e instanceof FerryError && e.code === ErrorCode.NotFound)) throw e;
        index = emptyIndex();
      }
      const next = (await update(index)) ?? index;
      await writeFileAtomic(indexPath(dir), JSON.stringify(next), { signal: opts.signal, fsync: opts.fsync });
      return next;
    },
    { signal: opts.signal },
  );
}

/**
 * Adds `desc` to `index` (in place): a named descriptor replaces every descriptor with the same ref
 * name, and any unnamed descriptor of the same digest; an unnamed one replaces an unnamed descriptor of
 * the same digest, or is appended.
 */
export function addManifestDescriptor(index: OciIndex, desc: OciDescriptor): OciIndex {
  const name = refNameOf(desc);
  const keep = index.manifests.filter((d) => {
    const n = refNameOf(d);
    if (name !== undefined && n === name) return false;
    return !(n === undefined && d.digest === desc.digest);
  });
  keep.push(desc);
  index.manifests = keep;
  return index;
}

/** The index.json descriptor of a top-level manifest, named `refName` when it is not empty. */
export function manifestDescriptor(mediaType: string, digest: string, size: number, refName: string): OciDescriptor {
  const d: OciDescriptor = { mediaType, digest, size };
  if (refName !== '') d.annotations = { [REF_NAME_ANNOTATION]: refName };
  return d;
}
