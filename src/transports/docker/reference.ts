/**
 * `docker://NAME[:TAG][@DIGEST]` references: an image in a registry.
 * Opening sources/destinations lazy-loads the registry client, so parsing a reference stays cheap.
 */
import type { OpOptions, SystemContext } from '../../types/context.js';
import type { DestinationProbe, ImageDestination, ImageSource } from '../../types/image.js';
import type { DeleteOptions, ImageReference, Transport } from '../../types/reference.js';
import { type DockerName, fullString, parseNormalizedName, withDefaultTag } from '../../reference/name.js';
import { dockerPolicyIdentity, dockerPolicyNamespaces } from './policy-scopes.js';
import { dockerTransport } from './transport.js';
import { FerryError, ErrorCode } from '../../errors.js';

/**
 * An image in a registry. Immutable. Like skopeo's docker transport, a name with neither tag nor digest
 * gets the tag `latest`. A name with both a tag and a digest is refused, as containers/image refuses it: the tag
 * would be pushed but not read, and signatures would claim (and policies demand) an identity podman never asks for.
 */
export class DockerReference implements ImageReference {
  /** The normalized name, always with a tag or a digest, never both. */
  readonly name: DockerName;

  /**
   * Wraps an already parsed name, adding `latest` if it has neither tag nor digest.
   * @throws FerryError(E_INVALID_REFERENCE) for a name with both a tag and a digest.
   */
  constructor(name: DockerName) {
    if (name.tag !== undefined && name.digest !== undefined) {
      const { domain, path, tag, digest } = name;
      throw new FerryError(
        ErrorCode.InvalidReference,
        `invalid reference "docker://${fullString(name)}": docker references with both a tag and digest are not supported; use docker://${fullString({ domain, path, digest })} or docker://${fullString({ domain, path, tag })}`,
      );
    }
    this.name = withDefaultTag(name);
  }

  /**
   * Parses a familiar or full name without the `//` prefix (`busybox`, `quay.io/a/b:1`).
   * @throws FerryError(E_INVALID_REFERENCE)
   */
  static fromName(s: string): DockerReference {
    return new DockerReference(parseNormalizedName(s));
  }

  get transport(): Transport {
    return dockerTransport;
  }

  /** `//docker.io/library/busybox:latest`. */
  stringWithinTransport(): string {
    return `//${fullString(this.name)}`;
  }

  /** `docker://docker.io/library/busybox:latest`. */
  toString(): string {
    return `${dockerTransport.name}:${this.stringWithinTransport()}`;
  }

  /** `docker.io/library/busybox:latest`. */
  dockerReference(): string {
    return fullString(this.name);
  }

  /** The digest of a name pinned by digest (`name@sha256:…`). */
  pinnedDigest(): string | undefined {
    return this.name.digest;
  }

  /** `domain/path:tag`, or `domain/path@digest` for a name pinned by digest (its tag, if any, is not part of it). */
  policyIdentity(): string {
    return dockerPolicyIdentity(this.name);
  }

  /** The repository, its namespaces, the host, then `*.domain` wildcards. */
  policyNamespaces(): string[] {
    return dockerPolicyNamespaces(this.name);
  }

  async newImageSource(ctx: SystemContext, opts?: OpOptions): Promise<ImageSource> {
    return (await import('./source.js')).openDockerSource(this, ctx, opts);
  }

  async newImageDestination(ctx: SystemContext, opts?: OpOptions): Promise<ImageDestination> {
    return (await import('./destination.js')).openDockerDestination(this, ctx, opts);
  }

  async newDestinationProbe(ctx: SystemContext): Promise<DestinationProbe> {
    return (await import('./probe.js')).openDockerProbe(this, ctx);
  }

  readonly canDeleteTagOnly = true;

  async deleteImage(ctx: SystemContext, opts?: DeleteOptions): Promise<void> {
    await (await import('./delete.js')).deleteDockerImage(this, ctx, opts);
  }

  async listTags(ctx: SystemContext, opts?: OpOptions): Promise<string[]> {
    return (await import('./tags.js')).listDockerTags(this, ctx, opts);
  }
}
