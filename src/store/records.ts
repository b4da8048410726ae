/**
 * The JSON records of containers/storage: `layers.json`, `images.json`, `containers.json` and the runroot's
 * `mountpoints.json`. Records are kept as the objects read (fields ferry does not know survive a rewrite);
 * the interfaces name the fields ferry uses, with containers/storage's JSON keys.
 */
import { readFile } from 'node:fs/promises';
import { FerryError, ErrorCode } from '../errors.js';
import { writeFileAtomic } from '../util/atomic.js';

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

/** Reads a JSON array file; a missing or empty file is an empty list. @throws FerryError(E_IO) */
export async function readRecords<T>(path: string): Promise<T[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new FerryError(ErrorCode.Io, `reading ${path}: ${(e as Error).message}`, { cause: e });
  }
  if (text.trim() === '') return [];
  try {
    const v = JSON.parse(text) as unknown;
    return Array.isArray(v) ? (v as T[]) : [];
  } catch (e) {
    throw new FerryError(ErrorCode.Io, `${path} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
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
