/**
 * Temporary directories beside a destination that a later run can clean up after a killed one.
 *
 * A destination that stages next to its target (a docker or OCI archive being written: hundreds of MB) loses its
 * staging directory when the process is killed with SIGKILL or the machine stops: no exit handler runs. Such a
 * directory holds an inter-process lock (`.owner.lock`, src/util/lock.ts: owner pid and process start time) for as
 * long as its process lives; the next destination opened in the same folder removes the directories of its kind
 * whose lock it can take — their owner is gone. A directory without a lock is only removed once it is older than
 * {@link ABANDONED_MIN_AGE_MS} (it may belong to a process that has just created it and not locked it yet).
 */
import { lstat, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { acquireLock } from './lock.js';
import { makeTempDir, type TempDir } from './temp.js';

/** Name of the lock file inside an owned temporary directory. */
export const OWNER_LOCK = '.owner.lock';

/** How old an unlocked directory must be before it counts as abandoned. */
export const ABANDONED_MIN_AGE_MS = 60_000;

/** A {@link TempDir} holding its owner lock. */
export interface OwnedTempDir extends TempDir {
  /**
   * Keeps the directory and drops its lock (removing the lock file), for a directory about to become something
   * permanent. The caller must make sure no cleanup runs before that (e.g. by holding a lock cleanups take).
   */
  disown(): Promise<void>;
}

/**
 * {@link makeTempDir} `<parent>/<prefix>XXXXXX`, locked by this process until it is removed (or the process ends).
 * @throws FerryError(E_IO) if it cannot be created or locked.
 */
export async function makeOwnedTempDir(parent: string, prefix: string): Promise<OwnedTempDir> {
  const dir = await makeTempDir(parent, prefix);
  try {
    const lock = await acquireLock(join(dir.path, OWNER_LOCK), { timeoutMs: 0 });
    return {
      path: dir.path,
      commit: () => dir.commit(),
      async disown() {
        dir.commit();
        await lock.release();
      },
      async remove() {
        await lock.release();
        await dir.remove();
      },
    };
  } catch (e) {
    await dir.remove().catch(() => {});
    throw e;
  }
}

/**
 * Removes the `<parent>/<prefix>*` directories left by processes that are gone (see the module comment).
 * Best effort: anything that cannot be checked or removed is left as it is. Returns the names removed.
 */
export async function removeAbandonedTempDirs(parent: string, prefix: string, opts: { minAgeMs?: number } = {}): Promise<string[]> {
  const minAge = opts.minAgeMs ?? ABANDONED_MIN_AGE_MS;
  const removed: string[] = [];
  const names = await readdir(parent).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const dir = join(parent, name);
    const st = await lstat(dir).catch(() => undefined);
    if (!st?.isDirectory()) continue; // a symlink is never followed: what it points at is not ours
    const locked = await stat(join(dir, OWNER_LOCK)).then(
      () => true,
      () => false,
    );
    if (!locked && Date.now() - st.mtimeMs < minAge) continue;
    // Taking the lock succeeds only if nobody (alive) holds it: a dead owner's lock is broken by acquireLock.
    const lock = await acquireLock(join(dir, OWNER_LOCK), { timeoutMs: 0 }).catch(() => undefined);
    if (!lock) continue;
    try {
      await rm(dir, { recursive: true, force: true });
      removed.push(name);
    } catch {
      // left for another time
    } finally {
      await lock.release();
    }
  }
  return removed;
}
