/**
 * Many images written into one OCI archive at once (`sync --dest oci-archive`): every image goes into one layout
 * staged beside the archive (images copied in parallel safely: the layout's `index.json` is updated under its
 * lock), its blobs of known digest and size straight into the new archive's tar (spool.ts; each stored once), and
 * `commit` completes that tar and puts it in place — or, when the archive already holds images or a blob failed
 * half-way, writes the archive anew, merged with what it holds (merge.ts; an image of the same ref name is
 * replaced) — under the archive's lock. Blobs the archive already holds are not copied again. With earlier
 * archives (`--since`, archive-index.ts), blobs they carried are not copied either: they are left out and recorded
 * as expected at the destination. The archive's index document is written inside it and beside it
 * (`ARCHIVE.index.json`). With a split size, the archive is written as parts (`ARCHIVE.001`, … and
 * `ARCHIVE.sha256`) instead of one file. Nothing changes at the archive before `commit`; `close` removes the
 * staging.
 */
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { FerryError, ErrorCode } from '../../errors.js';
import type { OpOptions, SystemContext } from '../../types/context.js';
import type { BlobInfo, DestinationProperties, ImageDestination, PutBlobOptions, RawManifest } from '../../types/image.js';
import type { ImageReference } from '../../types/reference.js';
import { makeOwnedTempDir, removeAbandonedTempDirs } from '../../util/owned-temp-dir.js';
import { classifyArchiveTarget } from '../../util/stream-files.js';
import type { TempDir } from '../../util/temp.js';
import { readIndex } from '../oci-layout/layout.js';
import { type OciDestinationContext, type OciLayoutDestination, openOciLayoutDestination } from '../oci-layout/destination.js';
import { hasArchiveContent, rewriteArchive } from '../shared/archive-rewrite.js';
import { requireDirectory } from '../shared/files.js';
import { archivedBlobSizes, type MergeOptions, planMergedLayout, writeMergedLayout, writeMergePlan } from './merge.js';
import { ArchiveSpool } from './spool.js';
import { type EarlierArchive, readEarlierArchive, SIDE_INDEX_SUFFIX, type SizedBlob } from './archive-index.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { isSplitArchive, partPath, splitFile } from '../shared/split-parts.js';
import { DelegatingArchiveReference } from './delegating-reference.js';
import type { IndexedOciArchive } from './tar-source.js';
import { OciArchiveReference } from './reference.js';

/** Prefix of the staging directory beside the archive (the same as a single image's, so a killed run's is cleaned up). */
const TEMP_PREFIX = '.ferry-oci-archive-';
const LAYOUT_DIR = 'layout';

/** One image of the batch: the `oci:` destination on the shared layout, reusing blobs of the existing archive. */
class BatchImageDestination implements ImageDestination {
  readonly properties: DestinationProperties;
  constructor(
    readonly reference: ImageReference,
    private readonly inner: OciLayoutDestination,
    private readonly batch: OciArchiveBatch,
    /** The image's ref name. */
    private readonly refName: string,
  ) {
    this.properties = inner.properties;
  }

  async tryReusingBlob(info: BlobInfo, opts?: OpOptions): Promise<BlobInfo | undefined> {
    return (await this.batch.spool.reuse(info)) ?? (await this.inner.tryReusingBlob(info, opts)) ?? this.batch.reuseArchived(info);
  }

  /** Into the archive's tar when the digest and size are known (spool.ts), else into the staged layout. */
  putBlob(stream: Readable, info: BlobInfo, opts?: PutBlobOptions): Promise<BlobInfo> {
    return this.batch.spool.accepts(info) ? this.batch.spool.put(stream, info, opts) : this.inner.putBlob(stream, info, opts);
  }

  putManifest(manifest: RawManifest, instanceDigest?: string, opts?: OpOptions): Promise<void> {
    return this.inner.putManifest(manifest, instanceDigest, opts);
  }

  putSignatures(signatures: Buffer[], instanceDigest?: string, opts?: OpOptions): Promise<void> {
    return this.inner.putSignatures(signatures, instanceDigest, opts);
  }

  /** A manifest beside the image in the layout being written (referrers: oci-layout/tagged.ts). */
  async getTaggedManifest(tag: string, opts: OpOptions = {}): Promise<RawManifest | undefined> {
    return (await this.inner.getTaggedManifest(tag, opts)) ?? this.batch.archivedTaggedManifest(this.refName, tag, opts);
  }

  putTaggedManifest(manifest: RawManifest, tag: string, opts?: OpOptions): Promise<void> {
    return this.inner.putTaggedManifest(manifest, tag, opts);
  }

  /** Adds the image to the staged layout (the archive is written by the batch's commit). */
  commit(opts?: OpOptions): Promise<void> {
    return this.inner.commit(opts);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** `oci-archive:PATH:REF` of a batch: named as the archive's image, written into the batch's layout. */
class BatchImageReference extends DelegatingArchiveReference {
  constructor(
    ref: OciArchiveReference,
    private readonly batch: OciArchiveBatch,
  ) {
    super(ref);
  }

  override async newImageDestination(ctx: SystemContext, opts?: OpOptions): Promise<ImageDestination> {
    const inner = await openOciLayoutDestination({ dir: this.batch.layoutDir, refName: this.ref.image, reference: this, fsync: false }, ctx as OciDestinationContext, opts);
    return new BatchImageDestination(this, inner, this.batch, this.ref.image);
  }
}

/** See the module comment. */
export class OciArchiveBatch {
  /** Blobs reused from the existing archive: they must still be there at commit. */
  private readonly reused = new Set<string>();

  private constructor(
    /** The archive file. */
    readonly path: string,
    private readonly temp: TempDir,
    private readonly archived: ReadonlyMap<string, number>,
    private readonly tmpDir: string | undefined,
    private readonly earlier: EarlierArchive[],
    /** Split the archive into parts of this many bytes (`ARCHIVE.001`, …; src/transports/shared/split-parts.ts). */
    private readonly splitSize: number | undefined,
    /** The archive's tar being written, holding the blobs as they arrive. */
    readonly spool: ArchiveSpool,
    /** The file the existing archive is read from (itself, gzip'd or not, or its first part), if there is one. */
    private readonly oldFrom: string | undefined,
  ) {}

  /** The existing archive, indexed once (a gzip'd or split one made into one tar) when a tagged manifest is asked for. */
  private old?: Promise<IndexedOciArchive>;

  /** Blobs the earlier archives carried (or expected), by digest. */
  private get external(): Map<string, SizedBlob & { in: string }> {
    const m = new Map<string, SizedBlob & { in: string }>();
    for (const e of this.earlier) for (const [d, b] of e.blobs) if (!m.has(d)) m.set(d, b);
    return m;
  }

  /** The staged layout every image is written into. */
  get layoutDir(): string {
    return join(this.temp.path, LAYOUT_DIR);
  }

  /**
   * Prepares writing images into the archive at `path` (a regular file, or none yet).
   * @throws FerryError(E_NOT_FOUND) if the parent directory is missing; E_UNSUPPORTED if the path is not a regular
   *         file (streams take one image: `copy`); E_IO.
   */
  static async open(path: string, ctx: SystemContext = {}, opts: OpOptions & { since?: string[]; splitSize?: number } = {}): Promise<OciArchiveBatch> {
    const target = await classifyArchiveTarget(path, 'oci-archive');
    if (target.kind !== 'file') throw new FerryError(ErrorCode.Unsupported, `oci-archive: ${path}: several images are written only into a regular file`);
    const ref = new OciArchiveReference(path);
    await requireDirectory(dirname(ref.resolvedPath), `oci-archive: parent directory of ${path}`);
    await removeAbandonedTempDirs(dirname(ref.resolvedPath), TEMP_PREFIX);
    const earlier: EarlierArchive[] = [];
    for (const s of opts.since ?? []) earlier.push(await readEarlierArchive(s, { signal: opts.signal, tmpDir: ctx.tmpDir }));
    const temp = await makeOwnedTempDir(dirname(ref.resolvedPath), TEMP_PREFIX);
    try {
      const whole = await hasArchiveContent(path);
      const oldFrom = whole ? path : (await isSplitArchive(partPath(path, 1))) ? partPath(path, 1) : undefined;
      // blobs are reused from a plain tar only (a gzip'd or split one is not indexed for that: they are copied again)
      const archived = whole ? await archivedBlobSizes(path, opts).catch(() => new Map<string, number>()) : new Map<string, number>();
      return new OciArchiveBatch(path, temp, archived, ctx.tmpDir, earlier, opts.splitSize, await ArchiveSpool.create(temp.path), oldFrom);
    } catch (e) {
      await temp.remove().catch(() => {});
      throw e;
    }
  }

  /** The image `refName` of the archive, to copy into. */
  reference(refName: string): ImageReference {
    return new BatchImageReference(new OciArchiveReference(this.path, refName), this);
  }

  /**
   * A blob the existing archive holds (recorded: it must still be there at commit), or that an earlier archive
   * carried (left out of this one).
   */
  reuseArchived(info: BlobInfo): BlobInfo | undefined {
    const size = this.archived.get(info.digest);
    if (size !== undefined && (info.size < 0 || info.size === size)) {
      this.reused.add(info.digest);
      return { ...info, size };
    }
    for (const e of this.earlier) {
      const b = e.blobs.get(info.digest);
      if (b && (info.size < 0 || info.size === b.size)) return { ...info, size: b.size };
    }
    return undefined;
  }

  /** What the existing archive holds under `tag` beside the image named `imageRefName` (the batch merges with it). */
  async archivedTaggedManifest(imageRefName: string, tag: string, opts: OpOptions = {}): Promise<RawManifest | undefined> {
    // a gzip'd or split archive too: its fallback indexes are merged with, not replaced
    if (this.oldFrom === undefined) return undefined;
    const { IndexedOciArchive, archivedTaggedManifest } = await import('./tar-source.js');
    // opened once for every image; a failed open (an abort of the image that asked) is tried again by the next
    this.old ??= IndexedOciArchive.open(this.oldFrom, { signal: opts.signal, tmpDir: this.tmpDir }).catch((e: unknown) => {
      this.old = undefined;
      throw e;
    });
    return archivedTaggedManifest(await this.old, imageRefName, tag, opts);
  }

  /**
   * Writes the archive: what it held, with every image committed into the batch (nothing when none was).
   * @returns whether the archive was written.
   */
  async commit(opts: OpOptions = {}): Promise<boolean> {
    const staged = await readIndex(this.layoutDir, opts).catch(() => undefined);
    if (!staged || staged.manifests.length === 0) return false;
    let doc: Buffer | undefined;
    const merge: MergeOptions = {
      signal: opts.signal,
      required: this.reused,
      archive: this.path,
      external: this.external,
      indexDoc: true,
      onIndexDoc: (b: Buffer) => (doc = b),
      buildsOn: this.earlier.map((e) => ({ name: e.name, id: e.id })),
      spooled: (digest) => this.spool.source(digest, opts),
    };
    // What the archive held: the whole file, else its parts.
    const readFrom = !(await hasArchiveContent(this.path)) && (await isSplitArchive(partPath(this.path, 1))) ? partPath(this.path, 1) : this.path;
    const whenNew = await this.finishSpool(readFrom, merge, opts);
    await rewriteArchive(this.path, `OCI archive ${this.path}`, (old, tar) => writeMergedLayout(this.layoutDir, old, tar, merge), {
      sinkDir: this.temp.path,
      signal: opts.signal,
      tmpDir: this.tmpDir,
      readFrom,
      whenNew,
      place: this.splitSize === undefined ? undefined : (file) => splitFile(file, this.path, this.splitSize!, opts).then(() => {}),
      // The index beside the archive: what a later `--since` reads when the archive itself is gone.
      afterCommit: async () => {
        if (doc) await writeFileAtomic(`${this.path}${SIDE_INDEX_SUFFIX}`, doc, { signal: opts.signal });
      },
    });
    return true;
  }

  /**
   * Completes the spool into the whole archive when it can be (nothing to merge with, every blob in it whole and
   * part of the archive): returns its path, else undefined (the archive is then written anew, from the spool).
   */
  private async finishSpool(readFrom: string, merge: MergeOptions, opts: OpOptions): Promise<string | undefined> {
    if (this.spool.damaged || (await hasArchiveContent(readFrom))) return undefined;
    const plan = await planMergedLayout(this.layoutDir, undefined, merge);
    const inPlace = this.spool.digests;
    for (const d of inPlace) if (!plan.blobs.has(d)) return undefined; // a blob of no image (one that failed)
    await this.spool.finish((tar) => writeMergePlan(plan, tar, { ...merge, inPlace }), opts);
    return this.spool.path;
  }

  /** Removes the staging directory. */
  async close(): Promise<void> {
    const old = this.old;
    this.old = undefined;
    await old?.then((a) => a.close()).catch(() => {});
    await this.spool.close();
    await this.temp.remove().catch(() => {});
  }
}

/** One image written through a batch of its own: its commit also writes the archive; closing it removes the staging. */
class OneImageBatchDestination implements ImageDestination {
  readonly reference: ImageReference;
  readonly properties: DestinationProperties;
  constructor(
    private readonly inner: ImageDestination,
    private readonly batch: OciArchiveBatch,
  ) {
    this.reference = inner.reference;
    this.properties = inner.properties;
  }

  tryReusingBlob(info: BlobInfo, opts?: OpOptions): Promise<BlobInfo | undefined> {
    return this.inner.tryReusingBlob(info, opts);
  }

  putBlob(stream: Readable, info: BlobInfo, opts?: OpOptions): Promise<BlobInfo> {
    return this.inner.putBlob(stream, info, opts);
  }

  putManifest(manifest: RawManifest, instanceDigest?: string, opts?: OpOptions): Promise<void> {
    return this.inner.putManifest(manifest, instanceDigest, opts);
  }

  putSignatures(signatures: Buffer[], instanceDigest?: string, opts?: OpOptions): Promise<void> {
    return this.inner.putSignatures(signatures, instanceDigest, opts);
  }

  /** Referrers (`--include-referrers`): ref names beside the image, merged with what the archive holds. */
  getTaggedManifest(tag: string, opts?: OpOptions): Promise<RawManifest | undefined> {
    return this.inner.getTaggedManifest!(tag, opts);
  }

  putTaggedManifest(manifest: RawManifest, tag: string, opts?: OpOptions): Promise<void> {
    return this.inner.putTaggedManifest!(manifest, tag, opts);
  }

  async commit(opts?: OpOptions): Promise<void> {
    await this.inner.commit(opts);
    await this.batch.commit(opts);
  }

  async close(): Promise<void> {
    await this.inner.close().catch(() => {});
    await this.batch.close();
  }
}

/**
 * The destination of `copy … oci-archive:PATH[:REF]` with earlier archives (`ctx.archiveSince`: an incremental
 * archive) or a split size (`ctx.archiveSplitSize`): the image goes into the archive as `sync --dest oci-archive`
 * writes it, with the same index document and parts.
 * @throws FerryError(E_UNSUPPORTED) for a stream (a FIFO, a device); what {@link OciArchiveBatch.open} throws.
 */
export async function openBatchedArchiveDestination(ref: OciArchiveReference, ctx: SystemContext, opts: OpOptions = {}): Promise<ImageDestination> {
  const target = await classifyArchiveTarget(ref.path, 'oci-archive');
  if (target.kind !== 'file') throw new FerryError(ErrorCode.Unsupported, `oci-archive: ${ref.path}: an incremental or split archive is written only into a regular file`);
  const batch = await OciArchiveBatch.open(ref.path, ctx, { signal: opts.signal, since: ctx.archiveSince, splitSize: ctx.archiveSplitSize });
  try {
    return new OneImageBatchDestination(await batch.reference(ref.image).newImageDestination(ctx, opts), batch);
  } catch (e) {
    await batch.close();
    throw e;
  }
}
