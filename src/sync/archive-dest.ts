/**
 * `sync --dest oci DIR` and `sync --dest oci-archive FILE`: every synced image goes into one OCI layout or one OCI
 * archive, named by its ref name (`org.opencontainers.image.ref.name`): `REPO:TAG` (the last path element of the
 * source name, as skopeo names `--dest dir` images) or, with `--scoped`, the full source name
 * (`registry.example.com/team/app:1.2`). Blobs shared between images are stored once. An archive is written once,
 * at the end of the sync ({@link SyncTarget.commit}), with every image that was copied.
 */
import { FerryError, ErrorCode } from '../errors.js';
import type { OpOptions, SystemContext } from '../types/context.js';
import type { ImageReference } from '../types/reference.js';

/** A sync destination that is not a prefix of image names but a container of named images. */
export interface SyncTarget {
  /** The destination of the image named `name` (a ref name): its full name for messages, and the reference. */
  reference(name: string): { name: string; ref: () => ImageReference };
  /** Writes what the images copied so far need written at the end (the archive); a no-op for a layout. */
  commit(opts?: OpOptions): Promise<void>;
  /** Removes temporary files; without a commit, nothing changes at the destination. Idempotent. */
  close(): Promise<void>;
}

/**
 * Opens the target of `sync --dest KIND DESTINATION`, or undefined when KIND names image prefixes (docker, dir).
 * With `dryRun`, nothing is opened: the target only names images. `since`: earlier archives whose blobs an
 * `oci-archive` target leaves out (an incremental archive); `splitSize`: write it in parts of that size.
 * @throws FerryError from opening the archive's staging (E_NOT_FOUND for a missing parent directory, E_UNSUPPORTED).
 */
export async function openSyncTarget(
  kind: string,
  destination: string,
  ctx: SystemContext,
  opts: OpOptions & { dryRun?: boolean; since?: string[]; splitSize?: number } = {},
): Promise<SyncTarget | undefined> {
  if (opts.since?.length && kind !== 'oci-archive') throw new FerryError(ErrorCode.Usage, '--since applies only to --dest oci-archive');
  if (opts.splitSize !== undefined && kind !== 'oci-archive') throw new FerryError(ErrorCode.Usage, '--split-size applies only to --dest oci-archive');
  if (kind !== 'oci' && kind !== 'oci-archive') return undefined;
  // the layout and archive code only for these kinds: a sync to a registry or directories never loads it
  const { isValidRefName } = await import('../transports/oci-layout/layout.js');
  const refName = (name: string, where: string): string => {
    if (!isValidRefName(name)) throw new FerryError(ErrorCode.InvalidReference, `cannot name an image "${name}" in ${where}: not a valid OCI ref name`);
    return name;
  };
  if (kind === 'oci') {
    const { OciReference } = await import('../transports/oci-layout/reference.js');
    return {
      reference: (name) => ({ name: `oci:${destination}:${name}`, ref: () => new OciReference(destination, refName(name, `OCI layout ${destination}`)) }),
      commit: async () => {},
      close: async () => {},
    };
  }
  if (opts.dryRun) {
    const { OciArchiveReference } = await import('../transports/oci-archive/reference.js');
    return {
      reference: (name) => ({ name: `oci-archive:${destination}:${name}`, ref: () => new OciArchiveReference(destination, refName(name, `OCI archive ${destination}`)) }),
      commit: async () => {},
      close: async () => {},
    };
  }
  const { OciArchiveBatch } = await import('../transports/oci-archive/batch.js');
  const batch = await OciArchiveBatch.open(destination, ctx, { signal: opts.signal, since: opts.since, splitSize: opts.splitSize });
  let closed = false;
  return {
    reference: (name) => ({ name: `oci-archive:${destination}:${name}`, ref: () => batch.reference(refName(name, `OCI archive ${destination}`)) }),
    commit: async (o = {}) => {
      await batch.commit(o);
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await batch.close();
    },
  };
}
