import type { DestinationContext, SystemContext, OpOptions } from './context.js';
import type { DestinationProbe, ImageSource, ImageDestination } from './image.js';

/** A transport: the part before the first `:` of an image name (`docker`, `oci`, `dir`, …). */
export interface Transport {
  /** Name as written in image names, without the colon, e.g. `docker`, `oci-archive`. */
  readonly name: string;
  /**
   * Parses the part after `name:` (for `docker`, after `docker:`, so it starts with `//`).
   * @throws FerryError(E_INVALID_REFERENCE) with a message naming what is wrong.
   */
  parseReference(rest: string): ImageReference;
  /**
   * Checks a scope of this transport's section in policy.json (containers-policy.json(5)): a value that
   * {@link ImageReference.policyIdentity} or {@link ImageReference.policyNamespaces} of some reference could return
   * (containers/image `ValidatePolicyConfigurationScope`). Never called for the default scope `""`.
   * @throws FerryError(E_CONFIG) naming what is wrong with `scope`.
   */
  validatePolicyScope(scope: string): void;
  /**
   * How shell completion (`ferry completion`) offers this transport: as `name:` followed by `prefix` (`//` for
   * docker), and with `paths`, what follows completes as a file-system path. Absent: `name:` alone.
   */
  readonly completion?: { readonly prefix?: string; readonly paths?: boolean };
  /**
   * Which archive options of {@link SystemContext} this transport honours: `since` (`archiveSince`, as a source and
   * as a destination) and `split` (`archiveSplitSize`, as a destination). Absent: neither.
   */
  readonly archiveOptions?: { readonly since: boolean; readonly split: boolean };
}

/** A fully parsed, immutable image reference for one transport. */
export interface ImageReference {
  readonly transport: Transport;
  /** The part after `transport:`, such that `transport.parseReference(stringWithinTransport())` gives an equal reference. */
  stringWithinTransport(): string;
  /** `transport:stringWithinTransport()`. */
  toString(): string;
  /** The docker-style name this image is known by, if any (used for signatures and RepoTags), e.g. `docker.io/library/busybox:latest`. */
  dockerReference(): string | undefined;
  /**
   * Optional: the manifest digest this reference pins (`name@sha256:…`), if any. The top-level manifest read through
   * the reference must have it (containers/image checks a canonical `DockerReference()` the same way); absent or
   * undefined: nothing is pinned.
   */
  pinnedDigest?(): string | undefined;
  /**
   * The most specific policy.json scope of this image in its transport's section (containers/image
   * `PolicyConfigurationIdentity`): for docker the full name (`host/ns/repo:tag` or `…@digest`), for file-based
   * transports the absolute path with symbolic links resolved; `''` where the transport has no scopes.
   */
  policyIdentity(): string;
  /**
   * The less specific scopes that also apply to this image, most specific first, without `policyIdentity()` and
   * without the default `""` (containers/image `PolicyConfigurationNamespaces`): for docker the repository, its
   * parent namespaces, the host, then `*.domain` wildcards; for paths the parent directories.
   */
  policyNamespaces(): string[];
  /** Opens the image for reading. May fail with E_NOT_FOUND. */
  newImageSource(ctx: SystemContext, opts?: OpOptions): Promise<ImageSource>;
  /** Opens a destination for writing this image; destinations read the {@link DestinationContext} fields they need. */
  newImageDestination(ctx: DestinationContext, opts?: OpOptions): Promise<ImageDestination>;
  /**
   * Optional: a read-only probe of the destination this reference names (what a copy would find there), for plans.
   * Transports without it cannot tell what they hold: plans say "unknown".
   */
  newDestinationProbe?(ctx: SystemContext, opts?: OpOptions): Promise<DestinationProbe>;
  /**
   * Deletes the image. May fail with E_NOT_FOUND or E_UNSUPPORTED. `opts.tagOnly` is given only to references that
   * say {@link canDeleteTagOnly}.
   */
  deleteImage(ctx: SystemContext, opts?: DeleteOptions): Promise<void>;
  /** Whether {@link deleteImage} can remove just the tag the reference names, leaving the image and its other tags. */
  readonly canDeleteTagOnly?: boolean;
  /** Optional: the tags of the repository the image is in (a registry's tag list), for inspect's `RepoTags`. */
  listTags?(ctx: SystemContext, opts?: OpOptions): Promise<string[]>;
}

/** Options of {@link ImageReference.deleteImage}. */
export interface DeleteOptions extends OpOptions {
  /** Remove only the reference's tag (the image and its other tags stay); see {@link ImageReference.canDeleteTagOnly}. */
  tagOnly?: boolean;
  /** Receives warnings for the user (e.g. "other tags are removed too"), a line each. */
  onWarning?: (message: string) => void;
}
