/**
 * The JSON records of containers/storage: `layers.json`, `images.json`, `containers.json` and the runroot's
 * `mountpoints.json`. Records are kept as the objects read (fields ferry does not know survive a rewrite);
 * the interfaces name the fields ferry uses, with containers/storage's JSON keys.
 */
import { FerryError, ErrorCode } from '../errors.js';
import { writeFileAtomic } from '../util/atomic.js';
import { readRegularFile } from '../util/bounded-read.js';

/**
 * The largest record file ferry reads (layers.json, images.json, containers.json, mountpoints.json): 256 MiB, far
 * above what a real store holds (a record is well under 10 KiB; containers/storage itself reads them whole, without
 * a limit). A larger file is refused rather than read into memory.
 */
export const MAX_RECORDS_BYTES = 256 << 20;

/** The most ferry reads of one image big-data item (as the containers-storage destination accepts a config). */
export const MAX_BIG_DATA_BYTES = 64 << 20;

/** A layer (`layers.json`). */
export interface LayerRecord {
  id: string;
  names?: string[];
  parent?: string;
  metadata?: string;
  created?: string;
  'compressed-diff-digest'?: string;
  'compressed-size'?: number;
  'diff-digest'?: string;
  'diff-size'?: number;
  /** containers/storage archive.Compression: 0 none, 1 bzip2, 2 gzip, 3 xz, 4 zstd. */
  compression?: number;
  uidset?: number[];
  gidset?: number[];
  flags?: Record<string, unknown>;
  [k: string]: unknown;
}

/**
 * containers/storage's layer flag (`"flags": {"incomplete": true}` in layers.json): the layer's record is written with
 * it before any of its content is put in place, and without it once the layer is complete; a layer is also marked so
 * before it is removed. Whoever next takes the layers lock for writing removes the layers still marked (a writer was
 * killed making or removing them); readers never use them.
 */
export const INCOMPLETE_FLAG = 'incomplete';

/** Whether a layer is marked {@link INCOMPLETE_FLAG} (containers/storage honours the boolean `true` only). */
export function isIncomplete(l: LayerRecord): boolean {
  return l.flags?.[INCOMPLETE_FLAG] === true;
}

/** Marks a layer {@link INCOMPLETE_FLAG} (in place). */
export function markIncomplete(l: LayerRecord): void {
  l.flags = { ...(l.flags ?? {}), [INCOMPLETE_FLAG]: true };
}

/** Clears a layer's {@link INCOMPLETE_FLAG} (in place); an empty `flags` is dropped, as Go's `omitempty` drops it. */
export function clearIncomplete(l: LayerRecord): void {
  if (!l.flags) return;
  delete l.flags[INCOMPLETE_FLAG];
  if (Object.keys(l.flags).length === 0) delete l.flags;
}

/** An image (`images.json`). */
export interface ImageRecord {
  id: string;
  digest?: string;
  names?: string[];
  'names-history'?: string[];
  layer?: string;
  metadata?: string;
  'big-data-names'?: string[];
  'big-data-sizes'?: Record<string, number>;
  'big-data-digests'?: Record<string, string>;
  created?: string;
  [k: string]: unknown;
}

/** A container (`containers.json`). */
export interface ContainerRecord {
  id: string;
  names?: string[];
  image: string;
  layer: string;
  metadata?: string;
  created?: string;
  flags?: Record<string, unknown>;
  [k: string]: unknown;
}

/** A mounted layer (runroot `mountpoints.json`). */
export interface MountRecord {
  id: string;
  path: string;
  count: number;
}

/**
 * What an ID in the records may be: one file name (ferry joins IDs to store paths: `overlay/<id>`,
 * `overlay-images/<id>`, `<id>.tar-split.gz`). containers/storage makes 64-hex IDs; a record naming `..`, `a/b` or
 * an empty ID was written by someone else, and ferry refuses the store rather than read or remove outside it.
 */
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$/;

/** The fields of each kind of record that hold IDs. */
export const ID_FIELDS = {
  layers: ['id', 'parent'],
  images: ['id', 'layer'],
  containers: ['id', 'layer', 'image'],
  mounts: ['id'],
} as const;

/**
 * Checks that every record is an object whose ID fields (`fields`; `id` required) are safe file names.
 * @throws FerryError(E_IO) naming the file and the record.
 */
export function checkRecordIds<T>(path: string, records: unknown[], fields: readonly string[]): T[] {
  records.forEach((r, i) => {
    if (typeof r !== 'object' || r === null || Array.isArray(r)) {
      throw new FerryError(ErrorCode.Io, `${path}: record ${i} is not an object: refusing to use the store`);
    }
    for (const f of fields) {
      const v = (r as Record<string, unknown>)[f];
      if (v === undefined && f !== 'id') continue;
      if (typeof v !== 'string' || !SAFE_ID.test(v)) {
        throw new FerryError(ErrorCode.Io, `${path}: record ${i} has an invalid ${f} ${JSON.stringify(v)?.slice(0, 80) ?? 'undefined'}: refusing to use the store`);
      }
    }
  });
  return records as T[];
}

/**
 * Reads a JSON array file; a missing or empty file is an empty list.
 * @throws FerryError(E_IO); E_TOO_LARGE over {@link MAX_RECORDS_BYTES}, naming the file.
 */
export async function readRecords<T>(path: string): Promise<T[]> {
  let text: string;
  try {
    // containers/storage writes a regular file: a symlink or a FIFO put in its place is refused, not followed or waited on
    text = (await readRegularFile(path, { noFollow: true, limit: MAX_RECORDS_BYTES })).toString('utf8');
  } catch (e) {
    if (e instanceof FerryError) throw e;
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new FerryError(ErrorCode.Io, `reading ${path}: ${(e as Error).message}`, { cause: e });
  }
  if (text.trim() === '') return [];
  try {
    const v = JSON.parse(text) as unknown;
    if (v === null) return [];
    if (Array.isArray(v)) return v as T[];
  } catch (e) {
    throw new FerryError(ErrorCode.Io, `${path} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  // rewriting it as a list would drop what it holds
  throw new FerryError(ErrorCode.Io, `${path} is not a JSON list: refusing to use the store`);
}

/** Writes a JSON array file atomically (mode 0600, like containers/storage). */
export async function writeRecords<T>(path: string, records: T[], opts: { signal?: AbortSignal } = {}): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(records), { mode: 0o600, signal: opts.signal });
}

/** RFC 3339 with nanoseconds, as Go's time.Time marshals (ferry has millisecond precision). */
export function goTimeNow(): string {
  return new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');
}

/** containers/storage's file name for an image big-data key: the key itself if only [.0-9a-z], else `=` + base64. */
export function bigDataFileName(key: string): string {
  return /^[.0-9a-z]*$/.test(key) && key !== '' ? key : '=' + Buffer.from(key).toString('base64');
}
