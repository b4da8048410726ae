/**
 * Deleting an image from an OCI layout (like containers/image `oci/layout/oci_delete.go`): the image's entry is
 * removed from `index.json`, then every blob the image used that nothing else in the layout still reaches is removed —
 * manifests, configs and layers, recursively through nested indexes. All of it happens under the layout's index lock.
 *
 * Only blobs reachable from the deleted image are candidates: other files under `blobs/` (for instance those a
 * concurrent copy has written but not yet named in `index.json`) are never touched.
 */
import { readFile, stat, unlink } from 'node:fs/promises';
import { FerryError, ErrorCode, ioError } from '../../errors.js';
import type { OpOptions, SystemContext } from '../../types/context.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { isDigest } from '../../util/digest.js';
import { withLock } from '../../util/lock.js';
import { blobPath, indexPath, readIndex, readLayoutVersion, selectDescriptor, type OciDescriptor } from './layout.js';
import type { OciReference } from './reference.js';
import { indexLockPath } from './writer.js';

/** Largest manifest or index parsed while walking references (bigger blobs are treated as leaves). */
const MAX_MANIFEST_SIZE = 4 * 1024 * 1024;

/** What a delete removed. */
export interface OciDeleteResult {
  /** The descriptor removed from `index.json`. */
  removed: OciDescriptor;
  /** Digests of the blobs deleted. */
  deletedBlobs: string[];
}

/** Descriptors a manifest or index refers to (`config`, `layers`, `manifests`, `blobs`, `subject`). */
function childrenOf(json: unknown): { digest: string; mediaType?: string }[] {
  if (typeof json !== 'object' || json === null) return [];
  const o = json as Record<string, unknown>;
  const out: { digest: string; mediaType?: string }[] = [];
  const take = (d: unknown) => {
    const { digest, mediaType } = (d ?? {}) as { digest?: unknown; mediaType?: unknown };
    if (typeof digest === 'string' && isDigest(digest)) out.push({ digest, ...(typeof mediaType === 'string' ? { mediaType } : {}) });
  };
  take(o['config']);
  take(o['subject']);
  for (const k of ['layers', 'manifests', 'blobs']) if (Array.isArray(o[k])) (o[k] as unknown[]).forEach(take);
  return out;
}

/** Whether a blob of this media type may refer to further blobs (everything but known layer types is read). */
function mayHaveChildren(mediaType: string | undefined): boolean {
  return mediaType === undefined || !/\.layer\.|rootfs|\.tar(\+|$)|gzip$|zstd$/.test(mediaType);
}

/** Every digest reachable from `roots` (the roots included), reading manifests from the layout. Missing blobs are skipped. */
async function reachable(dir: string, roots: OciDescriptor[], opts: OpOptions): Promise<Set<string>> {
  const seen = new Set<string>();
  const queue: { digest: string; mediaType?: string }[] = roots.filter((d) => isDigest(d.digest)).map((d) => ({ digest: d.digest, mediaType: d.mediaType }));
  while (queue.length) {
    const { digest, mediaType } = queue.pop()!;
    if (seen.has(digest)) continue;
    seen.add(digest);
    if (!mayHaveChildren(mediaType)) continue;
    const path = blobPath(dir, digest);
    let bytes: Buffer;
    try {
      const st = await stat(path);
      if (!st.isFile() || st.size > MAX_MANIFEST_SIZE) continue;
      bytes = await readFile(path, { signal: opts.signal });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw ioError(`reading ${path}`, e);
    }
    let json: unknown;
    try {
      json = JSON.parse(bytes.toString('utf8'));
    } catch {
      continue; // a layer or other non-JSON blob
    }
    for (const child of childrenOf(json)) if (!seen.has(child.digest)) queue.push(child);
  }
  return seen;
}

/**
 * Removes the image `ref` names from its layout and garbage-collects the blobs only it used.
 * @throws FerryError(E_NOT_FOUND) if the layout or image does not exist; E_INVALID_REFERENCE when the layout holds
 *   several images and `ref` names none; E_IO.
 */
export async function deleteOciImage(ref: OciReference, _ctx: SystemContext = {}, opts: OpOptions = {}): Promise<OciDeleteResult> {
  const dir = ref.resolvedDir;
  await readLayoutVersion(dir, opts);
  return withLock(
    indexLockPath(dir),
    async () => {
      const index = await readIndex(dir, opts);
      const { descriptor, position } = selectDescriptor(index, ref.selector, dir);
      const remaining = index.manifests.filter((_, i) => i !== position);
      const kept = await reachable(dir, remaining, opts);
      const dropped = await reachable(dir, [descriptor], opts);
      await writeFileAtomic(indexPath(dir), JSON.stringify({ ...index, manifests: remaining }), { signal: opts.signal });
      const deletedBlobs: string[] = [];
      for (const digest of dropped) {
        if (kept.has(digest)) continue;
        try {
          await unlink(blobPath(dir, digest));
          deletedBlobs.push(digest);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(`removing blob ${digest} from ${dir}`, e);
        }
      }
      return { removed: descriptor, deletedBlobs };
    },
    { signal: opts.signal },
  ).catch((e: unknown) => {
    throw e instanceof FerryError ? e : new FerryError(ErrorCode.Io, `deleting ${ref.toString()}: ${String(e)}`, { cause: e });
  });
}
