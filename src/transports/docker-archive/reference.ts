/**
 * `docker-archive:PATH[:NAME:TAG]` and `docker-archive:PATH:@N` references: an image in a `docker save`
 * tar file (containers/image `docker/archive`).
 */
import { FerryError, ErrorCode } from '../../errors.js';
import type { DestinationContext, OpOptions, SystemContext } from '../../types/context.js';
import type { ImageDestination, ImageSource } from '../../types/image.js';
import type { ImageReference, Transport } from '../../types/reference.js';
import { type DockerName, fullString } from '../../reference/name.js';
import { resolveExplicitPath } from '../shared/paths.js';
import type { ArchiveSelector } from './format.js';
import { dockerArchiveTransport } from './transport.js';

/** An image in a docker archive. Immutable; use `dockerArchiveTransport.parseReference` for user input. */
export class DockerArchiveReference implements ImageReference {
  /** The archive file as the user wrote it. */
  readonly path: string;
  /** Absolute path with symlinks resolved as far as it exists (at parse time). */
  readonly resolvedPath: string;
  /** The tagged docker name (`docker-archive:PATH:NAME:TAG`), if given. */
  readonly name: DockerName | undefined;
  /** Zero-based position in `manifest.json` (`docker-archive:PATH:@N`, sources only), if given. */
  readonly sourceIndex: number | undefined;

  constructor(path: string, sel: { name?: DockerName; sourceIndex?: number } = {}) {
    if (sel.name !== undefined && sel.sourceIndex !== undefined) {
      throw new FerryError(ErrorCode.InvalidReference, `docker-archive:${path}: a reference cannot have both a name and a source index`);
    }
    this.path = path;
    this.resolvedPath = resolveExplicitPath(path);
    this.name = sel.name;
    this.sourceIndex = sel.sourceIndex;
  }

  get transport(): Transport {
    return dockerArchiveTransport;
  }

  /** Which image of the archive this reference means. */
  get selector(): ArchiveSelector {
    if (this.sourceIndex !== undefined) return { sourceIndex: this.sourceIndex };
    return this.name !== undefined ? { name: this.name } : {};
  }

  /** `PATH`, `PATH:docker.io/library/busybox:latest` or `PATH:@N`. */
  stringWithinTransport(): string {
    if (this.name !== undefined) return `${this.path}:${fullString(this.name)}`;
    if (this.sourceIndex !== undefined) return `${this.path}:@${this.sourceIndex}`;
    return this.path;
  }

  toString(): string {
    return `${dockerArchiveTransport.name}:${this.stringWithinTransport()}`;
  }

  /** The full docker name, if the reference has one. */
  dockerReference(): string | undefined {
    return this.name !== undefined ? fullString(this.name) : undefined;
  }

  /**
   * `''`, like containers/image (`docker-archive` supports no policy scopes: only the transport-wide
   * default of policy.json applies).
   */
  policyIdentity(): string {
    return '';
  }

  /** None. */
  policyNamespaces(): string[] {
    return [];
  }

  async newImageSource(ctx: SystemContext, opts?: OpOptions): Promise<ImageSource> {
    const { openDockerArchiveSource } = await import('./source.js');
    return openDockerArchiveSource(this, { ...opts, tmpDir: ctx.tmpDir });
  }

  /** `ctx.additionalTags` (the copy engine's `DestinationContext`, `--additional-tag`) are added to `RepoTags`. */
  async newImageDestination(ctx: DestinationContext, opts?: OpOptions): Promise<ImageDestination> {
    const { openDockerArchiveDestination } = await import('./destination.js');
    const { additionalTags } = ctx;
    return openDockerArchiveDestination(this, ctx, { ...opts, ...(additionalTags !== undefined ? { additionalTags } : {}) });
  }

  /** Not supported, like containers/image: remove the file instead. */
  async deleteImage(): Promise<void> {
    throw new FerryError(ErrorCode.Unsupported, `deleting images is not supported for docker-archive: (${this.path}); remove the file instead`);
  }
}
