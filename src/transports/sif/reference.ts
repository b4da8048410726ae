/** `sif:PATH` references (containers/image `sif`). */
import { FerryError, ErrorCode } from '../../errors.js';
import type { OpOptions, SystemContext } from '../../types/context.js';
import type { ImageDestination, ImageSource } from '../../types/image.js';
import type { Transport } from '../../types/reference.js';
import { PathReference } from '../shared/path-reference.js';
import { sifTransport } from './transport.js';

/** A SIF file. Immutable; use `sifTransport.parseReference` for user input. */
export class SifReference extends PathReference {
  get transport(): Transport {
    return sifTransport;
  }

  async newImageSource(ctx: SystemContext, opts?: OpOptions): Promise<ImageSource> {
    const { openSifSource } = await import('./source.js');
    return openSifSource(this, { ...opts, tmpDir: ctx.tmpDir });
  }

  /** Read only, as in containers/image. */
  async newImageDestination(): Promise<ImageDestination> {
    throw new FerryError(ErrorCode.Unsupported, `"sif:" locations can only be read from, not written to (${this.toString()})`);
  }

  async deleteImage(): Promise<void> {
    throw new FerryError(ErrorCode.Unsupported, `deleting images is not supported for sif: (${this.path})`);
  }
}
