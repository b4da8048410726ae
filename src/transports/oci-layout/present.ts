/**
 * Before `index.json` names a new image: are the blobs of the image that this copy stored, or found already in the
 * layout and reused, still there? Another process may have removed one since — deleting an image that shared it
 * (delete.ts), or a failed copy removing the blobs it wrote that no image used yet (destination.ts `close`). Both
 * remove under the layout's index lock, and the check runs under that lock right before `index.json` is written, so
 * what it finds still holds when the image becomes visible.
 *
 * The check is one `lstat` per blob (no hashing): a regular file of the expected size (or a symlink to one, as a
 * reused blob may be) counts as there. A manifest whose file is gone is written again from the bytes this copy still
 * holds, another blob linked back from the copy's pin of it (pins.ts); a blob that is gone and cannot be restored,
 * or that is now something else, fails the commit naming it.
 */
import { lstat, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { FerryError, ErrorCode } from '../../errors.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { makeDirs } from '../../util/make-dirs.js';
import { childrenOf } from './reachable.js';

/** A blob a destination stored or reused: its size, and for a manifest its bytes. */
export interface HeldBlob {
  size: number;
  /** The manifest's bytes (manifests only): what its children are, and what is written again if it is gone. */
  manifest?: Buffer;
}

/** Options of {@link ensureBlobsPresent}. */
export interface PresentOptions {
  /** Where blob `digest` lives. */
  pathFor(digest: string): string;
  /** What the error message starts with (`committing to OCI layout /x`). */
  where: string;
  signal?: AbortSignal;
  /** fsync a manifest written again (default true). */
  fsync?: boolean;
  /** Puts a missing blob (not a manifest) back at its path, if the destination can; whether it did. */
  restore?: (digest: string, path: string) => Promise<boolean>;
}

/** What is at `path` now, compared with a blob of `size` bytes. */
async function blobState(path: string, size: number): Promise<'ok' | 'missing' | string> {
  let st;
  try {
    st = await lstat(path);
    if (st.isSymbolicLink()) st = await stat(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'missing';
    return `cannot be checked (${code ?? String(e)})`;
  }
  if (!st.isFile()) return 'is no longer a regular file';
  if (st.size !== size) return `is now ${st.size} bytes, expected ${size}`;
  return 'ok';
}

/**
 * Checks the blobs of `held` that the manifests `roots` reach (walking the manifests through their bytes in
 * `held`; blobs this copy did not handle, such as foreign layers or instances an index-only copy left out, are not
 * its to vouch for), writing a missing manifest again.
 * @throws FerryError(E_IO) naming the first blob that is gone or changed; nothing is written to `index.json` then.
 */
export async function ensureBlobsPresent(roots: readonly string[], held: ReadonlyMap<string, HeldBlob>, opts: PresentOptions): Promise<void> {
  const seen = new Set<string>();
  const queue = [...roots];
  const problems: string[] = [];
  while (queue.length > 0) {
    const digest = queue.pop()!;
    if (seen.has(digest)) continue;
    seen.add(digest);
    const blob = held.get(digest);
    if (blob === undefined) continue;
    if (blob.manifest !== undefined) {
      try {
        for (const child of childrenOf(JSON.parse(blob.manifest.toString('utf8')))) if (!seen.has(child.digest)) queue.push(child.digest);
      } catch {
        // not JSON: a leaf
      }
    }
    const path = opts.pathFor(digest);
    const state = await blobState(path, blob.size);
    if (state === 'ok') continue;
    if (state === 'missing' && blob.manifest !== undefined) {
      try {
        await makeDirs(dirname(path));
        await writeFileAtomic(path, blob.manifest, { signal: opts.signal, fsync: opts.fsync });
        continue;
      } catch (e) {
        if (e instanceof FerryError && e.code === ErrorCode.Aborted) throw e;
        problems.push(`manifest ${digest} was removed and could not be written again (${e instanceof Error ? e.message : String(e)})`);
        continue;
      }
    }
    if (state === 'missing' && (await opts.restore?.(digest, path)) === true && (await blobState(path, blob.size)) === 'ok') continue;
    problems.push(state === 'missing' ? `blob ${digest} was removed by another process after this copy stored or found it` : `blob ${digest} ${state}`);
  }
  if (problems.length === 0) return;
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
  throw new FerryError(ErrorCode.Io, `${opts.where}: ${problems[0]}${more}; index.json left unchanged, copy again`);
}
