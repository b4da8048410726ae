/**
 * Writing one image as a `docker save` archive (`docker-archive:PATH[:NAME:TAG]`).
 *
 * Layers are written into a temporary file next to the destination while they arrive, one at a time, in the
 * order they start (src/transports/docker-archive/layer-spool.ts: the others wait in a staging directory next
 * to the destination); the config is staged. Everything is digest-verified while it streams in. `commit` appends
 * the rest of the tar (staged layers, config, legacy entries, `manifest.json`, `repositories`) and renames the
 * file into place; if the layers reached the file in another order than the manifest's, it writes the tar once
 * more in manifest order (so the bytes are always the same). Nothing exists at PATH before commit; `close`
 * without commit removes everything. The archive has the same layout and bytes as
 * skopeo's (containers/image `docker/internal/tarfile/writer.go`): `<diffID hex>.tar` layers (uncompressed:
 * the destination asks for decompressed layers), `<config hex>.json`, legacy layer directories,
 * `manifest.json`, `repositories`.
 *
 * With a name (`docker-archive:PATH:NAME:TAG`), an image is added to an existing archive: the one-image archive is
 * written in the staging directory, then merged into PATH under its lock (merge.ts, src/transports/shared/
 * archive-rewrite.ts): an image of the same name loses it (and goes, with what only it used, when it has no other
 * name), the others stay. Without a name, an existing non-empty file is refused, as skopeo does.
 *
 * This is the destination for a regular file (or a missing one). A stream (`/dev/stdout`, a FIFO, a character
 * device) gets the same bytes written in order by stream-destination.ts; see {@link openDockerArchiveDestination}.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { FerryError, ErrorCode } from '../../errors.js';
import { MediaType } from '../../manifest/media-types.js';
import type { ImageManifest } from '../../manifest/types.js';
import type { OpOptions, SystemContext } from '../../types/context.js';
import type { BlobInfo, DestinationProperties, ImageDestination, LayerPlan, PartialDownloads, PutBlobOptions, RawManifest } from '../../types/image.js';
import type { ImageReference } from '../../types/reference.js';
import { AtomicFileSink } from '../../util/atomic.js';
import { parseDigest } from '../../util/digest.js';
import { makeOwnedTempDir, removeAbandonedTempDirs } from '../../util/owned-temp-dir.js';
import { classifyArchiveTarget } from '../../util/stream-files.js';
import type { TempDir } from '../../util/temp.js';
import { VerifyingStream } from '../../util/verify-stream.js';
import type { DockerName } from '../../reference/name.js';
import { BLOB_READ_CHUNK, checkAborted, ioError, isNotFoundError, requireDirectory } from '../shared/files.js';
import { LayerSpool, positionalWriter, sinkFd } from './layer-spool.js';
import type { DockerArchiveReference } from './reference.js';
import { DockerArchiveStreamDestination } from './stream-destination.js';
import { TarWriter } from '../../tar/writer.js';
import { checkedManifest, DOCKER_ARCHIVE_PROPERTIES, repoTagsFor, writeArchiveTail } from './write-common.js';
import { openDockerArchive } from './archive.js';
import { writeMergedDockerArchive } from './merge.js';
import { indexTar, type TarIndex } from '../../tar/file-index.js';
import { hasArchiveContent, rewriteArchive } from '../shared/archive-rewrite.js';
import { archivePartialDownloads } from '../shared/partial-downloads.js';
import { readableArchivePath, splitFile } from '../shared/split-parts.js';

/** Prefix of the staging directory created beside the archive. */
const STAGING_PREFIX = '.ferry-docker-archive-';

/** Options of {@link openDockerArchiveDestination}. */
export interface DockerArchiveDestinationOptions extends OpOptions {
  /**
   * More `NAME:TAG` names to record in the image's `RepoTags` besides the reference's own (skopeo
   * `copy --additional-tag`). Each must be tagged and must not have a digest; they are normalized
   * (`busybox:1` → `docker.io/library/busybox:1`).
   */
  additionalTags?: string[];
  /** The temporary-files directory (a gzip'd archive being added to is decompressed there). */
  tmpDir?: string;
  /** Where a copy into the archive keeps partial downloads (`DestinationProperties.partialDownloads`), if it says. */
  partialDownloads?: PartialDownloads;
  /** Write the archive as parts `PATH.001`, … of this many bytes and a checksum list (src/transports/shared/split-parts.ts). */
  splitSize?: number;
}

export { DOCKER_ARCHIVE_PROPERTIES };

/** An ImageDestination writing one image into a docker archive file; see the module comment. */
export class DockerArchiveDestination implements ImageDestination {
  readonly reference: ImageReference;
  readonly properties: DestinationProperties;
  /** The archive file to create (replaced if it exists). */
  readonly path: string;
  /** The names recorded in `RepoTags` (normalized, tagged). */
  readonly repoTags: readonly DockerName[];
  private readonly staging: TempDir;
  /** Stored blobs: staged at `path`, or (no path) placed by the spool. */
  private readonly blobs = new Map<string, { path?: string; size: number }>();
  private readonly spool: LayerSpool;
  private manifest: ImageManifest | undefined;
  private state: 'open' | 'committed' | 'closed' = 'open';
  private sink: AtomicFileSink | undefined;
  private seq = 0;
  /** The temporary-files directory. */
  private readonly tmpDir: string | undefined;

  private constructor(
    reference: DockerArchiveReference,
    repoTags: DockerName[],
    staging: TempDir,
    tmpDir?: string,
    partialDownloads?: PartialDownloads,
    private readonly splitSize?: number,
  ) {
    this.reference = reference;
    this.properties = partialDownloads !== undefined ? { ...DOCKER_ARCHIVE_PROPERTIES, partialDownloads } : DOCKER_ARCHIVE_PROPERTIES;
    this.path = reference.path;
    this.repoTags = repoTags;
    this.staging = staging;
    this.tmpDir = tmpDir;
    this.spool = new LayerSpool(reference.path, staging.path);
  }

  /** See {@link openDockerArchiveDestination}. */
  static async open(ref: DockerArchiveReference, opts: DockerArchiveDestinationOptions = {}): Promise<DockerArchiveDestination> {
    checkAborted(opts.signal, `opening ${ref.toString()}`);
    const tags = repoTagsFor(ref, opts.additionalTags);
    await requireDirectory(dirname(ref.resolvedPath), `docker-archive: parent directory of ${ref.path}`);
    // An archive split into parts is read from its first part.
    const existing = await readableArchivePath(ref.path);
    if (tags.length === 0) await refuseNonEmpty(existing);
    else if (await hasArchiveContent(existing)) await (await openDockerArchive(existing, { signal: opts.signal, tmpDir: opts.tmpDir })).close(); // not an archive: fail now
    // A run killed earlier (SIGKILL, power loss) left its staging directory, temp archive inside: clean it up.
    await removeAbandonedTempDirs(dirname(ref.resolvedPath), STAGING_PREFIX);
    const staging = await makeOwnedTempDir(dirname(ref.resolvedPath), STAGING_PREFIX);
    return new DockerArchiveDestination(ref, tags, staging, opts.tmpDir, opts.partialDownloads, opts.splitSize);
  }

  private checkOpen(what: string): void {
    if (this.state !== 'open') throw new FerryError(ErrorCode.Io, `${what}: destination ${this.reference.toString()} is already ${this.state}`);
  }

  /** Reserves the layers' places in the archive when their sizes are known (see {@link LayerSpool.plan}). */
  planLayers(layers: LayerPlan[]): void {
    if (this.state === 'open') this.spool.plan(layers);
  }

  /** Reuses a blob already staged by this destination (e.g. a layer present twice). */
  async tryReusingBlob(info: BlobInfo, opts: OpOptions = {}): Promise<BlobInfo | undefined> {
    checkAborted(opts.signal, `reusing blob ${info.digest}`);
    const b = this.blobs.get(info.digest);
    if (!b && this.state === 'open') this.spool.announce(info.digest);
    return b ? { digest: info.digest, size: b.size } : undefined;
  }

  /** Stages a blob, verifying digest (and size if known) while it streams; removes partial data on error. */
  async putBlob(stream: Readable, info: BlobInfo, opts: PutBlobOptions = {}): Promise<BlobInfo> {
    this.checkOpen(`storing blob ${info.digest}`);
    if (info.digest) parseDigest(info.digest);
    const tmp = join(this.staging.path, `.in-${this.seq++}`);
    const verify = new VerifyingStream({ digest: info.digest, size: info.size, what: `blob ${info.digest || '(unknown digest)'}` });
    if (info.mediaType !== MediaType.DockerConfig && info.mediaType !== MediaType.OciConfig) {
      // A layer (or anything not known to be a config): into the archive file as it arrives.
      const { sink, done, fail } = await this.spool.begin(tmp, opts.sourceDigest);
      try {
        await pipeline(stream, verify, sink, { signal: opts.signal });
      } catch (e) {
        await fail();
        stream.destroy();
        throw ioError(`storing blob ${info.digest} for ${this.reference.toString()}`, e);
      }
      const digest = verify.digest!;
      done({ digest, size: verify.bytes });
      this.blobs.set(digest, { size: verify.bytes });
      return { digest, size: verify.bytes, mediaType: info.mediaType };
    }
    try {
      await pipeline(stream, verify, createWriteStream(tmp, { highWaterMark: BLOB_READ_CHUNK }), { signal: opts.signal });
      const digest = verify.digest!;
      const final = join(this.staging.path, parseDigest(digest).hex);
      await rename(tmp, final);
      this.blobs.set(digest, { path: final, size: verify.bytes });
      return { digest, size: verify.bytes, mediaType: info.mediaType };
    } catch (e) {
      stream.destroy();
      await rm(tmp, { force: true }).catch(() => {});
      throw ioError(`storing blob ${info.digest} for ${this.reference.toString()}`, e);
    }
  }

  /**
   * Records the image's Docker schema2 manifest (its blobs must have been stored). The manifest itself is
   * not stored: a docker archive has none (readers synthesize it).
   * @throws FerryError(E_UNSUPPORTED) for other manifest types or an `instanceDigest` (no lists);
   *         E_NOT_FOUND if a referenced blob was not stored.
   */
  async putManifest(manifest: RawManifest, instanceDigest?: string, opts: OpOptions = {}): Promise<void> {
    this.checkOpen('storing the manifest');
    checkAborted(opts.signal, 'storing the manifest');
    this.manifest = checkedManifest(manifest, instanceDigest, (d) => this.blobs.has(d));
  }

  /** Docker archives hold no signatures: only an empty list is accepted. */
  async putSignatures(signatures: Buffer[], _instanceDigest?: string, opts: OpOptions = {}): Promise<void> {
    checkAborted(opts.signal, 'storing signatures');
    if (signatures.length > 0) throw new FerryError(ErrorCode.Unsupported, 'docker-archive: destinations do not support signatures');
  }

  /** Writes the archive (temp file next to PATH, then rename) and removes the staged blobs. */
  async commit(opts: OpOptions = {}): Promise<void> {
    this.checkOpen('committing');
    const m = this.manifest;
    if (!m) throw new FerryError(ErrorCode.Io, `committing ${this.reference.toString()}: no manifest was stored`);
    const layerDigests = m.layers.map((l) => l.digest);
    const unique = [...new Set(layerDigests)];
    let sink: AtomicFileSink | undefined;
    try {
      await this.spool.end();
      const placed = this.spool.placed;
      // The layers already in the spool's file are kept if they are the manifest's first layers, in order.
      const inOrder =
        this.spool.sink !== undefined && this.spool.contiguous && placed.length <= unique.length && placed.every((p, i) => p.digest === unique[i]);
      let out;
      if (inOrder) {
        sink = this.spool.sink!;
        out = positionalWriter(sinkFd(sink), this.spool.pos);
      } else {
        sink = await AtomicFileSink.open({ dir: this.staging.path }, { signal: opts.signal });
        out = sink.stream;
      }
      this.sink = sink;
      const tar = new TarWriter(out);
      for (const d of inOrder ? unique.slice(placed.length) : unique) {
        const blob = this.blobs.get(d)!;
        const at = placed.find((p) => p.digest === d);
        let src;
        if (blob.path !== undefined) src = createReadStream(blob.path, { highWaterMark: BLOB_READ_CHUNK, signal: opts.signal });
        else if (at && this.spool.sink) {
          src = createReadStream(this.spool.sink.tempPath, { start: at.offset, end: at.offset + at.size - 1, highWaterMark: BLOB_READ_CHUNK, signal: opts.signal });
        } else throw new FerryError(ErrorCode.NotFound, `docker-archive: layer ${d} is not in the archive`);
        await tar.addFile(`${parseDigest(d).hex}.tar`, blob.size, src, opts);
      }
      const config = this.blobs.get(m.config.digest)!;
      const configBytes = await this.readBlob(m.config.digest, config, opts);
      await writeArchiveTail(tar, { manifest: m, config: configBytes, repoTags: this.repoTags }, opts);
      if (inOrder) {
        out.end();
        await finished(out);
      }
      // A named image is merged into what PATH holds then (or renamed into place when it holds nothing); with a
      // split size, the archive is written as parts.
      const split = this.splitSize;
      const single = this.repoTags.length > 0 || split !== undefined ? join(this.staging.path, 'image.tar') : this.path;
      await sink.commit(single);
      if (!inOrder) await this.spool.sink?.abort();
      if (single !== this.path) {
        const what = `docker archive ${this.path}`;
        const merge = async (old: TarIndex | undefined, tar: TarWriter) => writeMergedDockerArchive(old!, await indexTar(single, what, opts), tar, opts);
        await rewriteArchive(this.path, what, merge, {
          sinkDir: this.staging.path,
          whenNew: single,
          keepOld: this.repoTags.length > 0,
          readFrom: await readableArchivePath(this.path),
          place: split === undefined ? undefined : (file) => splitFile(file, this.path, split, opts).then(() => {}),
          signal: opts.signal,
          tmpDir: this.tmpDir,
        });
      }
    } catch (e) {
      await this.spool.stop();
      await sink?.abort();
      await this.spool.sink?.abort();
      throw ioError(`writing ${this.path}`, e);
    }
    this.state = 'committed';
    await this.staging.remove().catch(() => {});
  }

  /** A small stored blob (the config), from staging or from where the spool placed it. */
  private async readBlob(digest: string, blob: { path?: string; size: number }, opts: OpOptions): Promise<Buffer> {
    if (blob.path !== undefined) return readSmall(blob.path, opts);
    const at = this.spool.placed.find((p) => p.digest === digest);
    if (!at || !this.spool.sink) throw new FerryError(ErrorCode.NotFound, `docker-archive: blob ${digest} is not in the archive`);
    if (at.size === 0) return Buffer.alloc(0);
    return readSmall(this.spool.sink.tempPath, opts, { start: at.offset, end: at.offset + at.size - 1 });
  }

  /** Removes staged blobs; without a commit, nothing is left at PATH. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    await this.spool.stop();
    await this.sink?.abort();
    await this.spool.sink?.abort();
    await this.staging.remove().catch(() => {});
  }
}

/** Like containers/image: an existing non-empty file is not overwritten by an image without a name. */
async function refuseNonEmpty(path: string): Promise<void> {
  let size = 0;
  try {
    const st = await stat(path);
    size = st.isFile() ? st.size : 0;
  } catch (e) {
    if (isNotFoundError(e)) return;
    throw ioError(`docker-archive: ${path}`, e);
  }
  if (size > 0) {
    throw new FerryError(ErrorCode.Unsupported, `docker-archive: ${path} exists and is not empty: modifying existing archives is not supported`);
  }
}

async function readSmall(path: string, opts: OpOptions, range: { start?: number; end?: number } = {}): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of createReadStream(path, { ...range, signal: opts.signal })) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Opens a destination writing the image as a docker archive at `ref.path`. `RepoTags` are the
 * reference's name (if any) followed by `opts.additionalTags`. For a regular file (or a missing one), a staging
 * directory is created next to it now, and the archive is renamed into place at commit; a named image is added to
 * an existing archive (which is checked now), an unnamed one refuses an existing non-empty file, like skopeo; with
 * `ctx.archiveSplitSize`, the archive is written as parts `PATH.001`, … and a checksum list (an existing split
 * archive is read from its first part). A
 * FIFO, a character device, `/dev/stdout` or `/dev/fd/N` is opened now (a FIFO's open waits for its reader) and
 * written in order (stream-destination.ts). Nothing else is replaced.
 * @throws FerryError(E_INVALID_REFERENCE) for an `@N` reference or an invalid additional tag;
 *         E_NOT_FOUND if the parent directory is missing; E_UNSUPPORTED if the file exists, is not empty and no name
 *         is given, or the path is neither a regular file nor a stream (a directory, a socket, a symlink to a file); E_IO.
 */
export async function openDockerArchiveDestination(
  ref: DockerArchiveReference,
  ctx: SystemContext,
  opts: DockerArchiveDestinationOptions = {},
): Promise<DockerArchiveDestination | DockerArchiveStreamDestination> {
  checkAborted(opts.signal, `opening ${ref.toString()}`);
  repoTagsFor(ref, opts.additionalTags); // a bad reference or tag fails before anything is opened
  const target = await classifyArchiveTarget(ref.path, 'docker-archive');
  if (target.kind !== 'file') {
    if (ctx.archiveSplitSize !== undefined) throw new FerryError(ErrorCode.Unsupported, `docker-archive: ${ref.path}: a split archive is written only into files`);
    return DockerArchiveStreamDestination.open(ref, target, opts.additionalTags, { tmpDir: ctx.tmpDir });
  }
  return DockerArchiveDestination.open(ref, { ...opts, tmpDir: opts.tmpDir ?? ctx.tmpDir, partialDownloads: archivePartialDownloads(ref.path), splitSize: opts.splitSize ?? ctx.archiveSplitSize });
}
