/**
 * `oci-archive:PATH[:REF]` and `oci-archive:PATH:@N` references: an image in a tar file of an OCI image
 * layout (containers/image `oci/archive`). Reading unpacks the archive into a temporary directory and
 * delegates to the `oci:` source; writing fills a temporary layout through the `oci:` destination and
 * tars it on commit.
 */
import { FerryError, ErrorCode } from '../../errors.js';
import type { OpOptions, SystemContext } from '../../types/context.js';
import type { ImageDestination, ImageSource } from '../../types/image.js';
import type { ImageReference, Transport } from '../../types/reference.js';
import type { ImageSelector } from '../oci-layout/layout.js';
import { resolveExplicitPath } from '../shared/paths.js';
import { pathAndParentScopes } from '../shared/policy-scopes.js';
import { ociArchiveTransport } from './transport.js';

/** An image in an OCI archive. Immutable; use `ociArchiveTransport.parseReference` for user input. */
export class OciArchiveReference implements ImageReference {
  /** The archive file as the user wrote it. */
  readonly path: string;
  /** Absolute path with symlinks resolved as far as it exists (at parse time); the policy identity. */
  readonly resolvedPath: string;
  /** The ref name to read or write; `''` for none. */
  readonly image: string;
  /** Zero-based position in the layout's `index.json` (`@N`, sources only), or undefined. */
  readonly sourceIndex: number | undefined;

  constructor(path: string, image = '', sourceIndex?: number) {
    this.path = path;
    this.resolvedPath = resolveExplicitPath(path);
    this.image = image;
    this.sourceIndex = sourceIndex;
  }

  get transport(): Transport {
    return ociArchiveTransport;
  }

  /** Which image of the archived layout this reference means. */
  get selector(): ImageSelector {
    return this.sourceIndex !== undefined ? { sourceIndex: this.sourceIndex } : this.image !== '' ? { refName: this.image } : {};
  }

  /** `PATH`, `PATH:REF` or `PATH:@N`. */
  stringWithinTransport(): string {
    if (this.sourceIndex !== undefined) return `${this.path}:@${this.sourceIndex}`;
    return this.image === '' ? this.path : `${this.path}:${this.image}`;
  }

  toString(): string {
    return `${ociArchiveTransport.name}:${this.stringWithinTransport()}`;
  }

  /** OCI archives carry no docker name. */
  dockerReference(): undefined {
    return undefined;
  }

  /** The resolved absolute file path (the ref name is not part of it, as for `oci:`). */
  policyIdentity(): string {
    return this.resolvedPath;
  }

  /** The resolved file, then its parent directories (as containers/image, which repeats the identity first). */
  policyNamespaces(): string[] {
    return pathAndParentScopes(this.resolvedPath);
  }

  async newImageSource(ctx: SystemContext, opts?: OpOptions): Promise<ImageSource> {
    const { openOciArchiveSource } = await import('./source.js');
    return openOciArchiveSource(this, { ...opts, tmpDir: ctx.tmpDir, since: ctx.archiveSince });
  }

  async newImageDestination(ctx: SystemContext, opts?: OpOptions): Promise<ImageDestination> {
    const { openOciArchiveDestination } = await import('./destination.js');
    return openOciArchiveDestination(this, ctx, opts);
  }

  /** Not supported, like containers/image. */
  async deleteImage(): Promise<void> {
    throw new FerryError(ErrorCode.Unsupported, `deleting images is not supported for oci-archive: (${this.path}); remove the file instead`);
  }
}
