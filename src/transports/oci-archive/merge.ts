/**
 * An OCI archive holding several images: a new layout (the images just copied, in a directory) merged with an
 * existing archive (a tar index). The merged `index.json` is the old one with each new descriptor added as the
 * `oci:` destination adds it (a descriptor of the same ref name is replaced, see `addManifestDescriptor`); the
 * blobs are those the merged index reaches, each stored once, taken from the blobs written beside the layout
 * (spool.ts), the new layout, or else the old archive. Blobs that earlier archives carried (`--since`,
 * archive-index.ts) are left out and recorded as expected, in `ferry-archive.json`. The tar holds `blobs/`, `ferry-archive.json` (when written), `index.json` and
 * `oci-layout` in name order, like `packDirectory`, so the same content always gives the same bytes — except when
 * the blobs are already in the tar being written (spool.ts, {@link writeMergePlan}'s `inPlace`): they stay in the
 * order they arrived in, and the rest follows.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { FerryError, ErrorCode } from '../../errors.js';
import type { OpOptions } from '../../types/context.js';
import { readBoundedFile, readBoundedStream } from '../../util/bounded-read.js';
import { isDigest, parseDigest } from '../../util/digest.js';
import { indexTar, type TarEntry, type TarIndex } from '../../tar/file-index.js';
import type { TarWriter } from '../../tar/writer.js';
import { BLOBS_DIR, blobPath, INDEX_FILE, OCI_LAYOUT_CONTENT, OCI_LAYOUT_FILE, parseIndex, readIndex, refNameOf, type OciIndex } from '../oci-layout/layout.js';
import { reachableVia } from '../oci-layout/reachable.js';
import { addManifestDescriptor, emptyIndex } from '../oci-layout/writer.js';
import { ARCHIVE_INDEX_FILE, type ArchiveIndexDoc, readTarArchiveIndex, type SizedBlob } from './archive-index.js';
import { BLOB_READ_CHUNK, ioError } from '../shared/files.js';

/** Largest `index.json` read from an archive (as for every JSON document). */
const MAX_INDEX_SIZE = 4 << 20;

/** Options of {@link writeMergedLayout}. */
export interface MergeOptions extends OpOptions {
  /** Blobs the new images reused from the old archive: each must still be in it. */
  required?: ReadonlySet<string>;
  /** The archive, for messages. */
  archive: string;
  /**
   * Blobs earlier archives carried (`--since`): left out, and recorded as expected at the destination. The old
   * archive's own expected blobs are added to them.
   */
  external?: ReadonlyMap<string, SizedBlob & { in: string }>;
  /** The earlier archives this one builds on. */
  buildsOn?: { name: string; id: string }[];
  /** Write `ferry-archive.json` (also written when the old archive had one). */
  indexDoc?: boolean;
  /** Receives the bytes of `ferry-archive.json` when it is written. */
  onIndexDoc?: (bytes: Buffer) => void;
  /** Blobs written outside the layout (spool.ts), found before the layout's and the old archive's. */
  spooled?: (digest: string) => BlobSource | undefined;
}

/** The name of a blob inside a layout tar. */
function blobEntryName(digest: string): string {
  const d = parseDigest(digest);
  return `${BLOBS_DIR}/${d.algorithm}/${d.hex}`;
}

/** The file entry of blob `digest` in an archived layout (links followed), or undefined. */
export function archivedBlob(old: TarIndex, digest: string): TarEntry | undefined {
  return old.resolve(blobEntryName(digest));
}

/**
 * Reads the `index.json` of an archived layout.
 * @throws FerryError(E_INVALID_MANIFEST) when it is missing (not an OCI archive) or invalid.
 */
export async function readArchivedIndex(old: TarIndex, opts: OpOptions = {}): Promise<OciIndex> {
  const e = old.resolve(INDEX_FILE);
  if (!e) throw new FerryError(ErrorCode.InvalidManifest, `${old.what}: not an OCI archive (no ${INDEX_FILE})`);
  return parseIndex(await old.readEntry(e, MAX_INDEX_SIZE, opts), `${old.what}: ${INDEX_FILE}`);
}

/**
 * Sizes of the blobs of the (uncompressed) OCI archive at `path`, by digest: what a destination adding to it need
 * not copy again. Headers only are read.
 * @throws FerryError for an archive that cannot be indexed (a compressed one, a corrupt one).
 */
export async function archivedBlobSizes(path: string, opts: OpOptions = {}): Promise<Map<string, number>> {
  const old = await indexTar(path, `OCI archive ${path}`, opts);
  const sizes = new Map<string, number>();
  for (const e of old.list) {
    const m = /^blobs\/([a-z0-9]+)\/([a-f0-9]+)$/.exec(e.name);
    if (!m || !isDigest(`${m[1]}:${m[2]}`)) continue;
    const file = old.resolve(e.name);
    if (file) sizes.set(`${m[1]}:${m[2]}`, file.size);
  }
  return sizes;
}

/** Where a blob of the merged archive comes from. */
export interface BlobSource {
  size: number;
  open(): Readable;
}

/** What {@link planMergedLayout} finds the merged archive holds. */
export interface MergePlan {
  index: OciIndex;
  /** Its blobs, by digest (sorted). */
  blobs: Map<string, BlobSource>;
  /** Blobs left out, expected at the destination. */
  expects: (SizedBlob & { in: string })[];
  /** The old archive's `ferry-archive.json`. */
  oldDoc: Awaited<ReturnType<typeof readTarArchiveIndex>>;
}

/**
 * Writes into `tar` the merge of the layout at `layoutDir` (its `index.json` lists the new images) with the old
 * archive `old` (none: the layout alone), then finishes the tar.
 * @throws FerryError(E_NOT_FOUND) when a blob reused from the old archive is no longer in it (another writer
 *         replaced the image that had it); E_INVALID_MANIFEST for an old archive that is not an OCI layout; E_IO.
 */
export async function writeMergedLayout(layoutDir: string, old: TarIndex | undefined, tar: TarWriter, opts: MergeOptions): Promise<void> {
  await writeMergePlan(await planMergedLayout(layoutDir, old, opts), tar, opts);
}

/**
 * What the merge of the layout at `layoutDir` with the old archive `old` holds (see {@link writeMergedLayout}).
 * @throws what {@link writeMergedLayout} throws.
 */
export async function planMergedLayout(layoutDir: string, old: TarIndex | undefined, opts: MergeOptions): Promise<MergePlan> {
  const mine = await readIndex(layoutDir, opts);
  let index: OciIndex = mine;
  if (old) {
    index = await readArchivedIndex(old, opts);
    for (const d of mine.manifests) index = addManifestDescriptor(index, d);
  } else if (mine.manifests.length === 0) {
    index = emptyIndex();
  }
  const local = async (digest: string): Promise<{ path: string; size: number } | undefined> => {
    const path = blobPath(layoutDir, digest);
    try {
      const st = await stat(path);
      return st.isFile() ? { path, size: st.size } : undefined;
    } catch {
      return undefined;
    }
  };
  const sourceOf = async (digest: string): Promise<BlobSource | undefined> => {
    const s = opts.spooled?.(digest);
    if (s) return s;
    const l = await local(digest);
    if (l) return { size: l.size, open: () => createReadStream(l.path, { highWaterMark: BLOB_READ_CHUNK, signal: opts.signal }) };
    const e = old ? archivedBlob(old, digest) : undefined;
    if (e && old) return { size: e.size, open: () => old.openEntry(e, { signal: opts.signal }) };
    return undefined;
  };
  const reached = await reachableVia(index.manifests, async (digest, limit) => {
    const s = opts.spooled?.(digest);
    if (s) return s.size > limit ? undefined : readBoundedStream(s.open(), { what: `manifest ${digest}`, limit, signal: opts.signal });
    const l = await local(digest);
    if (l) return l.size > limit ? undefined : readBoundedFile(l.path, { what: `manifest ${digest}`, limit, signal: opts.signal, regularFile: true });
    const e = old ? archivedBlob(old, digest) : undefined;
    if (!e || !old || e.size > limit) return undefined;
    return old.readEntry(e, limit, opts);
  });
  const oldDoc = old ? await readTarArchiveIndex(old, opts) : undefined;
  const external = new Map(opts.external ?? []);
  for (const b of oldDoc?.doc.expects ?? []) if (!external.has(b.digest)) external.set(b.digest, b);
  const expects: (SizedBlob & { in: string })[] = [];
  const blobs = new Map<string, BlobSource>();
  for (const digest of [...reached].sort()) {
    const src = await sourceOf(digest);
    if (src) blobs.set(digest, src);
    else if (external.has(digest)) {
      const b = external.get(digest)!;
      expects.push({ digest, size: b.size, in: b.in });
    } else if (opts.required?.has(digest)) {
      throw new FerryError(ErrorCode.NotFound, `blob ${digest} was in ${opts.archive} when the copy began, but another writer has removed it since: copy again`);
    }
    // Otherwise a blob the layout never held (a foreign layer, or one missing from the old archive): left out, as in `oci:`.
  }
  return { index, blobs, expects, oldDoc };
}

/**
 * Writes the merged archive `plan` into `tar` and finishes it; with `inPlace`, the tar already holds `blobs/`,
 * `blobs/sha256/` and the blobs `inPlace` names (spool.ts), and only the others are added.
 * @throws FerryError(E_IO), E_SIZE_MISMATCH, E_ABORTED.
 */
export async function writeMergePlan(plan: MergePlan, tar: TarWriter, opts: MergeOptions & { inPlace?: ReadonlySet<string> }): Promise<void> {
  const { index, blobs, expects, oldDoc } = plan;
  const byAlg = new Map<string, string[]>();
  for (const digest of blobs.keys()) {
    const { algorithm, hex } = parseDigest(digest);
    byAlg.set(algorithm, [...(byAlg.get(algorithm) ?? []), hex]);
  }
  try {
    const inPlace = opts.inPlace;
    if (!inPlace) await tar.addDirectory(BLOBS_DIR);
    for (const alg of [...byAlg.keys()].sort()) {
      if (!inPlace || alg !== 'sha256') await tar.addDirectory(`${BLOBS_DIR}/${alg}`);
      for (const hex of byAlg.get(alg)!.sort()) {
        if (inPlace?.has(`${alg}:${hex}`)) continue;
        const src = blobs.get(`${alg}:${hex}`)!;
        await tar.addFile(`${BLOBS_DIR}/${alg}/${hex}`, src.size, src.open(), { ...opts, mode: 0o644 });
      }
    }
    if (opts.indexDoc || oldDoc) {
      const buildsOn = new Map<string, { name: string; id: string }>();
      for (const b of [...(oldDoc?.doc.buildsOn ?? []), ...(opts.buildsOn ?? [])]) buildsOn.set(b.id, b);
      const doc: ArchiveIndexDoc = {
        ferryArchive: 1,
        images: index.manifests.flatMap((d) => (refNameOf(d) !== undefined ? [{ name: refNameOf(d)!, digest: d.digest }] : [])),
        carries: [...blobs].map(([digest, b]) => ({ digest, size: b.size })).sort((a, b) => (a.digest < b.digest ? -1 : 1)),
        expects,
        buildsOn: [...buildsOn.values()],
      };
      const docBytes = Buffer.from(JSON.stringify(doc));
      await tar.addFile(ARCHIVE_INDEX_FILE, docBytes.length, docBytes, { ...opts, mode: 0o644 });
      opts.onIndexDoc?.(docBytes);
    }
    const indexBytes = Buffer.from(JSON.stringify(index));
    await tar.addFile(INDEX_FILE, indexBytes.length, indexBytes, { ...opts, mode: 0o644 });
    const marker = Buffer.from(OCI_LAYOUT_CONTENT);
    await tar.addFile(OCI_LAYOUT_FILE, marker.length, marker, { ...opts, mode: 0o644 });
    await tar.finish();
  } catch (e) {
    throw e instanceof FerryError ? e : ioError(`writing ${opts.archive}`, e);
  }
}
