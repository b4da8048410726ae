/**
 * Reading one image of a `docker save` archive. Like containers/image (`docker/internal/tarfile/src.go`),
 * the manifest is synthesized: a Docker schema2 manifest whose config is the archive's config file and
 * whose layers are named by their diff IDs (so layers are served uncompressed: compressed layer
 * files — gzip, zstd, xz, bzip2, as `docker load` accepts them — are decompressed on the fly). The bytes are the same as skopeo's, so is the manifest digest.
 */
import { PassThrough, Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Compression, detectCompression, MAGIC_LENGTH } from '../../compression/detect.js';
import { decompressStream } from '../../compression/index.js';
import { FerryError, ErrorCode } from '../../errors.js';
import { MediaType } from '../../manifest/media-types.js';
import { serializeImageManifest } from '../../manifest/serialize.js';
import type { TempOptions } from '../../util/temp.js';
import type { OpOptions } from '../../types/context.js';
import type { BlobInfo, ImageSource, RawManifest } from '../../types/image.js';
import type { ImageReference } from '../../types/reference.js';
import { digestOf, isDigest } from '../../util/digest.js';
import { checkAborted, ioError } from '../shared/files.js';
import { type DockerArchive, openDockerArchive } from './archive.js';
import { type ArchiveSelector, MAX_JSON_SIZE, type ManifestItem, selectItem } from './format.js';
import type { TarEntry } from '../../tar/file-index.js';

/** A layer file of the image, by diff ID. */
interface LayerInfo {
  entry: TarEntry;
  /** The compression of the file (a compressed file is served decompressed). */
  compression: Compression;
  /** Uncompressed size. */
  size: number;
}

/** Where to read from. */
export interface DockerArchiveLocation {
  /** The archive file. */
  path: string;
  selector: ArchiveSelector;
  /** The reference reported by the source. */
  reference: ImageReference;
}

function invalid(what: string, why: string): FerryError {
  return new FerryError(ErrorCode.InvalidManifest, `${what}: ${why}`);
}

/** The `rootfs.diff_ids` of a config, checked. */
function diffIdsOf(config: Buffer, what: string): string[] {
  let v: unknown;
  try {
    v = JSON.parse(config.toString('utf8'));
  } catch (e) {
    throw new FerryError(ErrorCode.InvalidManifest, `${what}: the image config is not valid JSON`, { cause: e });
  }
  const rootfs = (v as { rootfs?: { diff_ids?: unknown } } | null)?.rootfs;
  const ids = rootfs?.diff_ids ?? [];
  if (!Array.isArray(ids) || ids.some((d) => typeof d !== 'string' || !isDigest(d))) {
    throw invalid(what, 'the image config has invalid rootfs.diff_ids');
  }
  return ids as string[];
}

/** Drops the first `n` bytes of a stream (to serve an offset into a decompressed layer). */
function skipBytes(n: number): Transform {
  let left = n;
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      if (left >= chunk.length) {
        left -= chunk.length;
        cb();
        return;
      }
      const rest = left > 0 ? chunk.subarray(left) : chunk;
      left = 0;
      cb(null, rest);
    },
  });
}

/** An ImageSource over one image of a docker archive. */
export class DockerArchiveSource implements ImageSource {
  readonly reference: ImageReference;
  /** Position of the image in `manifest.json`. */
  readonly index: number;
  /** Its `manifest.json` item. */
  readonly item: ManifestItem;
  private readonly archive: DockerArchive;
  private readonly config: Buffer;
  private readonly configDigest: string;
  private readonly layers: ReadonlyMap<string, LayerInfo>;
  private readonly manifest: Buffer;

  private constructor(
    reference: ImageReference,
    archive: DockerArchive,
    sel: { item: ManifestItem; index: number },
    config: Buffer,
    diffIds: string[],
    layers: Map<string, LayerInfo>,
  ) {
    this.reference = reference;
    this.archive = archive;
    this.item = sel.item;
    this.index = sel.index;
    this.config = config;
    this.configDigest = digestOf(config);
    this.layers = layers;
    this.manifest = serializeImageManifest({
      kind: 'image',
      mediaType: MediaType.DockerManifest,
      schemaVersion: 2,
      config: { mediaType: MediaType.DockerConfig, size: config.length, digest: this.configDigest },
      // containers/image labels these (uncompressed) layers with the gzip media type; doing the same
      // keeps the manifest, and its digest, identical to skopeo's.
      layers: diffIds.map((d) => ({ mediaType: MediaType.DockerLayerGzip, size: layers.get(d)!.size, digest: d })),
    });
  }

  /**
   * Opens the archive, selects the image and prepares its manifest (reads the config; decompresses
   * gzip-compressed layer files once to learn their uncompressed sizes).
   */
  static async open(loc: DockerArchiveLocation, opts: OpOptions & TempOptions = {}): Promise<DockerArchiveSource> {
    const archive = await openDockerArchive(loc.path, opts);
    try {
      const what = `docker archive ${loc.path}`;
      const sel = selectItem(archive.items, loc.selector, loc.path);
      const configEntry = archive.tar.resolve(sel.item.Config);
      if (!configEntry) throw invalid(what, `config file ${JSON.stringify(sel.item.Config)} is missing from the archive`);
      const config = await archive.tar.readEntry(configEntry, MAX_JSON_SIZE, opts);
      const diffIds = diffIdsOf(config, what);
      if (diffIds.length !== sel.item.Layers.length) {
        throw invalid(what, `inconsistent layer count: ${sel.item.Layers.length} in manifest.json, ${diffIds.length} in the config`);
      }
      const layers = new Map<string, LayerInfo>();
      for (let i = 0; i < diffIds.length; i++) {
        const id = diffIds[i]!;
        if (layers.has(id)) continue; // the same layer twice: docker save links the duplicates
        const file = sel.item.Layers[i]!;
        const entry = archive.tar.resolve(file);
        if (!entry) throw invalid(what, `layer file ${JSON.stringify(file)} is missing from the archive`);
        layers.set(id, await inspectLayer(archive, entry, opts));
      }
      return new DockerArchiveSource(loc.reference, archive, sel, config, diffIds, layers);
    } catch (e) {
      await archive.close().catch(() => {});
      throw e;
    }
  }

  /** The synthesized schema2 manifest. Instances do not exist (E_NOT_FOUND unless it is this manifest's digest). */
  async getManifest(instanceDigest?: string, opts: OpOptions = {}): Promise<RawManifest> {
    checkAborted(opts.signal, 'reading the manifest');
    if (instanceDigest !== undefined && instanceDigest !== digestOf(this.manifest)) {
      throw new FerryError(ErrorCode.NotFound, `docker archive ${this.archive.path} has no manifest instance ${instanceDigest}`);
    }
    return { bytes: Buffer.from(this.manifest), mediaType: MediaType.DockerManifest };
  }

  /** The config (by its digest) or an uncompressed layer (by its diff ID); E_NOT_FOUND otherwise. */
  async getBlob(info: BlobInfo, opts: OpOptions & { offset?: number } = {}): Promise<{ stream: Readable; size: number }> {
    checkAborted(opts.signal, `reading blob ${info.digest}`);
    const offset = opts.offset ?? 0;
    if (info.digest === this.configDigest) {
      if (offset < 0 || offset > this.config.length) throw new FerryError(ErrorCode.Io, `config: cannot read from offset ${offset}`);
      return { stream: Readable.from([this.config.subarray(offset)], { objectMode: false }), size: this.config.length };
    }
    const layer = this.layers.get(info.digest);
    if (!layer) throw new FerryError(ErrorCode.NotFound, `blob ${info.digest} not found in docker archive ${this.archive.path}`);
    if (layer.compression === 'none') return { stream: this.archive.tar.openEntry(layer.entry, { offset, signal: opts.signal }), size: layer.size };
    if (offset < 0 || offset > layer.size) throw new FerryError(ErrorCode.Io, `blob ${info.digest}: cannot read from offset ${offset}`);
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    const stages = [this.archive.tar.openEntry(layer.entry, { signal: opts.signal }), decompressStream(layer.compression)] as const;
    const pipe = offset > 0 ? pipeline(stages[0], stages[1], skipBytes(offset), out) : pipeline(stages[0], stages[1], out);
    pipe.catch((e: unknown) => out.destroy(ioError(`decompressing layer ${info.digest}`, e)));
    return { stream: out, size: layer.size };
  }

  /** Docker archives store no signatures. */
  async getSignatures(_instanceDigest?: string, opts: OpOptions = {}): Promise<Buffer[]> {
    checkAborted(opts.signal, 'reading signatures');
    return [];
  }

  /** Removes the decompressed copy of a compressed archive, if any. */
  async close(): Promise<void> {
    await this.archive.close();
  }
}

/** A layer file's compression, and its uncompressed size (decompressing it once to count). */
async function inspectLayer(archive: DockerArchive, entry: TarEntry, opts: OpOptions): Promise<LayerInfo> {
  const headEntry = { ...entry, size: Math.min(entry.size, MAGIC_LENGTH) };
  const head = await archive.tar.readEntry(headEntry, MAGIC_LENGTH, opts);
  const c = detectCompression(head);
  if (c === 'none') return { entry, compression: 'none', size: entry.size };
  let size = 0;
  try {
    await pipeline(archive.tar.openEntry(entry, { signal: opts.signal }), decompressStream(c), async (src: AsyncIterable<Buffer>) => {
      for await (const chunk of src) size += chunk.length;
    });
  } catch (e) {
    checkAborted(opts.signal, `reading layer ${entry.name}`);
    if (e instanceof FerryError && e.code !== ErrorCode.InvalidManifest) throw e;
    throw new FerryError(ErrorCode.InvalidManifest, `docker archive ${archive.path}: layer ${entry.name} is not valid ${c} data`, { cause: e });
  }
  return { entry, compression: c, size };
}

/** Opens the image a `docker-archive:` reference (or any location) selects. See {@link DockerArchiveSource.open}. */
export async function openDockerArchiveSource(
  ref: ImageReference & { path: string; selector: ArchiveSelector },
  opts: OpOptions & TempOptions = {},
): Promise<DockerArchiveSource> {
  return DockerArchiveSource.open({ path: ref.path, selector: ref.selector, reference: ref }, opts);
}
