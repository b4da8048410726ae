/**
 * `sync --src oci DIR` and `sync --src oci-archive FILE`: every named image of an OCI layout or archive (one group),
 * in `index.json` order. Each image's destination is named by its ref name (`REPO:TAG`, or the full source name of
 * a `--scoped` export), so `sync --src oci-archive` puts back what `sync --dest oci-archive` took. An archive is
 * indexed once, when the group is listed, and read in place (a temporary copy, for a gzip'd or split archive, is
 * removed by the group's `close`); an incremental archive's images
 * name the blobs they expect at the destination (src/sync/expected-blobs.ts).
 */
import { FerryError, ErrorCode } from '../errors.js';
import type { OpOptions, SystemContext } from '../types/context.js';
import type { ImageReference } from '../types/reference.js';
import { OpenedOciArchive } from '../transports/oci-archive/opened.js';
import { readIndex, readLayoutVersion, refNameOf, type OciDescriptor } from '../transports/oci-layout/layout.js';
import { OciReference } from '../transports/oci-layout/reference.js';
import { requireDirectory } from '../transports/shared/files.js';
import type { SyncSourceGroup } from './sources.js';

function noImages(where: string): FerryError {
  return new FerryError(ErrorCode.NotFound, `no images to sync found in ${where}: it holds no image with a ref name`);
}

/**
 * Refuses an index in which one ref name names two different images. A ferry or skopeo export never writes one (a
 * name added again replaces the earlier entry), so it is a hand-made or tampered archive: importing the first (as a
 * copy of one name does, like containers/image) would put at the destination an image other than the one a reader
 * of the index may have checked, and the other silently not at all. `ferry verify-archive` names both.
 * @throws FerryError(E_INVALID_MANIFEST) naming the ref name and both digests.
 */
function refuseAmbiguousNames(manifests: readonly OciDescriptor[], where: string): void {
  const first = new Map<string, string>();
  for (const d of manifests) {
    const name = refNameOf(d);
    if (name === undefined) continue;
    const earlier = first.get(name);
    if (earlier === undefined) first.set(name, d.digest);
    else if (earlier !== d.digest) {
      throw new FerryError(ErrorCode.InvalidManifest, `${where}: ref name ${JSON.stringify(name)} names two images (${earlier} and ${d.digest}): refusing to import an index that does not say which`);
    }
  }
}

/** The group of every named image of the OCI layout at `dir`. */
export function ociLayoutGroup(dir: string, ctx: SystemContext): SyncSourceGroup {
  const names = new Map<ImageReference, string>();
  return {
    label: `oci:${dir}`,
    ctx,
    nameOf: (src) => names.get(src),
    async list(opts: OpOptions = {}) {
      await requireDirectory(dir, 'OCI layout');
      await readLayoutVersion(dir, opts);
      const index = await readIndex(dir, opts);
      refuseAmbiguousNames(index.manifests, `OCI layout ${dir}`);
      const refs: ImageReference[] = [];
      for (const name of new Set(index.manifests.map(refNameOf))) {
        if (name === undefined) continue;
        const ref = new OciReference(dir, name);
        names.set(ref, name);
        refs.push(ref);
      }
      if (refs.length === 0) throw noImages(`OCI layout ${dir}`);
      return refs;
    },
  };
}

/** The group of every named image of the OCI archive at `path` (indexed once; a temporary copy goes into `ctx.tmpDir`). */
export function ociArchiveGroup(path: string, ctx: SystemContext): SyncSourceGroup {
  const names = new Map<ImageReference, string>();
  let opened: OpenedOciArchive | undefined;
  return {
    label: `oci-archive:${path}`,
    ctx,
    nameOf: (src) => names.get(src),
    async list(opts: OpOptions = {}) {
      opened ??= await OpenedOciArchive.open(path, { ...opts, tmpDir: ctx.tmpDir, since: ctx.archiveSince });
      refuseAmbiguousNames(opened.manifests, `OCI archive ${path}`);
      const refs = opened.refNames.map((name) => {
        const ref = opened!.reference(name);
        names.set(ref, name);
        return ref;
      });
      if (refs.length === 0) throw noImages(`OCI archive ${path}`);
      return refs;
    },
    async expectedAtDestination(src: ImageReference, opts: OpOptions = {}) {
      const name = names.get(src);
      return name === undefined || !opened ? [] : opened.expectedBlobs(name, opts);
    },
    async close() {
      await opened?.close().catch(() => {});
      opened = undefined;
    },
  };
}
