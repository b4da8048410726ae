/** `tarball:FILE[:FILE…]` references (containers/image `tarball`). */
import { FerryError, ErrorCode } from '../../errors.js';
import type { OpOptions, SystemContext } from '../../types/context.js';
import type { ImageDestination, ImageSource } from '../../types/image.js';
import type { ImageReference, Transport } from '../../types/reference.js';
import { TARBALL_SEPARATOR, tarballTransport } from './transport.js';

/** Filesystem tarballs read as a one-layer-per-file image. Immutable; use `tarballTransport.parseReference` for user input. */
export class TarballReference implements ImageReference {
  /** The files as the user wrote them, in layer order; `-` is standard input. */
  readonly files: readonly string[];

  constructor(files: readonly string[]) {
    this.files = Object.freeze([...files]);
  }

  get transport(): Transport {
    return tarballTransport;
  }

  stringWithinTransport(): string {
    return this.files.join(TARBALL_SEPARATOR);
  }

  toString(): string {
    return `${tarballTransport.name}:${this.stringWithinTransport()}`;
  }

  /** Tarballs carry no docker name. */
  dockerReference(): undefined {
    return undefined;
  }

  /** `''`: like containers/image, only the transport-wide default of policy.json applies. */
  policyIdentity(): string {
    return '';
  }

  /** None. */
  policyNamespaces(): string[] {
    return [];
  }

  async newImageSource(ctx: SystemContext, opts?: OpOptions): Promise<ImageSource> {
    const { openTarballSource } = await import('./source.js');
    return openTarballSource(this, { ...opts, tmpDir: ctx.tmpDir });
  }

  /** Read only, as in containers/image. */
  async newImageDestination(): Promise<ImageDestination> {
    throw new FerryError(ErrorCode.Unsupported, `"tarball:" locations can only be read from, not written to (${this.toString()})`);
  }

  /** Not supported (containers/image removes the files; ferry leaves them alone: remove them yourself). */
  async deleteImage(): Promise<void> {
    throw new FerryError(ErrorCode.Unsupported, `deleting images is not supported for tarball: (${this.stringWithinTransport()}); remove the files instead`);
  }
}
