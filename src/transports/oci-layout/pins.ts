/**
 * Hard links that keep the blobs a copy found already in a layout (and reuses instead of writing) alive until it
 * commits. Another process may remove such a blob meanwhile — deleting an image that shared it, or a failed copy
 * removing what it wrote — and the copy has no bytes to write it again; with its pin, the commit links it back
 * (present.ts). The pins are in a directory of the copy's own beside `blobs/` (`LAYOUT/.ferry-pins-XXXXXX`, on the
 * same file system, which OCI readers ignore), created at the first pin and removed at commit or close; one left by
 * a killed process is removed by the next destination opened on the layout (its owner lock, src/util/owned-temp-dir.ts).
 * Where links cannot be made (another file system, a file system without them) nothing is pinned: the commit then
 * fails naming the blob instead.
 */
import { link, lstat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fsyncDir } from '../../util/atomic.js';
import { parseDigest } from '../../util/digest.js';
import { makeDirs } from '../../util/make-dirs.js';
import { makeOwnedTempDir, removeAbandonedTempDirs, type OwnedTempDir } from '../../util/owned-temp-dir.js';

/** Prefix of a pin directory in a layout. */
export const PIN_DIR_PREFIX = '.ferry-pins-';

/** Removes the pin directories of processes that are gone from the layout at `dir` (best effort). */
export async function removeAbandonedPins(dir: string): Promise<void> {
  await removeAbandonedTempDirs(dir, PIN_DIR_PREFIX).catch(() => {});
}

/** The pins of one destination. */
export class BlobPins {
  private dir: Promise<OwnedTempDir | undefined> | undefined;
  /** Digests pinned, or being pinned. */
  private readonly claimed = new Set<string>();
  /** Digests pinned. */
  private readonly pinned = new Set<string>();
  /** Set when pinning failed once: no further attempts. */
  private disabled = false;

  /** @param layoutDir where the pin directory is created. */
  constructor(private readonly layoutDir: string) {}

  /** Hard-links the blob file `path` (expected `size` bytes) as the pin of `digest`; silently does nothing if it cannot. */
  async pin(digest: string, path: string, size: number): Promise<void> {
    if (this.disabled || this.claimed.has(digest)) return;
    this.claimed.add(digest);
    const dir = await (this.dir ??= makeOwnedTempDir(this.layoutDir, PIN_DIR_PREFIX).catch(() => undefined));
    if (dir === undefined) {
      this.disabled = true;
      this.claimed.delete(digest);
      return;
    }
    const pin = this.pinPath(dir, digest);
    try {
      await link(path, pin);
      const st = await lstat(pin);
      // the file linked is the one found, unless it was replaced in between
      if (st.isFile() && st.size === size) {
        this.pinned.add(digest);
        return;
      }
      await unlink(pin);
    } catch (e) {
      // gone meanwhile: not pinned; anything else (EXDEV, EPERM, EMLINK…): no pins at all
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.disabled = true;
      await unlink(pin).catch(() => {});
    }
    this.claimed.delete(digest);
  }

  /**
   * Links the pin of `digest` back at `path` (which must be missing), and makes that entry durable when `fsync`.
   * @returns whether it did.
   */
  async restore(digest: string, path: string, fsync: boolean): Promise<boolean> {
    const dir = this.dir === undefined ? undefined : await this.dir;
    if (dir === undefined || !this.pinned.has(digest)) return false;
    try {
      await makeDirs(dirname(path));
      await link(this.pinPath(dir, digest), path);
      if (fsync) await fsyncDir(dirname(path));
      return true;
    } catch {
      return false;
    }
  }

  /** Removes the pins (idempotent). */
  async release(): Promise<void> {
    const dir = this.dir;
    this.dir = undefined;
    this.claimed.clear();
    this.pinned.clear();
    const d = dir === undefined ? undefined : await dir;
    await d?.remove().catch(() => {});
  }

  private pinPath(dir: OwnedTempDir, digest: string): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(dir.path, `${algorithm}-${hex}`);
  }
}
