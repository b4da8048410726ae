/**
 * A source for an image that exists only as files plus a config ferry writes (`tarball:`, `sif:`): one OCI
 * manifest over the config (in memory) and layers (files read as they are, by digest); no instances, no signatures.
 */
import type { Readable } from 'node:stream';
import { Readable as ReadableStream } from 'node:stream';
import { FerryError, ErrorCode } from '../../errors.js';
import { goMarshal } from '../../manifest/go-json.js';
import { MediaType } from '../../manifest/media-types.js';
import type { OpOptions } from '../../types/context.js';
import type { BlobInfo, ImageSource, RawManifest } from '../../types/image.js';
import type { ImageReference } from '../../types/reference.js';
import { digestOf } from '../../util/digest.js';
import { checkAborted, openFileBlob } from './files.js';

/** One layer of a synthesized image: a file and its descriptor. */
export interface SynthesizedLayer {
  path: string;
  mediaType: string;
  digest: string;
  size: number;
}

export class SynthesizedImageSource implements ImageSource {
  private readonly manifest: Buffer;
  private readonly configDigest: string;
  private readonly layers: ReadonlyMap<string, SynthesizedLayer>;

  /**
   * @param config the config bytes, as they are served
   * @param opts.manifestMediaType whether the manifest names its own media type (containers/image's `sif` writes
   *   it, its `tarball` does not: the bytes must be theirs)
   * @param opts.close what closing the source releases (temporary files)
   */
  constructor(
    readonly reference: ImageReference,
    private readonly config: Buffer,
    layers: SynthesizedLayer[],
    private readonly opts: { manifestMediaType: boolean; close?: () => Promise<void> },
  ) {
    this.configDigest = digestOf(config);
    this.layers = new Map(layers.map((l) => [l.digest, l]));
    // Key order and omitted fields as Go marshals image-spec's `Manifest` and `Descriptor`.
    this.manifest = Buffer.from(
      goMarshal({
        schemaVersion: 2,
        mediaType: opts.manifestMediaType ? MediaType.OciManifest : undefined,
        config: { mediaType: MediaType.OciConfig, digest: this.configDigest, size: config.length },
        layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
      }),
    );
  }

  /** The synthesized OCI manifest; there are no instances. */
  async getManifest(instanceDigest?: string, opts: OpOptions = {}): Promise<RawManifest> {
    checkAborted(opts.signal, 'reading the manifest');
    if (instanceDigest !== undefined && instanceDigest !== digestOf(this.manifest)) {
      throw new FerryError(ErrorCode.NotFound, `${this.reference.toString()} has no manifest instance ${instanceDigest}`);
    }
    return { bytes: Buffer.from(this.manifest), mediaType: MediaType.OciManifest };
  }

  /** The config, or a layer file as it is, by digest. */
  async getBlob(info: BlobInfo, opts: OpOptions & { offset?: number } = {}): Promise<{ stream: Readable; size: number }> {
    checkAborted(opts.signal, `reading blob ${info.digest}`);
    const offset = opts.offset ?? 0;
    if (info.digest === this.configDigest) {
      if (!Number.isSafeInteger(offset) || offset < 0 || offset > this.config.length) throw new FerryError(ErrorCode.Io, `config: cannot read from offset ${offset}`);
      return { stream: ReadableStream.from([this.config.subarray(offset)], { objectMode: false }), size: this.config.length };
    }
    const layer = this.layers.get(info.digest);
    if (!layer) throw new FerryError(ErrorCode.NotFound, `blob ${info.digest} not found in ${this.reference.toString()}`);
    return openFileBlob(layer.path, `layer ${info.digest}`, opts);
  }

  /** None: the files carry no image signatures. */
  async getSignatures(): Promise<Buffer[]> {
    return [];
  }

  async close(): Promise<void> {
    await this.opts.close?.();
  }
}
