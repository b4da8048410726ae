/**
 * An exclusive inter-process lock on a file path (for "update index.json under a lock").
 *
 * Node has no fcntl locks, so the lock is the existence of `<path>`: its owner record (pid, host,
 * process start time, a random token) is written to a private file first and then hard-linked to the
 * lock path — `link` fails with EEXIST atomically, and the lock file never exists half-written.
 * Waiters retry with backoff until a timeout. A lock whose owner is a dead process on this host (or
 * a reused pid, told apart by the process start time) is stale and broken, under a second lock so
 * two waiters never break the same lock twice. Locks are released on process exit.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { link, open, stat, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { FerryError, ErrorCode } from '../errors.js';
import { registerExitCleanup } from './temp.js';
import { readRegularFile, readRegularFileSync } from './bounded-read.js';

/** Options of {@link acquireLock} and {@link withLock}. */
export interface LockOptions {
  /** Aborting stops waiting (E_ABORTED). */
  signal?: AbortSignal;
  /** How long to wait for the lock before failing with E_IO (default 60 000 ms). */
  timeoutMs?: number;
}

/** A held lock. */
export interface HeldLock {
  /** The lock file. */
  readonly path: string;
  /** Releases the lock (idempotent; never throws). */
  release(): Promise<void>;
}

/** What the lock file holds. */
interface Owner {
  pid: number;
  hostname: string;
  /** Start time of the owning process as the kernel reports it (/proc/<pid>/stat field 22), if known. */
  procStart?: string;
  /** When the lock was taken (ms since the epoch). */
  acquired: number;
  /** Random, identifies this acquisition. */
  token: string;
}

/** A lock file whose content cannot be parsed (a crash of the fallback writer) is stale after this long. */
const CORRUPT_STALE_MS = 10_000;
const MIN_DELAY_MS = 2;
const MAX_DELAY_MS = 100;

/** The start time of process `pid` from /proc (Linux), or undefined. */
function procStartOf(pid: number | 'self'): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) is in parentheses and may hold spaces: count fields after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

const myProcStart = procStartOf('self');

/** Whether a process with this pid (and start time, if known) is alive on this host. */
function isAlive(pid: number, procStart: string | undefined): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  if (procStart !== undefined) {
    const now = procStartOf(pid);
    if (now !== undefined && now !== procStart) return false; // the pid was reused
  }
  return true;
}

function parseOwner(text: string): Owner | undefined {
  try {
    const o = JSON.parse(text) as Partial<Owner>;
    if (typeof o.pid === 'number' && typeof o.hostname === 'string' && typeof o.token === 'string') return o as Owner;
  } catch {
    // fall through
  }
  return undefined;
}

/**
 * The most a lock file holds (an owner's JSON is ~150 bytes). Lock files sit in directories others may write to (a
 * layout, a destination directory): one is read without following a symbolic link, and no further than this.
 */
const MAX_LOCK_FILE = 4096;

/**
 * The text of the lock file `path`, read as {@link MAX_LOCK_FILE} says: only a regular file, never through a symbolic
 * link, and a FIFO put there is refused instead of waited for.
 */
async function readLockFile(path: string): Promise<string> {
  return (await readRegularFile(path, { noFollow: true, limit: MAX_LOCK_FILE, what: `lock file ${path}` })).toString('utf8');
}

/** {@link readLockFile}, synchronously (at exit). */
function readLockFileSync(path: string): string {
  return readRegularFileSync(path, { noFollow: true, limit: MAX_LOCK_FILE, what: `lock file ${path}` }).toString('utf8');
}

/** Reads the lock file: the owner, `'corrupt'` (unparseable, old enough to break), `'fresh'` (unparseable, young), or undefined if gone. */
async function readOwner(path: string): Promise<Owner | 'corrupt' | 'fresh' | undefined> {
  try {
    const text = await readLockFile(path);
    const owner = parseOwner(text);
    if (owner) return owner;
    const st = await stat(path);
    return Date.now() - st.mtimeMs > CORRUPT_STALE_MS ? 'corrupt' : 'fresh';
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

function isStale(o: Owner | 'corrupt' | 'fresh'): boolean {
  if (o === 'corrupt') return true;
  if (o === 'fresh') return false;
  return o.hostname === hostname() && !isAlive(o.pid, o.procStart);
}

function sameHolder(a: Owner | 'corrupt' | 'fresh' | undefined, b: Owner | 'corrupt'): boolean {
  if (a === undefined || a === 'fresh') return false;
  if (a === 'corrupt' || b === 'corrupt') return a === b;
  return a.token === b.token;
}

/** Creates `path` exclusively with `content` (hard link of a private file; `open wx` where links fail). Returns false if it exists. */
async function createExclusive(path: string, privateFile: string, content: string): Promise<boolean> {
  try {
    await link(privateFile, path);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EXDEV') throw e;
  }
  try {
    const fh = await open(path, 'wx', 0o644);
    try {
      await fh.writeFile(content);
    } finally {
      await fh.close();
    }
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

/**
 * Removes the stale lock `path` held by `stale`, under the secondary lock `<path>.break`, and only if
 * it is still the same stale lock (another waiter may have broken it and taken the lock meanwhile).
 */
async function breakStale(path: string, stale: Owner | 'corrupt', privateFile: string, content: string): Promise<void> {
  const breakPath = `${path}.break`;
  if (!(await createExclusive(breakPath, privateFile, content))) {
    const breaker = await readOwner(breakPath);
    if (breaker !== undefined && isStale(breaker)) await unlink(breakPath).catch(() => {});
    return;
  }
  try {
    if (sameHolder(await readOwner(path), stale)) await unlink(path).catch(() => {});
  } finally {
    await unlink(breakPath).catch(() => {});
  }
}

function describe(o: Owner | 'corrupt' | 'fresh' | undefined): string {
  if (o === undefined) return 'nobody';
  if (typeof o === 'string') return 'an unknown process';
  return `pid ${o.pid} on ${o.hostname}`;
}

/**
 * Takes the exclusive lock `lockPath` (its directory must exist), waiting with backoff while another
 * live process holds it and breaking it if its holder died.
 * @throws FerryError(E_IO) on timeout (naming the holder) or file-system failure, E_ABORTED if aborted.
 */
export async function acquireLock(lockPath: string, opts: LockOptions = {}): Promise<HeldLock> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  const owner: Owner = { pid: process.pid, hostname: hostname(), procStart: myProcStart, acquired: 0, token: randomBytes(12).toString('hex') };
  const privateFile = `${lockPath}.${owner.token}`;
  const forgetPrivate = registerExitCleanup(() => unlinkQuiet(privateFile));
  let delay = MIN_DELAY_MS;
  try {
    for (;;) {
      if (opts.signal?.aborted) throw new FerryError(ErrorCode.Aborted, `waiting for lock ${lockPath}: aborted`, { cause: opts.signal.reason });
      owner.acquired = Date.now();
      const content = JSON.stringify(owner);
      await writeFile(privateFile, content, { mode: 0o644 });
      if (await createExclusive(lockPath, privateFile, content)) return held(lockPath, owner.token);
      const holder = await readOwner(lockPath);
      if (holder === undefined) continue; // released meanwhile: retry at once
      if (isStale(holder)) {
        await breakStale(lockPath, holder as Owner | 'corrupt', privateFile, content);
        continue;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new FerryError(ErrorCode.Io, `timed out after ${timeoutMs} ms waiting for lock ${lockPath} held by ${describe(holder)}`);
      const wait = Math.min(left, delay * (0.5 + Math.random()));
      try {
        await sleep(wait, undefined, { signal: opts.signal });
      } catch (e) {
        throw new FerryError(ErrorCode.Aborted, `waiting for lock ${lockPath}: aborted`, { cause: e });
      }
      delay = Math.min(MAX_DELAY_MS, delay * 1.5);
    }
  } catch (e) {
    if (e instanceof FerryError) throw e;
    throw new FerryError(ErrorCode.Io, `locking ${lockPath}: ${(e as Error).message}`, { cause: e });
  } finally {
    await unlink(privateFile).catch(() => {});
    forgetPrivate();
  }
}

function unlinkQuiet(p: string): void {
  try {
    unlinkSync(p);
  } catch {
    // gone already
  }
}

/** Removes `path` if it still holds `token` (synchronously: also used at exit). */
function releaseSync(path: string, token: string): void {
  try {
    if (parseOwner(readLockFileSync(path))?.token === token) unlinkSync(path);
  } catch {
    // gone already, or unreadable: not ours to remove
  }
}

function held(path: string, token: string): HeldLock {
  let released = false;
  const forget = registerExitCleanup(() => releaseSync(path, token));
  return {
    path,
    async release() {
      if (released) return;
      released = true;
      forget();
      try {
        const o = await readOwner(path);
        if (o !== undefined && typeof o !== 'string' && o.token === token) await unlink(path);
      } catch {
        // gone already
      }
    },
  };
}

/**
 * Runs `fn` while holding the exclusive lock `lockPath`, releasing it afterwards whatever happens.
 * @throws what `fn` throws; FerryError(E_IO | E_ABORTED) from {@link acquireLock}.
 */
export async function withLock<T>(lockPath: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const lock = await acquireLock(lockPath, opts);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
