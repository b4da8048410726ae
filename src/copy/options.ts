/** Options and callbacks of the copy engine ({@link copyImage}). */
import type { DestinationContext, SystemContext } from '../types/context.js';
import type { ImageEventListener, ProgressListener } from '../types/progress.js';
import type { Platform } from '../manifest/types.js';
import type { PolicyContext } from '../signature/policy/evaluate.js';
import type { ManifestSigner } from '../signature/signer.js';
import type { Limit } from '../util/limit.js';

export type { DestinationContext } from '../types/context.js';

/** How to treat a multi-platform source (skopeo `--multi-arch`). */
export type MultiArch = 'system' | 'all' | 'index-only';

/** Layer compression wanted by the user (`--dest-compress`, `--dest-decompress`, `--dest-compress-format`, `--dest-compress-level`). */
export interface CompressOptions {
  /** `preserve`: do what the destination wants; `compress` / `decompress` override it. */
  mode: 'preserve' | 'compress' | 'decompress';
  /** Format used when compressing; an explicitly given format also recompresses layers compressed otherwise. */
  format?: 'gzip' | 'zstd';
  /** Compression level (gzip 1–9, zstd 1–22). */
  level?: number;
}

/** A notable step of a copy, for the CLI's `Writing manifest to image destination` style messages. */
export type CopyPhase =
  | { kind: 'signatures-get'; list: boolean }
  | { kind: 'list-copy'; count: number; total: number }
  | { kind: 'instance'; index: number; count: number; digest: string }
  | { kind: 'foreign-layer'; digest: string }
  | { kind: 'manifest-write'; list: boolean }
  | { kind: 'signatures-store'; list: boolean }
  /** A new signature is being made (`index` of `count` signers). */
  | { kind: 'signing'; signer: ManifestSigner['kind']; index: number; count: number }
  /**
   * A blob continues from `offset` rather than from zero: `attempt` 0 when a partial download of an earlier run is
   * picked up, n ≥ 1 when the source is opened again after the n-th failure mid-stream (`reason`).
   */
  | { kind: 'blob-resume'; digest: string; offset: number; attempt: number; reason?: string };

/** Options of {@link copyImage}. */
export interface CopyOptions {
  /**
   * The trust policy (policy.json, or `PolicyContext.acceptAnything()` for `--insecure-policy`): the source image
   * must satisfy it before the destination is opened. Required, so that no caller copies without one.
   */
  policy: PolicyContext;
  /** Source side settings (credentials, TLS, platform choice in `platform`). */
  srcCtx?: SystemContext;
  /** Destination side settings. */
  destCtx?: DestinationContext;
  /** Aborts every stream; the destination is closed without commit. */
  signal?: AbortSignal;
  /** Progress of blobs (start/bytes/done/skipped); `bytes` events are throttled. */
  onProgress?: ProgressListener;
  /** Image-level progress: each image's plan before its blobs, manifests written, the copy committed. */
  onImage?: ImageEventListener;
  /** Notable steps (manifest written, signatures stored, …). */
  onPhase?: (p: CopyPhase) => void;
  /** Multi-platform handling (default `system`). */
  multiArch?: MultiArch;
  /** Copy only these platforms of a multi-platform source and write an index of just those (beyond skopeo). */
  platforms?: Platform[];
  /** Force the manifest format. */
  format?: 'oci' | 'v2s2';
  /** Fail rather than change any manifest digest. */
  preserveDigests?: boolean;
  /**
   * Also copy what refers to the image and to each instance copied (OCI 1.1 referrers, cosign's `sha256-HEX.sig`,
   * `.att`, `.sbom` tags), recursively and unchanged (`copy/referrers.ts`). An image with referrers must then be
   * copied unchanged too. Never skipped as already present (its referrers may have changed).
   */
  includeReferrers?: boolean;
  /** Do not copy signatures. */
  removeSignatures?: boolean;
  /**
   * Sign what is written, as skopeo does: the image's manifest; with a list, each instance copied and the list. Each
   * signer adds one signature to those copied.
   */
  signers?: ManifestSigner[];
  /**
   * The identity signatures name (`--sign-identity`): a full name with a tag or digest. Default: the destination's
   * docker reference (a destination without one, e.g. `dir:`, needs it).
   */
  signIdentity?: string;
  /** Blobs copied at once when the destination allows it (default: the destination's preferredParallelBlobs, else 6). */
  parallel?: number;
  /** Layer compression. */
  compress?: CompressOptions;
  /** `--dest-oci-accept-uncompressed-layers` (also settable in `destCtx`). */
  ociAcceptUncompressedLayers?: boolean;
  /** Extra tags for `docker-archive:` destinations (also settable in `destCtx`). */
  additionalTags?: string[];
  /** Minimum interval between two `bytes` events of one blob, in ms (default 100). */
  progressIntervalMs?: number;
  /**
   * Skip the image when the destination already holds exactly the manifest this copy would write (containers/image
   * `OptimizeDestinationImageAlreadyExists`): one manifest HEAD at a registry, no blob request, nothing written, no
   * commit. A copy that would change the manifest (conversion, recompression, signatures to carry) is never skipped.
   */
  skipIfPresent?: boolean;
  /**
   * A limit shared by several copies running at once (a sync's job-wide budget of blob transfers): every layer copy
   * also takes a slot of it, on top of `parallel`.
   */
  blobBudget?: Limit;
}

/** What a copy produced. */
export interface CopyResult {
  /** Digest of the top-level manifest written to the destination (or found there, when `skipped`). */
  manifestDigest: string;
  /** True when the destination already had the image (`skipIfPresent`) and nothing was written. */
  skipped?: boolean;
}
