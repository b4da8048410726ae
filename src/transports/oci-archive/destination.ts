/**
 * Writing an image as an OCI archive: the `oci:` destination fills a layout in a temporary directory
 * next to the archive; `commit` commits that layout, then, under the archive's lock, writes a new archive into a
 * temporary file next to it and renames it into place (src/transports/shared/archive-rewrite.ts). With a ref name
 * (`oci-archive:PATH:REF`), the image is added to an existing archive: the images of other names stay, one of the
 * same name is replaced, blobs are stored once and blobs nothing uses any more are left out (merge.ts); blobs the
 * archive already holds are not copied again. Without a ref name the archive is replaced, as skopeo does. Nothing
 * changes at PATH before commit; `close` without commit removes everything.
 *
 * A stream (a FIFO, a character device, `/dev/stdout`, `/dev/fd/N`: src/util/stream-files.ts) is never replaced:
 * the layout is filled in the temporary-files directory and `commit` tars it straight into the stream, the same
 * bytes as into a file. Nothing is written to the stream before commit; a failure during commit leaves it cut
 * short, mid-entry (see {@link SequentialOutput}).
 */
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { FerryError, ErrorCode } from '../../errors.js';
import type { OpOptions, SystemContext } from '../../types/context.js';
import type { AdoptBlobFileOptions, BlobInfo, DestinationProperties, ImageDestination, PutBlobOptions, RawManifest } from '../../types/image.js';
import type { ImageReference } from '../../types/reference.js';
import { makeOwnedTempDir, removeAbandonedTempDirs } from '../../util/owned-temp-dir.js';
import { classifyArchiveTarget, openSequentialOutput, type SequentialOutput } from '../../util/stream-files.js';
import { makeTempDir, type TempDir } from '../../util/temp.js';

/** Prefix of the directory created beside the archive (the layout being written, then the archive's temp file). */
const TEMP_PREFIX = '.ferry-oci-archive-';
/** The layout's folder inside it. */
const LAYOUT_DIR = 'layout';
import { type OciDestinationContext, type OciLayoutDestination, openOciLayoutDestination } from '../oci-layout/destination.js';
import { checkAborted, ioError, requireDirectory } from '../shared/files.js';
import { archivePartialDownloads } from '../shared/partial-downloads.js';
import type { OciArchiveReference } from './reference.js';
import { packDirectory } from './pack.js';
import { hasArchiveContent, rewriteArchive } from '../shared/archive-rewrite.js';
import { archivedBlobSizes, writeMergedLayout, type MergeOptions } from './merge.js';
import { refreshSideIndex } from './archive-index.js';

/** An ImageDestination writing an OCI archive; see the module comment. */
export class OciArchiveDestination implements ImageDestination {
  readonly reference: ImageReference;
  /** The `oci:` destination's properties (OCI manifests and indexes, compressed layers by default). */
  readonly properties: DestinationProperties;
  /** The archive file to write. */
  readonly path: string;
  private readonly inner: OciLayoutDestination;
  private readonly temp: TempDir;
  /** The stream written at commit, when PATH is one (else the archive is a file renamed into place). */
  private readonly out: SequentialOutput | undefined;
  private state: 'open' | 'committed' | 'closed' = 'open';
  /** The ref name written (`''`: none, the archive is replaced). */
  private readonly refName: string;
  /** The temporary-files directory (a gzip'd archive being added to is decompressed there). */
  private readonly tmpDir: string | undefined;
  /** Sizes of the blobs the existing archive held when it was opened (blobs reused from it are not copied). */
  private readonly archived: ReadonlyMap<string, number>;
  /** Blobs reused from the existing archive: they must still be there at commit. */
  private readonly reused = new Set<string>();
  /** Whether the image is added to an existing archive (gzip'd ones too: their blobs are not reused, but merged). */
  private readonly addsTo: boolean;

  constructor(ref: OciArchiveReference, inner: OciLayoutDestination, temp: TempDir, out?: SequentialOutput, more: { tmpDir?: string; archived?: ReadonlyMap<string, number>; addsTo?: boolean } = {}) {
    this.reference = ref;
    this.path = ref.path;
    this.refName = ref.image;
    this.inner = inner;
    this.temp = temp;
    this.out = out;
    this.tmpDir = more.tmpDir;
    this.archived = more.archived ?? new Map();
    this.addsTo = more.addsTo ?? this.archived.size > 0;
    this.properties = inner.properties;
  }

  /** A blob already in the temporary layout, or in the archive being added to. */
  async tryReusingBlob(info: BlobInfo, opts?: OpOptions): Promise<BlobInfo | undefined> {
    const inner = await this.inner.tryReusingBlob(info, opts);
    if (inner) return inner;
    const size = this.archived.get(info.digest);
    if (size === undefined || (info.size >= 0 && info.size !== size)) return undefined;
    this.reused.add(info.digest);
    return { ...info, size };
  }

  /** The archive's new `ferry-archive.json`, once the merge wrote one. */
  private indexDoc: Buffer | undefined;

  private mergeOptions(opts: OpOptions): MergeOptions {
    return { signal: opts.signal, required: this.reused, archive: this.path, onIndexDoc: (b) => (this.indexDoc = b) };
  }

  putBlob(stream: Readable, info: BlobInfo, opts?: PutBlobOptions): Promise<BlobInfo> {
    return this.inner.putBlob(stream, info, opts);
  }

  /** Takes a verified blob file into the temporary layout without copying it (see the `oci:` destination). */
  adoptBlobFile(path: string, info: BlobInfo, opts: AdoptBlobFileOptions): Promise<BlobInfo | undefined> {
    return this.inner.adoptBlobFile(path, info, opts);
  }

  putManifest(manifest: RawManifest, instanceDigest?: string, opts?: OpOptions): Promise<void> {
    return this.inner.putManifest(manifest, instanceDigest, opts);
  }

  putSignatures(signatures: Buffer[], instanceDigest?: string, opts?: OpOptions): Promise<void> {
    return this.inner.putSignatures(signatures, instanceDigest, opts);
  }

  /** A manifest beside the image in the layout being written (referrers: oci-layout/tagged.ts). */
  async getTaggedManifest(tag: string, opts: OpOptions = {}): Promise<RawManifest | undefined> {
    const staged = await this.inner.getTaggedManifest(tag, opts);
    // adding to an archive: what it holds under that tag (the write merges with it)
    if (staged !== undefined || this.refName === '' || !this.addsTo) return staged;
    const { taggedManifestInArchive } = await import('./tar-source.js');
    return taggedManifestInArchive(this.path, this.refName, tag, { ...opts, tmpDir: this.tmpDir });
  }

  putTaggedManifest(manifest: RawManifest, tag: string, opts?: OpOptions): Promise<void> {
    return this.inner.putTaggedManifest(manifest, tag, opts);
  }

  /** Commits the temporary layout, then writes the archive (atomically, or into the stream) and removes the layout. */
  async commit(opts: OpOptions = {}): Promise<void> {
    if (this.state !== 'open') throw new FerryError(ErrorCode.Io, `committing ${this.reference.toString()}: destination is already ${this.state}`);
    await this.inner.commit(opts);
    if (this.out) {
      try {
        await packDirectory(join(this.temp.path, LAYOUT_DIR), this.out.stream, opts);
        await this.out.finish();
      } catch (e) {
        await this.out.abort();
        throw ioError(`writing ${this.path}`, e);
      }
      this.state = 'committed';
      await this.inner.close().catch(() => {});
      await this.temp.remove().catch(() => {});
      return;
    }
    try {
      await rewriteArchive(this.path, `OCI archive ${this.path}`, (old, tar) => writeMergedLayout(join(this.temp.path, LAYOUT_DIR), old, tar, this.mergeOptions(opts)), {
        sinkDir: this.temp.path,
        keepOld: this.refName !== '',
        signal: opts.signal,
        tmpDir: this.tmpDir,
        afterCommit: () => refreshSideIndex(this.path, this.indexDoc, opts),
      });
    } catch (e) {
      throw e instanceof FerryError ? e : ioError(`writing ${this.path}`, e);
    }
    this.state = 'committed';
    await this.inner.close().catch(() => {});
    await this.temp.remove().catch(() => {});
  }

  /** Removes the temporary layout; without a commit nothing is left at PATH (a stream gets nothing). */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    if (this.state === 'open') await this.out?.abort();
    this.state = 'closed';
    await this.inner.close().catch(() => {});
    await this.temp.remove().catch(() => {});
  }
}

/**
 * Opens a destination writing an OCI archive at `ref.path` (ref name `ref.image`). `ctx` is passed to the
 * `oci:` destination (e.g. `ociAcceptUncompressedLayers`). A regular file (or a missing one) gets the archive
 * renamed over it at commit; a FIFO, a character device, `/dev/stdout` or `/dev/fd/N` is opened now (a FIFO's
 * open waits for its reader) and written at commit. Nothing else is replaced.
 * @throws FerryError(E_INVALID_REFERENCE) for `@N` references; E_NOT_FOUND if the parent directory is missing;
 *         E_UNSUPPORTED if the path is neither a regular file nor a stream (a directory, a socket, a symlink to a file); E_IO.
 */
export async function openOciArchiveDestination(ref: OciArchiveReference, ctx: SystemContext, opts: OpOptions = {}): Promise<ImageDestination> {
  checkAborted(opts.signal, `opening ${ref.toString()}`);
  if (ref.sourceIndex !== undefined) {
    throw new FerryError(ErrorCode.InvalidReference, `${ref.toString()}: an image position (@${ref.sourceIndex}) cannot be used as a destination`);
  }
  // An incremental or split archive: written as `sync --dest oci-archive` writes one (batch.ts).
  if ((ctx.archiveSince?.length ?? 0) > 0 || ctx.archiveSplitSize !== undefined) {
    return (await import('./batch.js')).openBatchedArchiveDestination(ref, ctx, opts);
  }
  const target = await classifyArchiveTarget(ref.path, 'oci-archive');
  let temp: TempDir;
  let archived: Map<string, number> | undefined;
  let addsTo = false;
  if (target.kind === 'file') {
    await requireDirectory(dirname(ref.resolvedPath), `oci-archive: parent directory of ${ref.path}`);
    // A run killed earlier (SIGKILL, power loss) left its layout directory beside the archive: clean it up.
    await removeAbandonedTempDirs(dirname(ref.resolvedPath), TEMP_PREFIX);
    temp = await makeOwnedTempDir(dirname(ref.resolvedPath), TEMP_PREFIX);
    // Adding to an archive: what it holds need not be copied again (a gzip'd one is not indexed: no reuse).
    addsTo = ref.image !== '' && (await hasArchiveContent(ref.path));
    if (addsTo) archived = await archivedBlobSizes(ref.path, opts).catch(() => undefined);
  } else {
    temp = await makeTempDir({ tmpDir: ctx.tmpDir }, 'ferry-oci-archive-');
  }
  let out: SequentialOutput | undefined;
  try {
    if (target.kind !== 'file') out = await openSequentialOutput(target, `oci-archive: ${ref.path}`);
    // The layout goes in a folder of its own: the owned directory also holds its lock and the archive's temp file.
    const partialDownloads = target.kind === 'file' ? archivePartialDownloads(ref.path) : undefined;
    const inner = await openOciLayoutDestination({ dir: join(temp.path, LAYOUT_DIR), refName: ref.image, reference: ref, fsync: false, partialDownloads }, ctx as OciDestinationContext, opts);
    return new OciArchiveDestination(ref, inner, temp, out, { tmpDir: ctx.tmpDir, archived, addsTo });
  } catch (e) {
    await out?.abort();
    await temp.remove().catch(() => {});
    throw e;
  }
}
