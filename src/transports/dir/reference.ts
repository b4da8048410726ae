/** `dir:PATH` references: an image stored in skopeo's directory layout. */
import type { OpOptions, SystemContext } from '../../types/context.js';
import type { DestinationProbe, ImageDestination, ImageSource } from '../../types/image.js';
import type { Transport } from '../../types/reference.js';
import { FerryError, ErrorCode } from '../../errors.js';
import { PathReference } from '../shared/path-reference.js';
import { dirTransport } from './transport.js';

/** An image in a directory. Immutable; use `dirTransport.parseReference` for user input. */
export class DirReference extends PathReference {
  get transport(): Transport {
    return dirTransport;
  }

  async newImageSource(_ctx: SystemContext, opts?: OpOptions): Promise<ImageSource> {
    const { openDirSource } = await import('./source.js');
    return openDirSource(this.path, this, opts);
  }

  async newImageDestination(ctx: SystemContext, opts?: OpOptions): Promise<ImageDestination> {
    return (await import('./destination.js')).openDirDestination(this, ctx, opts);
  }

  async newDestinationProbe(): Promise<DestinationProbe> {
    return (await import('./destination.js')).openDirProbe(this.path);
  }

  /** Like containers/image: deleting `dir:` images is not supported (remove the directory instead). */
  async deleteImage(): Promise<void> {
    throw new FerryError(ErrorCode.Unsupported, `deleting images is not supported for dir: (${this.path}); remove the directory instead`);
  }
}
