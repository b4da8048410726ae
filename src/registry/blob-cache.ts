/**
 * The blob-location cache: which repositories of a registry are known to hold a blob, so a push can mount it
 * (`POST …/blobs/uploads/?mount=<digest>&from=<repo>`) instead of uploading it again — like containers/image's
 * blob-info cache, reduced to locations.
 *
 * One JSON file, `$XDG_CACHE_HOME/ferry/blob-info-cache.json` (default `~/.cache/ferry/…`; with
 * `SystemContext.homeDir` set, `<homeDir>/.cache/ferry/…`):
 * `{"version":1,"registries":{"<host>":{"<digest>":[{"repo":"a/b","time":1700000000000}, …]}}}`.
 *
 * - Records are batched in memory and merged into the file by a read–merge–write cycle (written atomically), so
 *   concurrent writers never corrupt it; at worst one writer's newest records are lost, which a cache tolerates.
 *   A batch gathers until the command flushes, the process is about to exit or {@link GATHER_RECORDS} records wait,
 *   so that a copy writes the file once with what both its sides recorded; writes are paced by what they cost (see
 *   {@link WRITE_PACE}); the file is parsed again only when it changed.
 * - A corrupt, oversized or unreadable file is treated as empty (and replaced on the next write). Anything but a
 *   regular file there (a FIFO, a device, a directory, a symbolic link) is ignored and never replaced: opening it
 *   never waits (a FIFO) and nothing is written.
 * - Capped: {@link MAX_REPOS_PER_BLOB} repositories per blob, {@link MAX_ENTRIES} (registry, digest) pairs overall;
 *   the least recently used go first.
 * - Reading is cheap for the many commands that only look locations up (a pull records the location of every blob it
 *   reads, which is a lookup as long as the record is fresh): the file is parsed once per process and change, and only
 *   the entry asked for is checked. The whole file is checked, copied and rewritten only when a record is written.
 * - Nothing here ever throws to the caller: a cache failure only costs a mount.
 */
import { lstat, mkdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { SystemContext } from '../types/context.js';
import { writeFileAtomic } from '../util/atomic.js';
import { isDigest } from '../util/digest.js';
import { readBoundedFile } from '../util/bounded-read.js';

/** Most repositories remembered per blob. */
export const MAX_REPOS_PER_BLOB = 5;
/** Most (registry, digest) entries in the file. */
export const MAX_ENTRIES = 20_000;
/**
 * A location already recorded less than this long ago is not written again: its time only orders evictions and mount
 * candidates, and skipping the rewrite spares every repeated pull (or `inspect`) of the same image a file write and
 * rename that the process would wait for before exiting.
 */
export const REFRESH_AFTER_MS = 24 * 60 * 60 * 1000;
/** Largest cache file read (a bigger one is ignored as corrupt). */
const MAX_FILE_SIZE = 32 * 1024 * 1024;

/** One known location of a blob. */
interface Location {
  repo: string;
  /** When it was last seen (ms since the epoch). */
  time: number;
}

type CacheData = Map<string, Map<string, Location[]>>;

/** Where the cache of `ctx` lives. */
export function blobCachePath(ctx: SystemContext = {}): string {
  const base = ctx.homeDir !== undefined ? join(ctx.homeDir, '.cache') : process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache');
  return join(base, 'ferry', 'blob-info-cache.json');
}

/** The `registries` object of a parsed file, unchecked below its top level (see {@link locationsIn}). */
type RawRegistries = Record<string, unknown>;

/** The `registries` of the file's text, or an empty object when the text is not a cache file of version 1. */
function parseRaw(text: string): RawRegistries {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch {
    return {};
  }
  const regs = (j as { version?: unknown; registries?: unknown } | null)?.registries;
  if ((j as { version?: unknown } | null)?.version !== 1 || typeof regs !== 'object' || regs === null || Array.isArray(regs)) return {};
  return regs as RawRegistries;
}

/** The well-formed locations of `blobs[digest]` (a fresh array), or none: what is malformed is dropped. */
function locationsIn(blobs: unknown, digest: string): Location[] {
  if (typeof blobs !== 'object' || blobs === null || !Object.hasOwn(blobs, digest) || !isDigest(digest)) return [];
  const locs = (blobs as Record<string, unknown>)[digest];
  if (!Array.isArray(locs)) return [];
  const good: Location[] = [];
  for (const l of locs as unknown[]) {
    if (typeof l === 'object' && l !== null && typeof (l as Location).repo === 'string' && (l as Location).repo !== '' && Number.isFinite((l as Location).time)) {
      good.push({ repo: (l as Location).repo, time: (l as Location).time });
    }
  }
  return good;
}

/** The locations recorded for (host, digest) in `regs`, newest first as written. */
function lookup(regs: RawRegistries, host: string, digest: string): Location[] {
  return Object.hasOwn(regs, host) ? locationsIn(regs[host], digest) : [];
}

/** Every well-formed entry of `regs`, as a structure {@link merge} may change (for a rewrite of the file). */
function toData(regs: RawRegistries): CacheData {
  const out: CacheData = new Map();
  for (const [host, blobs] of Object.entries(regs)) {
    if (typeof blobs !== 'object' || blobs === null) continue;
    const m = new Map<string, Location[]>();
    for (const digest of Object.keys(blobs)) {
      const good = locationsIn(blobs, digest);
      if (good.length) m.set(digest, good);
    }
    if (m.size) out.set(host, m);
  }
  return out;
}

function serialize(data: CacheData): string {
  return JSON.stringify({ version: 1, registries: toRaw(data) });
}

/** Adds `loc` for (host, digest), keeping the newest first and at most MAX_REPOS_PER_BLOB. */
function merge(data: CacheData, host: string, digest: string, loc: Location): void {
  let blobs = data.get(host);
  if (!blobs) data.set(host, (blobs = new Map()));
  const locs = (blobs.get(digest) ?? []).filter((l) => l.repo !== loc.repo || l.time > loc.time);
  if (!locs.some((l) => l.repo === loc.repo)) locs.push(loc);
  locs.sort((a, b) => b.time - a.time);
  blobs.set(digest, locs.slice(0, MAX_REPOS_PER_BLOB));
}

/** Whether `loc` is already recorded for (host, digest) with a time less than {@link REFRESH_AFTER_MS} older. */
function isFresh(regs: RawRegistries, host: string, digest: string, loc: Location): boolean {
  return lookup(regs, host, digest).some((l) => l.repo === loc.repo && l.time > loc.time - REFRESH_AFTER_MS);
}

/** Drops the least recently used entries beyond MAX_ENTRIES. */
function cap(data: CacheData): void {
  const all: { host: string; digest: string; time: number }[] = [];
  for (const [host, blobs] of data) for (const [digest, locs] of blobs) all.push({ host, digest, time: locs[0]?.time ?? 0 });
  if (all.length <= MAX_ENTRIES) return;
  all.sort((a, b) => a.time - b.time);
  for (const e of all.slice(0, all.length - MAX_ENTRIES)) {
    const blobs = data.get(e.host)!;
    blobs.delete(e.digest);
    if (blobs.size === 0) data.delete(e.host);
  }
}

/** The registries of `data` in the file's form (what {@link load} would return once `data` is written). */
function toRaw(data: CacheData): RawRegistries {
  const registries: Record<string, Record<string, Location[]>> = {};
  for (const [host, blobs] of data) registries[host] = Object.fromEntries(blobs);
  return registries;
}

/**
 * The cache as last parsed (or being parsed) or written by this process, with the file's identity then (inode, size,
 * mtime): while the file is unchanged it is not read and parsed again — for every blob of a push, for the lookups
 * that start together, and after each of this process's own writes. Never mutated: readers share it, a writer builds
 * a new structure from it.
 */
let memo: { path: string; key: string; regs: Promise<RawRegistries> } | undefined;

function fileKey(st: { ino: number; size: number; mtimeMs: number }): string {
  return `${st.ino}:${st.size}:${st.mtimeMs}`;
}

/**
 * The registries of the cache file at `path` (empty when it is missing, too big, corrupt or not a regular file).
 * Shared: read only.
 */
async function load(path: string): Promise<RawRegistries> {
  try {
    const st = await lstat(path);
    if (!st.isFile() || st.size > MAX_FILE_SIZE) return {};
    const key = fileKey(st);
    if (memo?.path !== path || memo.key !== key) {
      // regularFile: replaced by a FIFO since the lstat, the file is refused instead of waited for
      const regs = readBoundedFile(path, { limit: MAX_FILE_SIZE, regularFile: true }).then((b) => parseRaw(b.toString('utf8')));
      memo = { path, key, regs };
    }
    return await memo.regs;
  } catch {
    return {};
  }
}

/** Whether the cache file at `path` may be written: it is missing or a regular file (never a FIFO, link, …). */
async function replaceable(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isFile();
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/** Records waiting to be written, per cache file. */
interface Pending {
  records: { host: string; digest: string; loc: Location }[];
  /** Records being written right now. */
  inflight: { host: string; digest: string; loc: Location }[];
  /** The write in progress (it takes the records present when it starts). */
  flushing?: Promise<void>;
}
const pending = new Map<string, Pending>();

/**
 * Between two writes of a cache file, records gather for this many times as long as the last write took (at most
 * {@link MAX_PAUSE_MS}): each write rewrites the whole file, and a large cache rewritten for every blob of a push
 * would cost more than the push. The wait ends early when a command flushes ({@link flushBlobLocations}) and when the
 * process has nothing else left to do (`beforeExit`).
 */
const WRITE_PACE = 10;
const MAX_PAUSE_MS = 2000;
/**
 * Records are written when a command flushes (a registry destination does when it closes), when the process is about
 * to exit, or once this many wait: a copy's records, the source's and the destination's, make one write, and a long
 * pull of many blobs still writes what it learnt on the way. A count, not a time, so that how many writes a command
 * makes does not depend on how fast the machine is.
 */
export const GATHER_RECORDS = 1000;
/** When the next write of each cache file may start (performance.now() ms). */
const nextWriteAt = new Map<string, number>();
/** Ends the waits in progress (see {@link WRITE_PACE}). */
const waiting = new Set<() => void>();
/** Whether writes wait no more: a flush is under way, or the process is about to exit. */
let urgent = 0;
let exitHook = false;

function hurry(): void {
  for (const w of [...waiting]) w();
}

/** Waits until `at` (performance.now() ms; `Infinity`: no time), or until {@link hurry}. */
function waitUntil(at: number): Promise<void> {
  if (!exitHook) {
    exitHook = true;
    process.on('beforeExit', () => {
      urgent++;
      hurry();
    });
  }
  const ms = at - performance.now();
  if (ms <= 0 || urgent > 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      waiting.delete(done);
      resolve();
    };
    // The timer alone keeps no process alive: `beforeExit` ends the wait.
    const timer = Number.isFinite(ms) ? setTimeout(done, ms) : undefined;
    timer?.unref();
    waiting.add(done);
  });
}

async function flushOne(path: string, p: Pending): Promise<void> {
  while (p.records.length) {
    if (p.records.length < GATHER_RECORDS) await waitUntil(Infinity);
    await waitUntil(nextWriteAt.get(path) ?? 0);
    const batch = p.records.splice(0);
    p.inflight = batch;
    const started = performance.now();
    try {
      const current = await load(path);
      if (!batch.every((r) => isFresh(current, r.host, r.digest, r.loc)) && (await replaceable(path))) {
        const data = toData(current);
        for (const r of batch) merge(data, r.host, r.digest, r.loc);
        cap(data);
        await mkdir(dirname(path), { recursive: true, mode: 0o700 });
        await writeFileAtomic(path, serialize(data), { fsync: false, mode: 0o600 });
        // What was just written need not be read back. Another writer replacing the file between the rename and
        // this stat would go unseen until the file changes again: a cache tolerates that.
        memo = { path, key: fileKey(await stat(path)), regs: Promise.resolve(toRaw(data)) };
        const now = performance.now();
        nextWriteAt.set(path, now + Math.min(MAX_PAUSE_MS, (now - started) * WRITE_PACE));
      }
    } catch {
      // A cache that cannot be written only costs future mounts.
    }
    p.inflight = [];
  }
}

function schedule(path: string): Promise<void> {
  const p = pending.get(path)!;
  p.flushing ??= flushOne(path, p).finally(() => {
    p.flushing = undefined;
    if (p.records.length) void schedule(path);
    else if (pending.get(path) === p) pending.delete(path);
  });
  return p.flushing;
}

/**
 * Remembers that `repository` on `registry` holds blob `digest` (after a successful pull or push of it). The write is
 * batched and happens in the background ({@link GATHER_RECORDS}); the returned promise resolves once it is on disk (never
 * rejects): to wait for that, call {@link flushBlobLocations}. Lookups of this process see the record at once.
 */
export function recordBlobLocation(registry: string, repository: string, digest: string, ctx: SystemContext = {}): Promise<void> {
  if (!isDigest(digest) || !registry || !repository) return Promise.resolve();
  const path = blobCachePath(ctx);
  let p = pending.get(path);
  if (!p) pending.set(path, (p = { records: [], inflight: [] }));
  p.records.push({ host: registry, digest, loc: { repo: repository, time: Date.now() } });
  if (p.records.length === GATHER_RECORDS) hurry();
  return schedule(path);
}

/** Waits until every recorded location is written (for tests, and before a command exits). Never rejects. */
export async function flushBlobLocations(): Promise<void> {
  urgent++;
  try {
    hurry();
    while (pending.size) await Promise.all([...pending.values()].map((p) => p.flushing ?? Promise.resolve()));
  } finally {
    urgent--;
  }
}

/**
 * Repositories of `registry` known to hold `digest`, most recently seen first (`exclude`, typically the destination
 * repository, left out). Includes records not yet written. Never throws.
 */
export async function knownBlobLocations(registry: string, digest: string, ctx: SystemContext = {}, exclude?: string): Promise<string[]> {
  const path = blobCachePath(ctx);
  // Only this blob's entry is checked and copied, with the records not yet written merged in.
  const data: CacheData = new Map([[registry, new Map([[digest, lookup(await load(path), registry, digest)]])]]);
  const p = pending.get(path);
  for (const r of [...(p?.inflight ?? []), ...(p?.records ?? [])]) if (r.host === registry && r.digest === digest) merge(data, r.host, r.digest, r.loc);
  return (data.get(registry)!.get(digest) ?? []).map((l) => l.repo).filter((r) => r !== exclude);
}
