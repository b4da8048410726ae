/**
 * Which blobs of an OCI layout a set of descriptors reaches: manifests, configs and layers, recursively through
 * nested indexes. Used to remove only blobs nothing else uses (deleting an image, cleaning up after a failed copy).
 */
import { stat } from 'node:fs/promises';
import { ioError } from '../../errors.js';
import type { OpOptions } from '../../types/context.js';
import { isDigest } from '../../util/digest.js';
import { MAX_JSON_BYTES, readBoundedFile } from '../../util/bounded-read.js';
import { blobPath, type OciDescriptor } from './layout.js';

/** Largest manifest or index parsed while walking references (bigger blobs are treated as leaves). */
const MAX_MANIFEST_SIZE = MAX_JSON_BYTES;

/** Descriptors a manifest or index refers to (`config`, `layers`, `manifests`, `blobs`, `subject`). */
export function childrenOf(json: unknown): { digest: string; mediaType?: string }[] {
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

/**
 * Reads a blob that may be a manifest: its bytes, or undefined when it is missing, not a regular file or larger
 * than `limit` (then it is a leaf of the walk).
 */
export type SmallBlobReader = (digest: string, limit: number) => Promise<Buffer | undefined>;

/**
 * Every digest reachable from `roots` (the roots included), reading manifests with `read` (a layout directory,
 * an archive's entries, or both). Missing blobs are leaves.
 */
export async function reachableVia(roots: OciDescriptor[], read: SmallBlobReader): Promise<Set<string>> {
  const seen = new Set<string>();
  const queue: { digest: string; mediaType?: string }[] = roots.filter((d) => isDigest(d.digest)).map((d) => ({ digest: d.digest, mediaType: d.mediaType }));
  while (queue.length) {
    const { digest, mediaType } = queue.pop()!;
    if (seen.has(digest)) continue;
    seen.add(digest);
    if (!mayHaveChildren(mediaType)) continue;
    const bytes = await read(digest, MAX_MANIFEST_SIZE);
    if (bytes === undefined) continue;
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

/** Every digest reachable from `roots` (the roots included), reading manifests from the layout. Missing blobs are skipped. */
export async function reachable(dir: string, roots: OciDescriptor[], opts: OpOptions): Promise<Set<string>> {
  return reachableVia(roots, async (digest, limit) => {
    const path = blobPath(dir, digest);
    try {
      const st = await stat(path);
      if (!st.isFile() || st.size > limit) return undefined;
      // regularFile: one swapped for a FIFO since the stat is refused, never waited for
      return await readBoundedFile(path, { what: `manifest ${digest}`, limit, signal: opts.signal, regularFile: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw ioError(`reading ${path}`, e);
    }
  });
}
