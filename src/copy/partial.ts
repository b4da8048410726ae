/**
 * Partial blob downloads kept across runs, so that a copy killed mid-blob (kill -9, power loss, Ctrl-C)
 * continues where it stopped when it is run again.
 *
 * Where partials live is the destination's choice (`DestinationProperties.partialDownloads`, src/types/image.ts):
 * a directory beside what a reader of the destination would see as an image, or a folder of the user's cache
 * (`$XDG_CACHE_HOME/ferry/partial/<key>/`, default `~/.cache`; `<homeDir>/.cache` with `SystemContext.homeDir`).
 * Today: `oci:LAYOUT` → `LAYOUT/.ferry-partial/`; `dir:DIR` → `DIR/.ferry-staging-partial/`; an archive file →
 * `.<name>.ferry-partial/` beside it; `docker://HOST/…` → the cache folder `HOST`; anything else (containers-storage,
 * an archive written into a stream) → the cache folder named after the transport. Whether a copy keeps partials at
 * all is the source's choice (`SourceProperties.resumableDownloads`: network sources).
 *
 * Each partial is one file named `<algorithm>-<hex>` after the blob digest, holding bytes of the blob exactly
 * as the source sent them, from its start or — when the sidecar `<file>.start` holds a decimal offset — from that
 * offset on (a copy that decided late to keep a slow download: the bytes before the offset are fetched again).
 * They are unverified: the whole blob is verified when the copy completes; a wrong partial is discarded and
 * downloaded again. One process at a time writes a partial: it holds the
 * inter-process lock `<file>.lock`; another process copying the same blob meanwhile simply streams without
 * one. A claim may be deferred (`claim(…, {deferred: true})`, for copies that keep a download only once it proves
 * slow or fails): when no partial of an earlier run is there, neither the lock nor the file is taken until bytes are
 * first to be kept ({@link PartialBlob.acquire}), so a fast download costs one `stat`. Partials older than
 * {@link PARTIAL_MAX_AGE_MS} are removed when a store of this process first opens their directory (a store with a
 * shorter age limit sweeps again).
 *
 * The directory is shared: the images of one sync copy at once into one registry or layout, and other ferry processes
 * may use it too. A store removes it when it closes, and only when it is empty (`rmdir`) and no other store of this
 * process has it open; a process that finds it gone (another process removed it between creating and using it)
 * creates it again, a bounded number of times.
 *
 * Lifetime: a partial is kept when a copy fails (that is what makes the next run resume) — unless the copy failed
 * because the file system filled up, or the file system holding the partials has less than
 * {@link MIN_FREE_FRACTION} of its space free afterwards: then the failed copy's partials are removed, since they
 * may be what filled it. Once the blob is
 * complete and verified, it is removed right away for destinations that keep written blobs across failed
 * copies (`oci:` writes content-addressed blobs in place, `docker://` pushed blobs stay in the registry), and
 * after a successful commit for the others (their staged blobs vanish when a copy fails).
 */
import { constants } from 'node:fs';
import { lstat, open, readdir, rename, rm, rmdir, statfs, type FileHandle } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { FerryError, ErrorCode, isNoSpace } from '../errors.js';
import type { SystemContext } from '../types/context.js';
import type { ImageDestination } from '../types/image.js';
import { parseDigest } from '../util/digest.js';
import { acquireLock, type HeldLock } from '../util/lock.js';
import { makeDirs } from '../util/make-dirs.js';
import { readRegularFile } from '../util/bounded-read.js';

/** Partials (and stray lock files) older than this are removed when a store opens: 7 days. */
export const PARTIAL_MAX_AGE_MS = 7 * 24 * 3600 * 1000;

/**
 * A failed copy keeps its partials only while the file system holding them has at least this fraction of its
 * space free (5 %); below it, they are removed.
 */
export const MIN_FREE_FRACTION = 0.05;

/** Whether the file system holding `dir` has less than {@link MIN_FREE_FRACTION} of its space free (false if unknown). */
async function lowOnSpace(dir: string): Promise<boolean> {
  try {
    const fs = await statfs(dir);
    return fs.blocks > 0 && fs.bavail < fs.blocks * MIN_FREE_FRACTION;
  } catch {
    return false;
  }
}

/** How often a claim creates the directory again when another process removed it meanwhile. */
const DIR_ATTEMPTS = 5;

/**
 * The stores of this process by (absolute) directory: how many have it open, and the removal in progress, which a store
 * opening the directory waits for before creating it (else the removal could land after the creation).
 */
const openDirs = new Map<string, { users: number; removing?: Promise<void> }>();

/**
 * The (absolute) directories this process swept of stale entries, with the age limit it swept with: the sweep lists
 * and stats the whole shared directory, so it is done once per process, not by every store (every image of a sync).
 */
const swept = new Map<string, number>();

/** Where partial downloads for a destination go, and whether completed ones wait for the commit. */
export interface PartialLocation {
  /** The directory holding the partial files. */
  dir: string;
  /**
   * Whether a complete, verified partial is kept until the commit (the destination discards written blobs
   * when a copy fails) rather than removed as soon as its blob is written.
   */
  keepUntilCommit: boolean;
}

function cacheBase(ctx: SystemContext): string {
  if (ctx.homeDir !== undefined) return join(ctx.homeDir, '.cache');
  return process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache');
}

/** A file-name-safe form of a registry host or transport name (`127.0.0.1:5000` → `127.0.0.1_5000`). */
function safeName(s: string): string {
  const out = s.replace(/[^A-Za-z0-9._-]/g, '_');
  return out === '' || out === '.' || out === '..' ? '_' : out;
}

/**
 * The folder of the user's cache holding partial downloads under `key` (see the module comment).
 * @param ctx the destination's SystemContext (for `homeDir`).
 */
export function partialCacheDir(key: string, ctx: SystemContext = {}): string {
  return join(cacheBase(ctx), 'ferry', 'partial', safeName(key));
}

/**
 * Where partial downloads for copies to `dest` live: what its properties ask for, else the cache folder named
 * after its transport (see the module comment).
 * @param ctx the destination's SystemContext (for `homeDir`).
 */
export function partialLocationFor(dest: Pick<ImageDestination, 'properties' | 'reference'>, ctx: SystemContext = {}): PartialLocation {
  const want = dest.properties.partialDownloads;
  if (want === undefined) return { dir: partialCacheDir(dest.reference.transport.name, ctx), keepUntilCommit: true };
  if ('dir' in want) return { dir: want.dir, keepUntilCommit: want.keepUntilCommit };
  return { dir: partialCacheDir(want.cacheKey, ctx), keepUntilCommit: want.keepUntilCommit };
}

/** The partial file name for a digest: `sha256:abc…` → `sha256-abc…`. */
export function partialFileName(digest: string): string {
  const d = parseDigest(digest);
  return `${d.algorithm}-${d.hex}`;
}

/**
 * One claimed partial file: this process is the only writer until {@link PartialBlob.release}. A deferred claim
 * (no partial was there) holds nothing until {@link PartialBlob.acquire}.
 */
export interface PartialBlob {
  /** The digest it belongs to. */
  readonly digest: string;
  /** The partial file. */
  readonly path: string;
  /** Whether this process holds the file's lock (always, except for a deferred claim not yet acquired). */
  readonly held: boolean;
  /**
   * Takes the lock and creates the file empty, for a deferred claim (a no-op returning true once held).
   * @returns false when another live process holds the partial (the bytes are then not kept), or it was released.
   * @throws FerryError(E_IO) if the directory or file cannot be created; E_ABORTED.
   */
  acquire(signal?: AbortSignal): Promise<boolean>;
  /** Bytes in the file when it was claimed (or after {@link reset}). */
  readonly size: number;
  /** Blob offset of the file's first byte (0 unless a `.start` sidecar says otherwise). */
  readonly start: number;
  /** Empties the file (its content proved wrong); `size` and `start` become 0. Needs {@link held} to touch the file. */
  reset(): Promise<void>;
  /**
   * Records that the (empty) file's first byte will be the blob's byte `offset`: written before anything is
   * appended, so a file is never read from the wrong offset (a missing sidecar means 0). Only once {@link held}.
   */
  setStart(offset: number): Promise<void>;
  /** Opens the file for appending at its end (the caller closes the handle). Only once {@link held}. */
  openAppend(): Promise<FileHandle>;
  /** Deletes the file and releases the lock (idempotent; a claim never held deletes nothing). */
  remove(): Promise<void>;
  /** Releases the lock, keeping the file for a later run unless it is empty (idempotent). */
  release(): Promise<void>;
}

/** Suffix of the sidecar holding a partial's start offset. */
const START_SUFFIX = '.start';

function startFile(partialPath: string): string {
  return partialPath + START_SUFFIX;
}

/** The start offset recorded beside a partial (0 when none or unreadable: the digest check catches a wrong one). */
async function readStart(partialPath: string): Promise<number> {
  const text = await readRegularFile(startFile(partialPath), { limit: 64, noFollow: true }).then((b) => b.toString('utf8'), () => '');
  const n = Number(text.trim());
  return /^\d+$/.test(text.trim()) && Number.isSafeInteger(n) ? n : 0;
}

/**
 * Opens the partial file `path` for writing (created if missing, `flags` added: append or truncate) without following a
 * symbolic link, and only if it is a regular file: the directory may sit inside a layout or directory another user
 * can write to, and what stands under a partial's name there must never lead the bytes (or a truncation) elsewhere.
 */
async function openPartial(path: string, flags: number): Promise<FileHandle> {
  const fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | flags, 0o600);
  if (!(await fh.stat()).isFile()) {
    await fh.close();
    throw Object.assign(new Error('not a regular file'), { code: 'EINVAL' });
  }
  return fh;
}

/** Whether `dir` is a directory itself (not a symbolic link to one). */
async function isRealDir(dir: string): Promise<boolean> {
  return (await lstat(dir).catch(() => undefined))?.isDirectory() === true;
}

async function exists(p: string): Promise<boolean> {
  return lstat(p).then(
    () => true,
    () => false,
  );
}

function ioErr(what: string, e: unknown): FerryError {
  if (e instanceof FerryError) return e;
  return new FerryError(ErrorCode.Io, `${what}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
}

/** The partial files of one copy, in one directory. */
export class PartialStore {
  /** Where the files are and how long completed ones stay. */
  readonly location: PartialLocation;
  private readonly maxAgeMs: number;
  /** The creation of the directory (see ensureDir). */
  private prepared: Promise<void> | undefined;
  /** Whether this store counts in {@link openDirs} (from its first claim until it closes). */
  private opened = false;
  /** Completed partials waiting for the commit. */
  private readonly completed = new Set<PartialBlob>();
  /** Every partial claimed and not yet released or removed. */
  private readonly claimed = new Set<PartialBlob>();

  constructor(location: PartialLocation, opts: { maxAgeMs?: number } = {}) {
    this.location = location;
    this.maxAgeMs = opts.maxAgeMs ?? PARTIAL_MAX_AGE_MS;
  }

  /** Counts this store among those of this process that have the directory open (from its first claim on). */
  private enterDir(): void {
    if (this.opened) return;
    this.opened = true;
    const key = resolve(this.location.dir);
    const entry = openDirs.get(key) ?? { users: 0 };
    entry.users++;
    openDirs.set(key, entry);
  }

  /** Creates the directory, once per store (again after another process removed it). */
  private ensureDir(): Promise<void> {
    const dir = this.location.dir;
    this.prepared ??= (async () => {
      await openDirs.get(resolve(dir))?.removing;
      try {
        await makeDirs(dir, { mode: 0o700 }); // creates levels another process removes meanwhile again
      } catch (e) {
        this.prepared = undefined;
        throw ioErr(`creating ${dir}`, e);
      }
      // a symbolic link there would put partials, their sweep and their removal in another directory
      if (!(await isRealDir(dir))) {
        this.prepared = undefined;
        throw new FerryError(ErrorCode.Io, `partial downloads directory ${dir}: not a directory (a symbolic link?)`);
      }
    })();
    return this.prepared;
  }

  /** Removes stale entries, unless this process swept the directory already with an age limit at most this store's. */
  private async sweep(signal?: AbortSignal): Promise<void> {
    const key = resolve(this.location.dir);
    const done = swept.get(key);
    if (done !== undefined && done <= this.maxAgeMs) return;
    swept.set(key, this.maxAgeMs);
    if (!(await isRealDir(this.location.dir))) return; // absent, or not ours to sweep (see ensureDir)
    await this.removeStale(signal).catch(() => {});
  }

  /** Removes the directory if it is empty and no other store of this process has it open; leaves this store closed. */
  private async leaveDir(): Promise<void> {
    if (!this.opened) return;
    this.opened = false;
    const dir = this.location.dir;
    const entry = openDirs.get(resolve(dir));
    if (!entry) return;
    if (--entry.users > 0) return;
    const removing = rmdir(dir).catch(() => {}); // only if empty
    entry.removing = removing;
    await removing;
    if (entry.removing === removing) entry.removing = undefined;
    if (entry.users === 0 && entry.removing === undefined && openDirs.get(resolve(dir)) === entry) openDirs.delete(resolve(dir));
  }

  /** Removes partials (and stray lock files) older than the age limit that nobody holds. */
  private async removeStale(signal?: AbortSignal): Promise<void> {
    const now = Date.now();
    for (const name of await readdir(this.location.dir)) {
      if (signal?.aborted) return;
      const p = join(this.location.dir, name);
      const st = await lstat(p).catch(() => undefined);
      if (!st?.isFile() || now - st.mtimeMs < this.maxAgeMs) continue;
      if (/^[a-z0-9]+-[a-f0-9]+$/.test(name)) {
        // A partial: only if no live process holds it (a dead holder's lock is broken by acquireLock).
        const lock = await acquireLock(`${p}.lock`, { timeoutMs: 0 }).catch(() => undefined);
        if (!lock) continue;
        await rm(p, { force: true }).catch(() => {});
        await rm(startFile(p), { force: true }).catch(() => {});
        await lock.release();
      } else if (name.includes('.lock.')) {
        await rm(p, { force: true }).catch(() => {}); // a lock's private file left by a killed process
      } else if (name.endsWith(START_SUFFIX) && !(await exists(p.slice(0, -START_SUFFIX.length)))) {
        await rm(p, { force: true }).catch(() => {}); // the start sidecar of a partial that is gone
      }
    }
  }

  /**
   * Takes the lock of the partial file `path`, creating the directory first (again, a bounded number of times, when
   * another process removed it meanwhile).
   * @returns undefined when another live process holds it.
   */
  private async lockFile(path: string, signal?: AbortSignal): Promise<HeldLock | undefined> {
    for (let attempt = 1; ; attempt++) {
      await this.ensureDir();
      try {
        return await acquireLock(`${path}.lock`, { timeoutMs: 0, signal });
      } catch (e) {
        if (e instanceof FerryError && e.code === ErrorCode.Aborted) throw e;
        if (attempt < DIR_ATTEMPTS && !(await exists(this.location.dir))) {
          this.prepared = undefined; // another process removed the empty directory meanwhile
          continue;
        }
        return undefined;
      }
    }
  }

  /**
   * Claims the partial file of `digest` (creating it empty if missing). With `deferred`, a missing file is neither
   * created nor locked now: the returned claim takes both at {@link PartialBlob.acquire}.
   * @returns undefined when another live process is writing the same partial right now.
   * @throws FerryError(E_IO) if the directory or file cannot be created; E_ABORTED.
   */
  async claim(digest: string, opts: { signal?: AbortSignal; deferred?: boolean } = {}): Promise<PartialBlob | undefined> {
    const path = join(this.location.dir, partialFileName(digest));
    this.enterDir();
    await this.sweep(opts.signal);
    if (opts.deferred && !(await exists(path))) return this.track(digest, path, 0, 0, undefined);
    const lock = await this.lockFile(path, opts.signal);
    if (!lock) return undefined;
    try {
      const fh = await openPartial(path, constants.O_APPEND);
      const size = (await fh.stat()).size;
      await fh.close();
      return this.track(digest, path, size, await readStart(path), lock);
    } catch (e) {
      await lock.release();
      throw ioErr(`opening partial blob ${path}`, e);
    }
  }

  private track(digest: string, path: string, size: number, start: number, held: HeldLock | undefined): PartialBlob {
    let lock = held;
    let done = false;
    const store = this;
    const blob: PartialBlob = {
      digest,
      path,
      size,
      start,
      get held() {
        return lock !== undefined;
      },
      async acquire(signal?: AbortSignal) {
        if (lock) return true;
        if (done) return false;
        const l = await store.lockFile(path, signal);
        if (!l) return false;
        try {
          // Empty: whatever another run left there since the claim is not known to be from this blob's offset.
          await (await openPartial(path, constants.O_TRUNC)).close();
          await rm(startFile(path), { force: true });
        } catch (e) {
          await l.release();
          throw ioErr(`opening partial blob ${path}`, e);
        }
        if (done) {
          await l.release();
          return false;
        }
        lock = l;
        return true;
      },
      async reset() {
        if (lock) {
          await openPartial(path, constants.O_TRUNC).then(
            (fh) => fh.close(),
            (e: unknown) => {
              throw ioErr(`resetting partial blob ${path}`, e);
            },
          );
          await rm(startFile(path), { force: true }).catch(() => {});
        }
        (blob as { size: number }).size = 0;
        (blob as { start: number }).start = 0;
      },
      async setStart(offset: number) {
        if (!lock) throw new FerryError(ErrorCode.Io, `recording the start of partial blob ${path}: not claimed`);
        const tmp = `${startFile(path)}.tmp`;
        try {
          const fh = await openPartial(tmp, constants.O_TRUNC);
          try {
            await fh.writeFile(`${offset}\n`);
          } finally {
            await fh.close();
          }
          await rename(tmp, startFile(path));
        } catch (e) {
          await rm(tmp, { force: true }).catch(() => {});
          throw ioErr(`recording the start of partial blob ${path}`, e);
        }
        (blob as { start: number }).start = offset;
      },
      openAppend: () => {
        if (!lock) return Promise.reject(new FerryError(ErrorCode.Io, `opening partial blob ${path}: not claimed`));
        return openPartial(path, constants.O_APPEND).catch((e: unknown) => {
          throw ioErr(`opening partial blob ${path}`, e);
        });
      },
      async remove() {
        store.completed.delete(blob);
        store.claimed.delete(blob);
        if (done) return;
        done = true;
        if (!lock) return; // never held: the file (if any) is not this claim's
        await rm(path, { force: true }).catch(() => {});
        await rm(startFile(path), { force: true }).catch(() => {});
        await lock.release();
      },
      async release() {
        store.claimed.delete(blob);
        if (done) return;
        done = true;
        if (!lock) return;
        // An empty partial is worth nothing to a later run.
        if ((await lstat(path).catch(() => undefined))?.size === 0) {
          await rm(path, { force: true }).catch(() => {});
          await rm(startFile(path), { force: true }).catch(() => {});
        }
        await lock.release();
      },
    };
    this.claimed.add(blob);
    return blob;
  }

  /**
   * The blob of `partial` was written to the destination and verified: removes the partial now, or keeps
   * it (still locked) until {@link committed} when the destination may still drop the written blob.
   */
  async blobWritten(partial: PartialBlob): Promise<void> {
    if (this.location.keepUntilCommit && partial.held) this.completed.add(partial);
    else await partial.remove();
  }

  /** The destination committed: removes every completed partial (the directory goes at {@link close}). */
  async committed(): Promise<void> {
    for (const p of [...this.completed]) await p.remove();
  }

  /**
   * The copy is over (committed or not): releases every lock still held, keeping the files for a later run —
   * or removing them when the copy failed with a full file system (`failure`), or when the file system holding
   * them is low on space (see the module comment).
   */
  async close(failure?: unknown): Promise<void> {
    const drop = [...this.claimed].some((p) => p.held) && (isNoSpace(failure) || (await lowOnSpace(this.location.dir)));
    for (const p of [...this.claimed]) await (drop ? p.remove() : p.release());
    this.completed.clear();
    await this.leaveDir();
  }
}
