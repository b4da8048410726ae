/**
 * `oci:PATH[:REF]` and `oci:PATH:@N` references: an image in an OCI image layout directory
 * (containers-transports(5); containers/image `oci/layout`).
 */
import type { OpOptions, SystemContext } from '../../types/context.js';
import type { DestinationProbe, ImageDestination, ImageSource } from '../../types/image.js';
import type { ImageReference, Transport } from '../../types/reference.js';
import { resolveExplicitPath } from '../shared/paths.js';
import { pathAndParentScopes } from '../shared/policy-scopes.js';
import type { ImageSelector } from './layout.js';
import { ociTransport } from './transport.js';

/** An image in an OCI layout. Immutable; validated by `ociTransport.parseReference`. */
export class OciReference implements ImageReference {
  /** The layout directory as the user wrote it (may be relative). */
  readonly dir: string;
  /** Absolute path with symlinks resolved (at parse time); the policy identity. */
  readonly resolvedDir: string;
  /** The `org.opencontainers.image.ref.name` to read or write; `''` for none. */
  readonly image: string;
  /** Zero-based position in `index.json` (`oci:PATH:@N`, sources only), or undefined. */
  readonly sourceIndex: number | undefined;

  /** Use `ociTransport.parseReference` for user input: this constructor does not validate. */
  constructor(dir: string, image = '', sourceIndex?: number) {
    this.dir = dir;
    this.resolvedDir = resolveExplicitPath(dir);
    this.image = image;
    this.sourceIndex = sourceIndex;
  }

  get transport(): Transport {
    return ociTransport;
  }

  /** Which image of the layout this reference means. */
  get selector(): ImageSelector {
    return this.sourceIndex !== undefined ? { sourceIndex: this.sourceIndex } : this.image !== '' ? { refName: this.image } : {};
  }

  /** `PATH`, `PATH:REF` or `PATH:@N`. */
  stringWithinTransport(): string {
    if (this.sourceIndex !== undefined) return `${this.dir}:@${this.sourceIndex}`;
    return this.image === '' ? this.dir : `${this.dir}:${this.image}`;
  }

  toString(): string {
    return `${ociTransport.name}:${this.stringWithinTransport()}`;
  }

  /** OCI layouts carry no docker name. */
  dockerReference(): undefined {
    return undefined;
  }

  /**
   * The resolved absolute directory. As in containers/image, the ref name is not part of it:
   * `PATH:REF` and `PATH` may mean the same image, and policy.json scopes for `oci` are directories.
   */
  policyIdentity(): string {
    return this.resolvedDir;
  }

  /** The resolved directory, then its parents (as containers/image, which repeats the identity first). */
  policyNamespaces(): string[] {
    return pathAndParentScopes(this.resolvedDir);
  }

  async newImageSource(ctx: SystemContext, opts?: OpOptions): Promise<ImageSource> {
    const { openOciLayoutSource } = await import('./source.js');
    return openOciLayoutSource({ dir: this.dir, selector: this.selector, reference: this, sharedBlobDir: ctx.ociSharedBlobDir }, opts);
  }

  async newImageDestination(ctx: SystemContext, opts?: OpOptions): Promise<ImageDestination> {
    return (await import('./destination.js')).openOciDestination(this, ctx, opts);
  }

  async newDestinationProbe(ctx: SystemContext): Promise<DestinationProbe> {
    return (await import('./destination.js')).openOciProbe(this, ctx);
  }

  async deleteImage(ctx: SystemContext, opts?: OpOptions): Promise<void> {
    await (await import('./delete.js')).deleteOciImage(this, ctx, opts);
  }
}
