/** `docker-daemon:` references (containers/image `docker/daemon`). */
import { FerryError, ErrorCode } from '../../errors.js';
import type { DestinationContext, OpOptions, SystemContext } from '../../types/context.js';
import type { ImageDestination, ImageSource } from '../../types/image.js';
import type { ImageReference, Transport } from '../../types/reference.js';
import { type DockerName, fullString } from '../../reference/name.js';
import { dockerDaemonTransport } from './transport.js';

/** An image in a Docker engine, by name or by image ID. Immutable; use `dockerDaemonTransport.parseReference` for user input. */
export class DockerDaemonReference implements ImageReference {
  /** The image ID (`sha256:…`), for references by ID. */
  readonly id: string | undefined;
  /** The normalized name, with a tag or a digest, for references by name. */
  readonly name: DockerName | undefined;

  constructor(what: { id: string } | { name: DockerName }) {
    this.id = 'id' in what ? what.id : undefined;
    this.name = 'name' in what ? what.name : undefined;
  }

  get transport(): Transport {
    return dockerDaemonTransport;
  }

  /** The image ID, or the full name (`docker.io/library/busybox:latest`). */
  stringWithinTransport(): string {
    return this.id ?? fullString(this.name!);
  }

  toString(): string {
    return `${dockerDaemonTransport.name}:${this.stringWithinTransport()}`;
  }

  /** The full name, for references by name. */
  dockerReference(): string | undefined {
    return this.name !== undefined ? fullString(this.name) : undefined;
  }

  /** The digest of a name pinned by digest (`name@sha256:…`). */
  pinnedDigest(): string | undefined {
    return this.name?.digest;
  }

  /** `''`: only the transport-wide default of policy.json applies (see `validatePolicyScope`). */
  policyIdentity(): string {
    return '';
  }

  /** None. */
  policyNamespaces(): string[] {
    return [];
  }

  /** What the engine API calls the image: its ID or its full name. */
  apiName(): string {
    return this.stringWithinTransport();
  }

  async newImageSource(ctx: SystemContext, opts?: OpOptions): Promise<ImageSource> {
    const { openDockerDaemonSource } = await import('./source.js');
    return openDockerDaemonSource(this, ctx, opts);
  }

  /** Needs a `NAME:TAG` reference; `ctx.additionalTags` (`--additional-tag`) are loaded too. */
  async newImageDestination(ctx: DestinationContext, opts?: OpOptions): Promise<ImageDestination> {
    if (this.name === undefined || this.name.tag === undefined) {
      throw new FerryError(ErrorCode.InvalidReference, `invalid destination ${this.toString()}: a docker-daemon destination must be NAME:TAG`);
    }
    const { openDockerDaemonDestination } = await import('./destination.js');
    const { additionalTags } = ctx;
    return openDockerDaemonDestination(this, ctx, { ...opts, ...(additionalTags !== undefined ? { additionalTags } : {}) });
  }

  /** Not supported, like containers/image (use `docker rmi`). */
  async deleteImage(): Promise<void> {
    throw new FerryError(ErrorCode.Unsupported, `deleting images is not supported for docker-daemon: (${this.stringWithinTransport()})`);
  }
}
