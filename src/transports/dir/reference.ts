/** `dir:PATH` references: an image stored in skopeo's directory layout. */
import type { OpOptions, SystemContext } from '../../types/context.js';
import type { ImageDestination, ImageSource } from '../../types/image.js';
import type { ImageReference, Transport } from '../../types/reference.js';
import { FerryError, ErrorCode } from '../../errors.js';
import { resolveExplicitPath } from '../shared/paths.js';
import { parentDirectoryScopes } from '../shared/policy-scopes.js';
import { dirTransport } from './transport.js';

/** An image in a directory. Immutable. */
export class DirReference implements ImageReference {
  /** The directory as the user wrote it (may be relative; may contain `:`). */
  readonly path: string;
  /** Absolute path with symlinks resolved (at parse time); the policy identity. */
  readonly resolvedPath: string;

  /** Use `dirTransport.parseReference` for user input. */
  constructor(path: string) {
    this.path = path;
    this.resolvedPath = resolveExplicitPath(path);
  }

  get transport(): Transport {
    return dirTransport;
  }

  stringWithinTransport(): string {
    return this.path;
  }

  toString(): string {
    return `${dirTransport.name}:${this.path}`;
  }

  /** Directories carry no docker name. */
  dockerReference(): undefined {
    return undefined;
  }

  /** The resolved absolute path. */
  policyIdentity(): string {
    return this.resolvedPath;
  }

  /** The parent directories of the resolved path, nearest first. */
  policyNamespaces(): string[] {
    return parentDirectoryScopes(this.resolvedPath);
  }

  async newImageSource(_ctx: SystemContext, opts?: OpOptions): Promise<ImageSource> {
    const { openDirSource } = await import('./source.js');
    return openDirSource(this.path, this, opts);
  }

  async newImageDestination(ctx: SystemContext, opts?: OpOptions): Promise<ImageDestination> {
    return (await import('./destination.js')).openDirDestination(this, ctx, opts);
  }

  /** Like containers/image: deleting `dir:` images is not supported (remove the directory instead). */
  async deleteImage(): Promise<void> {
    throw new FerryError(ErrorCode.Unsupported, `deleting images is not supported for dir: (${this.path}); remove the directory instead`);
  }
}
