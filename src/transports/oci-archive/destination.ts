/**
 * Writing an image as an OCI archive: the `oci:` destination fills a layout in a temporary directory
 * next to the archive; `commit` commits that layout, tars it into a temporary file next to the archive
 * and renames it into place (an existing archive is replaced, as skopeo does). Nothing exists at PATH
 * before commit; `close` without commit removes everything.
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
import type { BlobInfo, DestinationProperties, ImageDestination, RawManifest } from '../../types/image.js';
import type { ImageReference } from '../../types/reference.js';
import { AtomicFileSink } from '../../util/atomic.js';
import type { AdoptBlobFileOptions, BlobFileAdopter } from '../../util/blob-file-adopter.js';
import { makeOwnedTempDir, removeAbandonedTempDirs } from '../../util/owned-temp-dir.js';
import { classifyArchiveTarget, openSequentialOutput, type SequentialOutput } from '../../util/stream-files.js';
import { makeTempDir, type TempDir } from '../../util/temp.js';

/** Prefix of the directory created beside the archive (the layout being written, then the archive's temp file). */
const TEMP_PREFIX = '.ferry-oci-archive-';
/** The layout's folder inside it. */
const LAYOUT_DIR = 'layout';
import { type OciDestinationContext, type OciLayoutDestination, openOciLayoutDestination } from '../oci-layout/destination.js';
import { checkAborted, ioError, requireDirectory } from '../shared/files.js';
import type { OciArchiveReference } from './reference.js';
import { packDirectory } from './unpack.js';

/** An ImageDestination writing an OCI archive; see the module comment. */
export class OciArchiveDestination implements ImageDestination, BlobFileAdopter {
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

  constructor(ref: OciArchiveReference, inner: OciLayoutDestination, temp: TempDir, out?: SequentialOutput) {
    this.reference = ref;
    this.path = ref.path;
    this.inner = inner;
    this.temp = temp;
    this.out = out;
    this.properties = inner.properties;
  }

  tryReusingBlob(info: BlobInfo, opts?: OpOptions): Promise<BlobInfo | undefined> {
    return this.inner.tryReusingBlob(info, opts);
  }

  putBlob(stream: Readable, info: BlobInfo, opts?: OpOptions): Promise<BlobInfo> {
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
    const sink = await AtomicFileSink.open({ dir: this.temp.path }, { signal: opts.signal });
    try {
      await packDirectory(join(this.temp.path, LAYOUT_DIR), sink.stream, opts);
      await sink.commit(this.path);
    } catch (e) {
      await sink.abort();
      throw ioError(`writing ${this.path}`, e);
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
export async function openOciArchiveDestination(ref: OciArchiveReference, ctx: SystemContext, opts: OpOptions = {}): Promise<OciArchiveDestination> {
  checkAborted(opts.signal, `opening ${ref.toString()}`);
  if (ref.sourceIndex !== undefined) {
    throw new FerryError(ErrorCode.InvalidReference, `${ref.toString()}: an image position (@${ref.sourceIndex}) cannot be used as a destination`);
  }
  const target = await classifyArchiveTarget(ref.path, 'oci-archive');
  let temp: TempDir;
  if (target.kind === 'file') {
    await requireDirectory(dirname(ref.resolvedPath), `oci-archive: parent directory of ${ref.path}`);
    // A run killed earlier (SIGKILL, power loss) left its layout directory beside the archive: clean it up.
    await removeAbandonedTempDirs(dirname(ref.resolvedPath), TEMP_PREFIX);
    temp = await makeOwnedTempDir(dirname(ref.resolvedPath), TEMP_PREFIX);
  } else {
    temp = await makeTempDir({ tmpDir: ctx.tmpDir }, 'ferry-oci-archive-');
  }
  let out: SequentialOutput | undefined;
  try {
    if (target.kind !== 'file') out = await openSequentialOutput(target, `oci-archive: ${ref.path}`);
    // The layout goes in a folder of its own: the owned directory also holds its lock and the archive's temp file.
    const inner = await openOciLayoutDestination({ dir: join(temp.path, LAYOUT_DIR), refName: ref.image, reference: ref }, ctx as OciDestinationContext, opts);
    return new OciArchiveDestination(ref, inner, temp, out);
  } catch (e) {
    await out?.abort();
    await temp.remove().catch(() => {});
    throw e;
  }
}
