/** `sif:PATH` references (containers/image `sif`). */
import { FerryError, ErrorCode } from '../../errors.js';
import type { OpOptions, SystemContext } from '../../types/context.js';
import type { ImageDestination, ImageSource } from '../../types/image.js';
import type { ImageReference, Transport } from '../../types/reference.js';
import { resolveExplicitPath } from '../shared/paths.js';
import { parentDirectoryScopes } from '../shared/policy-scopes.js';
import { sifTransport } from './transport.js';

/** A SIF file. Immutable; use `sifTransport.parseReference` for user input. */
export class SifReference implements ImageReference {
  /** The file as the user wrote it. */
  readonly path: string;
  /** Absolute path with symlinks resolved as far as it exists (at parse time); the policy identity. */
  readonly resolvedPath: string;

  constructor(path: string) {
    this.path = path;
    this.resolvedPath = resolveExplicitPath(path);
  }

  get transport(): Transport {
    return sifTransport;
  }

  stringWithinTransport(): string {
    return this.path;
  }

  toString(): string {
    return `${sifTransport.name}:${this.path}`;
  }

  /** SIF files carry no docker name. */
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
