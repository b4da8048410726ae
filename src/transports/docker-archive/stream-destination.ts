/**
 * Writing one image as a `docker save` archive into a stream: `/dev/stdout`, `/dev/fd/N`, a FIFO or a character
 * device (src/util/stream-files.ts). The archive is written once, from start to end, never seeked: the same entries
 * in the same order as the file destination writes (destination.ts), so the same bytes.
 *
 * A layer's tar header comes before its data and holds its size and its name, the digest of its uncompressed
 * bytes — known only once all of them went through. And bytes sent cannot be taken back, so only verified
 * layers are sent. So every blob is first staged whole in a temporary directory (in the temporary-files
 * directory, not beside the stream) and digest-checked. As soon as the next layer in manifest order (the order
 * `planLayers` gives) is staged, it is sent and its staged file removed; the layers that complete early wait for
 * their turn. `commit` sends the layers still staged, then the config, the legacy entries, `manifest.json` and
 * `repositories` and the end-of-archive marker in one write.
 *
 * The cost, against a regular file (where layers stream straight into the archive's temporary file): every layer
 * is written to disk and read back once; the stream receives a layer only once it is complete, and nothing before
 * the first layer is; the temporary directory must hold every layer that arrived ahead of its turn (at worst, all
 * of them, when the first layer is the last to arrive).
 *
 * On failure nothing more is written: the stream ends where it is, without `manifest.json` (written last), so a
 * reader cannot take the cut archive for a whole one.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FerryError, ErrorCode } from '../../errors.js';
import { MediaType } from '../../manifest/media-types.js';
import type { ImageManifest } from '../../manifest/types.js';
import type { OpOptions } from '../../types/context.js';
import type { BlobInfo, DestinationProperties, ImageDestination, LayerPlan, PutBlobOptions, RawManifest } from '../../types/image.js';
import type { ImageReference } from '../../types/reference.js';
import { parseDigest } from '../../util/digest.js';
import { type ArchiveTarget, openSequentialOutput, type SequentialOutput } from '../../util/stream-files.js';
import { makeTempDir, type TempDir, type TempOptions } from '../../util/temp.js';
import { VerifyingStream } from '../../util/verify-stream.js';
import type { DockerName } from '../../reference/name.js';
import { BLOB_READ_CHUNK, checkAborted, ioError } from '../shared/files.js';
import type { DockerArchiveReference } from './reference.js';
import { TarWriter } from '../../tar/writer.js';
import { checkedManifest, DOCKER_ARCHIVE_PROPERTIES, repoTagsFor, writeArchiveTail } from './write-common.js';

/** A Writable keeping what it is given (the archive's last entries, sent in one write). */
class Collector extends Writable {
  readonly chunks: Buffer[] = [];
  constructor() {
    super({ highWaterMark: 1 << 30 });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.chunks.push(chunk);
    cb();
  }
}

/** A blob this destination has: staged at `path` until sent. */
interface StoredBlob {
  path: string | undefined;
  size: number;
}

/** An ImageDestination writing a docker archive into a stream; see the module comment. */
export class DockerArchiveStreamDestination implements ImageDestination {
  readonly reference: ImageReference;
  readonly properties: DestinationProperties = DOCKER_ARCHIVE_PROPERTIES;
  /** The stream's path, as given. */
  readonly path: string;
  /** The names recorded in `RepoTags` (normalized, tagged). */
  readonly repoTags: readonly DockerName[];
  private readonly out: SequentialOutput;
  private readonly tar: TarWriter;
  private readonly staging: TempDir;
  private readonly blobs = new Map<string, StoredBlob>();
  /** Source digests of the layers in manifest order (from `planLayers`), each once. */
  private order: string[] = [];
  /** The (verified) digest each staged layer of {@link order} was stored as, by source digest. */
  private readonly ready = new Map<string, string>();
  /** Position in {@link order} of the next layer to send. */
  private next = 0;
  /** Digests of the layers sent, in order. */
  private readonly sent: string[] = [];
  /** The layers being sent (one at a time). */
  private sending: Promise<void> = Promise.resolve();
  /** What broke the stream: nothing more is written. */
  private error: unknown;
  private manifest: ImageManifest | undefined;
  private state: 'open' | 'committed' | 'closed' = 'open';
  private seq = 0;
  /** Aborted by `close`: stops a layer being sent. */
  private readonly stopped = new AbortController();

  private constructor(ref: DockerArchiveReference, repoTags: DockerName[], out: SequentialOutput, staging: TempDir) {
    this.reference = ref;
    this.path = ref.path;
    this.repoTags = repoTags;
    this.out = out;
    this.tar = new TarWriter(out.stream);
    this.staging = staging;
    // A broken pipe (the reader gone): nothing more is staged or sent.
    out.stream.on('error', (e) => {
      this.error ??= e;
    });
  }

  /** Opens `target` for writing (a FIFO waits for its reader) and a staging directory in the temporary-files directory (`temp.tmpDir`, see util/temp.ts); see openDockerArchiveDestination (destination.ts). */
  static async open(ref: DockerArchiveReference, target: Exclude<ArchiveTarget, { kind: 'file' }>, additionalTags: string[] = [], temp: TempOptions = {}): Promise<DockerArchiveStreamDestination> {
    const tags = repoTagsFor(ref, additionalTags);
    const staging = await makeTempDir(temp, 'ferry-docker-archive-');
    try {
      const out = await openSequentialOutput(target, `docker-archive: ${ref.path}`);
      return new DockerArchiveStreamDestination(ref, tags, out, staging);
    } catch (e) {
      await staging.remove().catch(() => {});
      throw e;
    }
  }

  private checkOpen(what: string): void {
    if (this.state !== 'open') throw new FerryError(ErrorCode.Io, `${what}: destination ${this.reference.toString()} is already ${this.state}`);
    if (this.error !== undefined) throw ioError(`writing ${this.path}`, this.error);
  }

  /** Records the layers' order (source digests, manifest order): each is sent as soon as it and those before it are staged. */
  planLayers(layers: LayerPlan[]): void {
    if (this.state !== 'open' || this.order.length > 0 || this.blobs.size > 0) return;
    this.order = [...new Set(layers.map((l) => l.digest))];
  }

  /** Reuses a blob this destination already has (a layer present twice). */
  async tryReusingBlob(info: BlobInfo, opts: OpOptions = {}): Promise<BlobInfo | undefined> {
    checkAborted(opts.signal, `reusing blob ${info.digest}`);
    const b = this.blobs.get(info.digest);
    if (!b) return undefined;
    this.staged(info.digest, info.digest, opts.signal);
    return { digest: info.digest, size: b.size };
  }

  /** Stages a blob, verifying its digest (and size if known); a layer is sent when its turn comes. */
  async putBlob(stream: Readable, info: BlobInfo, opts: PutBlobOptions = {}): Promise<BlobInfo> {
    this.checkOpen(`storing blob ${info.digest}`);
    if (info.digest) parseDigest(info.digest);
    const tmp = join(this.staging.path, `.in-${this.seq++}`);
    const verify = new VerifyingStream({ digest: info.digest, size: info.size, what: `blob ${info.digest || '(unknown digest)'}` });
    try {
      await pipeline(stream, verify, createWriteStream(tmp, { flags: 'wx', mode: 0o600, highWaterMark: BLOB_READ_CHUNK }), { signal: opts.signal });
    } catch (e) {
      stream.destroy();
      await rm(tmp, { force: true }).catch(() => {});
      throw ioError(`storing blob ${info.digest} for ${this.reference.toString()}`, e);
    }
    const digest = verify.digest!;
    if (this.blobs.has(digest) || this.state !== 'open') await rm(tmp, { force: true });
    else this.blobs.set(digest, { path: tmp, size: verify.bytes });
    const isConfig = info.mediaType === MediaType.DockerConfig || info.mediaType === MediaType.OciConfig;
    if (!isConfig) this.staged(opts.sourceDigest ?? info.digest, digest, opts.signal);
    return { digest, size: verify.bytes, mediaType: info.mediaType };
  }

  /** Notes that the layer from source blob `origin` is stored as `digest`, and sends what can be sent. */
  private staged(origin: string, digest: string, signal: AbortSignal | undefined): void {
    if (!this.order.includes(origin) || this.ready.has(origin)) return;
    this.ready.set(origin, digest);
    this.sending = this.sending
      .then(async () => {
        while (this.error === undefined && this.state === 'open' && this.next < this.order.length) {
          const d = this.ready.get(this.order[this.next]!);
          if (d === undefined) return;
          if (!this.sent.includes(d)) await this.send(d, signal);
          this.next++;
        }
      })
      .catch((e: unknown) => {
        this.error ??= e;
      });
  }

  /** Writes the staged layer `digest` into the stream and removes its staged file. */
  private async send(digest: string, opSignal: AbortSignal | undefined): Promise<void> {
    const signal = opSignal ? AbortSignal.any([opSignal, this.stopped.signal]) : this.stopped.signal;
    const b = this.blobs.get(digest);
    if (b?.path === undefined) throw new FerryError(ErrorCode.NotFound, `docker-archive: layer ${digest} was not stored`);
    const content = createReadStream(b.path, { highWaterMark: BLOB_READ_CHUNK, signal });
    this.sent.push(digest);
    await this.tar.addFile(`${parseDigest(digest).hex}.tar`, b.size, content, { signal });
    await rm(b.path, { force: true });
    b.path = undefined;
  }

  /** Records the image's Docker schema2 manifest (see write-common.ts). */
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

  /** Sends the layers not sent yet, then the rest of the archive, and waits until the stream took it all. */
  async commit(opts: OpOptions = {}): Promise<void> {
    this.checkOpen('committing');
    const m = this.manifest;
    if (!m) throw new FerryError(ErrorCode.Io, `committing ${this.reference.toString()}: no manifest was stored`);
    try {
      await this.sending;
      if (this.error !== undefined) throw this.error;
      const unique = [...new Set(m.layers.map((l) => l.digest))];
      if (this.sent.some((d, i) => unique[i] !== d)) {
        throw new FerryError(ErrorCode.Io, `docker-archive: layers were sent in another order than the manifest's; ${this.path} is incomplete`);
      }
      for (const d of unique.slice(this.sent.length)) await this.send(d, opts.signal);
      const config = this.blobs.get(m.config.digest);
      if (config?.path === undefined) throw new FerryError(ErrorCode.NotFound, `docker-archive: config ${m.config.digest} was not stored`);
      const tail = new Collector();
      await writeArchiveTail(new TarWriter(tail), { manifest: m, config: await readFile(config.path), repoTags: this.repoTags }, opts);
      checkAborted(opts.signal, `writing ${this.path}`);
      await this.tar.addRaw(Buffer.concat(tail.chunks));
      await this.out.finish();
    } catch (e) {
      this.error ??= e;
      await this.out.abort();
      throw ioError(`writing ${this.path}`, e);
    }
    this.state = 'committed';
    await this.staging.remove().catch(() => {});
  }

  /** Removes the staged blobs; without a commit the stream ends where it is (see the module comment). */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    const committed = this.state === 'committed';
    this.state = 'closed';
    if (!committed) {
      this.error ??= new FerryError(ErrorCode.Io, 'docker-archive: destination closed');
      this.stopped.abort(this.error);
      await this.out.abort();
    }
    await this.sending;
    await this.staging.remove().catch(() => {});
  }
}
