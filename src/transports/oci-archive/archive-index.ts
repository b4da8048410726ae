/**
 * ferry's index of an OCI archive, for incremental archives (`sync --dest oci-archive NEW --since OLD`): a small
 * JSON document, `ferry-archive.json` at the archive's root (OCI readers ignore it) and, for archives `sync` writes,
 * `ARCHIVE.index.json` beside the archive, so that an archive can be built on without its blobs:
 *
 * ```json
 * {"ferryArchive":1,
 *  "images":[{"name":"app:1","digest":"sha256:…"}],
 *  "carries":[{"digest":"sha256:…","size":123}],
 *  "expects":[{"digest":"sha256:…","size":456,"in":"OLD.tar"}],
 *  "buildsOn":[{"name":"OLD.tar","id":"sha256:…"}]}
 * ```
 *
 * `carries`: the blobs in the archive; `expects`: blobs its images use that it leaves out, because an earlier
 * archive (`in`) carried them, so they are expected at the destination; `buildsOn`: those earlier archives, each
 * identified by the digest of its own index document (the archive itself need not be kept).
 */
import { lstat, rm } from 'node:fs/promises';
import { basename } from 'node:path';
import { FerryError, ErrorCode } from '../../errors.js';
import type { OpOptions } from '../../types/context.js';
import { MAX_JSON_BYTES, readBoundedFile } from '../../util/bounded-read.js';
import { digestOf, isDigest } from '../../util/digest.js';
import type { TempOptions } from '../../util/temp.js';
import { uncompressedTar } from '../shared/uncompressed-tar.js';
import { indexTar, type TarIndex } from '../../tar/file-index.js';
import { ioError, isNotFoundError } from '../shared/files.js';
import { readableArchivePath } from '../shared/split-parts.js';
import { writeFileAtomic } from '../../util/atomic.js';

/** Name of the document inside the archive. */
export const ARCHIVE_INDEX_FILE = 'ferry-archive.json';
/** Suffix of the copy beside the archive. */
export const SIDE_INDEX_SUFFIX = '.index.json';

/** A blob and its size. */
export interface SizedBlob {
  digest: string;
  size: number;
}

/** See the module comment. */
export interface ArchiveIndexDoc {
  ferryArchive: 1;
  images: { name: string; digest: string }[];
  carries: SizedBlob[];
  expects: (SizedBlob & { in: string })[];
  buildsOn: { name: string; id: string }[];
}

/** The identity of an index document: the digest of its bytes. */
export function archiveIndexId(bytes: Buffer): string {
  return digestOf(bytes);
}

function sizedList(v: unknown, where: string, key: string): (SizedBlob & Record<string, unknown>)[] {
  if (!Array.isArray(v)) throw new FerryError(ErrorCode.InvalidManifest, `${where}: "${key}" is not a list`);
  return v.map((b: unknown, i) => {
    const o = (b ?? {}) as Record<string, unknown>;
    if (typeof o.digest !== 'string' || !isDigest(o.digest) || typeof o.size !== 'number' || !Number.isSafeInteger(o.size) || o.size < 0) {
      throw new FerryError(ErrorCode.InvalidManifest, `${where}: ${key}[${i}] is not a blob (digest and size)`);
    }
    return { ...o, digest: o.digest, size: o.size };
  });
}

/**
 * Parses an index document.
 * @throws FerryError(E_INVALID_MANIFEST) naming `where`.
 */
export function parseArchiveIndex(bytes: Buffer, where: string): ArchiveIndexDoc {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new FerryError(ErrorCode.InvalidManifest, `${where}: not valid JSON`, { cause: e });
  }
  const o = (typeof v === 'object' && v !== null && !Array.isArray(v) ? v : {}) as Record<string, unknown>;
  if (o.ferryArchive !== 1) throw new FerryError(ErrorCode.InvalidManifest, `${where}: not a ferry archive index (ferryArchive must be 1)`);
  const images = Array.isArray(o.images) ? (o.images as { name: string; digest: string }[]).filter((i) => typeof i?.name === 'string' && typeof i?.digest === 'string') : [];
  const buildsOn = Array.isArray(o.buildsOn) ? (o.buildsOn as { name: string; id: string }[]).filter((b) => typeof b?.name === 'string' && typeof b?.id === 'string') : [];
  const expects = sizedList(o.expects ?? [], where, 'expects').map((b) => ({ digest: b.digest, size: b.size, in: typeof b.in === 'string' ? b.in : '' }));
  const carries = sizedList(o.carries, where, 'carries').map((b) => ({ digest: b.digest, size: b.size }));
  return { ferryArchive: 1, images, carries, expects, buildsOn };
}

/** The index document of an archive's tar: its `ferry-archive.json`, if it has one. */
export async function readTarArchiveIndex(tar: TarIndex, opts: OpOptions = {}): Promise<{ doc: ArchiveIndexDoc; bytes: Buffer } | undefined> {
  const e = tar.resolve(ARCHIVE_INDEX_FILE);
  if (!e) return undefined;
  const bytes = await tar.readEntry(e, MAX_JSON_BYTES, opts);
  return { doc: parseArchiveIndex(bytes, `${tar.what}: ${ARCHIVE_INDEX_FILE}`), bytes };
}

/**
 * The file to read an archive named `path` from: `path` itself, or the first part (`PATH.001`) of an archive split
 * into parts when there is no whole file; `PATH.index.json` names the archive beside it.
 */
export async function archiveFileOf(path: string): Promise<string> {
  return readableArchivePath(path.endsWith(SIDE_INDEX_SUFFIX) ? path.slice(0, -SIDE_INDEX_SUFFIX.length) : path);
}

/** An earlier archive, as `--since` reads it. */
export interface EarlierArchive {
  /** The archive's name (its file name), recorded in `expects[].in` and `buildsOn`. */
  name: string;
  /** The digest of its index document. */
  id: string;
  /** Every blob it carries or expects: present at a destination that imported it. */
  blobs: Map<string, SizedBlob & { in: string }>;
}

/**
 * Reads what an earlier archive holds, from its index only: `PATH.index.json` beside it when there is one, `PATH`
 * itself when it is such a file, else the `ferry-archive.json` inside the archive, else (an archive ferry did not
 * write) the list of its blob entries.
 * @throws FerryError(E_NOT_FOUND) when neither the archive nor its index exists; E_INVALID_MANIFEST; E_IO.
 */
export async function readEarlierArchive(path: string, opts: OpOptions & TempOptions = {}): Promise<EarlierArchive> {
  const name = basename(path.endsWith(SIDE_INDEX_SUFFIX) ? path.slice(0, -SIDE_INDEX_SUFFIX.length) : path);
  const fromDoc = (doc: ArchiveIndexDoc, bytes: Buffer): EarlierArchive => {
    const blobs = new Map<string, SizedBlob & { in: string }>();
    for (const b of doc.expects) blobs.set(b.digest, { digest: b.digest, size: b.size, in: b.in || name });
    for (const b of doc.carries) blobs.set(b.digest, { digest: b.digest, size: b.size, in: name });
    return { name, id: archiveIndexId(bytes), blobs };
  };
  for (const side of path.endsWith(SIDE_INDEX_SUFFIX) ? [path] : [`${path}${SIDE_INDEX_SUFFIX}`]) {
    try {
      const bytes = await readBoundedFile(side, { what: `archive index ${side}`, limit: MAX_JSON_BYTES, signal: opts.signal, regularFile: true });
      return fromDoc(parseArchiveIndex(bytes, side), bytes);
    } catch (e) {
      if (e instanceof FerryError && e.code !== ErrorCode.NotFound) throw e;
      if (!(e instanceof FerryError) && !isNotFoundError(e)) throw ioError(`reading ${side}`, e);
      if (side === path) throw new FerryError(ErrorCode.NotFound, `earlier archive index ${path} does not exist`, { cause: e });
    }
  }
  const what = `OCI archive ${path}`;
  const { tarPath, temp } = await uncompressedTar(await archiveFileOf(path), what, opts);
  try {
    const tar = await indexTar(tarPath, what, opts);
    const inside = await readTarArchiveIndex(tar, opts);
    if (inside) return fromDoc(inside.doc, inside.bytes);
    const carries: SizedBlob[] = [];
    for (const e of tar.list) {
      const m = /^blobs\/([a-z0-9]+)\/([a-f0-9]+)$/.exec(e.name);
      const file = m ? tar.resolve(e.name) : undefined;
      if (m && file && isDigest(`${m[1]}:${m[2]}`)) carries.push({ digest: `${m[1]}:${m[2]}`, size: file.size });
    }
    const doc: ArchiveIndexDoc = { ferryArchive: 1, images: [], carries, expects: [], buildsOn: [] };
    return fromDoc(doc, Buffer.from(JSON.stringify(doc)));
  } finally {
    await temp?.remove().catch(() => {});
  }
}

/**
 * After `copy` rewrote an archive that has an index beside it (`PATH.index.json`, written by `sync --dest
 * oci-archive`): that index is what a later `--since PATH` reads first, so it must say what the archive now carries —
 * `doc`, the archive's new `ferry-archive.json` — or go when the archive no longer has one. Only a regular file is
 * replaced or removed; without a side index nothing is written.
 */
export async function refreshSideIndex(path: string, doc: Buffer | undefined, opts: OpOptions = {}): Promise<void> {
  const side = `${path}${SIDE_INDEX_SUFFIX}`;
  const st = await lstat(side).catch(() => undefined);
  if (!st?.isFile()) return;
  if (doc !== undefined) await writeFileAtomic(side, doc, { signal: opts.signal });
  else await rm(side, { force: true });
}
