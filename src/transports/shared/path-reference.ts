/**
 * What the references of transports that name one file or directory (`dir:`, `sif:`) have in common: the path as
 * the user wrote it, the fully resolved path as the policy identity, its parent directories as the policy
 * namespaces, and no docker name. Subclasses name their transport and open their sources and destinations.
 */
import type { OpOptions, SystemContext } from '../../types/context.js';
import type { ImageDestination, ImageSource } from '../../types/image.js';
import type { ImageReference, Transport } from '../../types/reference.js';
import { resolveExplicitPath } from './paths.js';
import { parentDirectoryScopes } from './policy-scopes.js';

export abstract class PathReference implements ImageReference {
  /** Absolute path with symlinks resolved as far as it exists (at parse time); the policy identity. */
  readonly resolvedPath: string;

  /** @param path the file or directory as the user wrote it (may be relative; may contain `:`). */
  constructor(readonly path: string) {
    this.resolvedPath = resolveExplicitPath(path);
  }

  abstract get transport(): Transport;

  stringWithinTransport(): string {
    return this.path;
  }

  toString(): string {
    return `${this.transport.name}:${this.path}`;
  }

  /** A path carries no docker name. */
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

  abstract newImageSource(ctx: SystemContext, opts?: OpOptions): Promise<ImageSource>;
  abstract newImageDestination(ctx: SystemContext, opts?: OpOptions): Promise<ImageDestination>;
  abstract deleteImage(ctx: SystemContext, opts?: OpOptions): Promise<void>;
}
