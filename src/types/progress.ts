/**
 * Progress of a copy, emitted by the engine and rendered only by the CLI (`src/cli/output/progress.ts`).
 *
 * Two streams, both plain data that `--progress json` prints one object a line:
 * - {@link ProgressEvent}: one blob at a time (`start`, `bytes`, `done`, `skipped`);
 * - {@link ImageEvent}: one image at a time — its plan before any blob moves (`image-plan`), its manifest once
 *   written (`manifest-written`), and the whole copy once committed (`image-done`).
 *
 * For one single-platform image the order is: `image-plan`, the blob events (layers in parallel, then the config),
 * `manifest-written`, `image-done`. A multi-platform copy has an `image-plan` and a `manifest-written` per instance,
 * then a `manifest-written` with `list: true` for the index, then one `image-done`.
 *
 * With `--include-referrers`, what refers to the image is copied after it and before the `image-done`: each referrer
 * with blobs has its own `image-plan` (its manifest digest) and blob events, and every manifest stored (a referrer, an
 * index of referrers, a subject's fallback tag index with `list: true`) a `manifest-written`. Totals that add up the
 * plans and blob events therefore count the referrers too.
 */

/**
 * Progress of one blob.
 * - `start`: the blob begins (offset is where it resumes, usually 0);
 * - `bytes`: `offset` bytes of the blob are now done;
 * - `done`: the blob is complete and verified;
 * - `skipped`: the destination already had it (or mounted it): `reason` says which.
 */
export interface ProgressEvent {
  kind: 'start' | 'bytes' | 'done' | 'skipped';
  digest: string;
  /** Total size of the blob, -1 if unknown. */
  size: number;
  /** Bytes done so far. */
  offset: number;
  /** What the blob is: a layer, the config, … */
  role?: 'layer' | 'config';
  /** For `skipped`: `already exists`, `mounted`, … */
  reason?: string;
}

export type ProgressListener = (e: ProgressEvent) => void;

/**
 * Every blob one image will report, announced before the first of them starts: the layers (each distinct digest
 * once; foreign layers that are not copied left out) and the config. `size` is the sum of their source sizes (what
 * the blob events count), `unknownSizes` how many of them have no size in the manifest (not in `size`).
 */
export interface ImagePlanEvent {
  kind: 'image-plan';
  /** The manifest digest of the image at the source. */
  digest: string;
  /** How many blobs the image's blob events will cover. */
  blobs: number;
  /** Their total size in bytes (known sizes only). */
  size: number;
  /** How many of them have an unknown size (-1). */
  unknownSizes: number;
}

/** A manifest (of an image, or with `list`, of an index or manifest list) was written to the destination. */
export interface ManifestWrittenEvent {
  kind: 'manifest-written';
  /** Its digest as written (it differs from the source's when the copy changed the manifest). */
  digest: string;
  mediaType: string;
  size: number;
  list: boolean;
}

/** The copy is committed: the destination holds the image whose top-level manifest has `digest`. */
export interface ImageDoneEvent {
  kind: 'image-done';
  digest: string;
}

/** An image-level event. */
export type ImageEvent = ImagePlanEvent | ManifestWrittenEvent | ImageDoneEvent;

export type ImageEventListener = (e: ImageEvent) => void;

/**
 * ferry holds requests to a registry host (see `src/registry/rate-limit.ts`); announced for waits of a second or more,
 * once per wait however many requests it holds.
 * - `retry-after`: the registry answered 429 (or 503 with `Retry-After`): every request to the host waits;
 * - `rate-limit-budget`: the registry's `RateLimit-Remaining` is low: requests that count are spread over its window;
 * - `max-requests-per-second`: the `--max-requests-per-second` cap for the host.
 */
export interface RegistryWaitEvent {
  kind: 'registry-wait';
  /** `host[:port]` the requests go to. */
  host: string;
  /** How long from now, in ms. */
  ms: number;
  reason: 'retry-after' | 'rate-limit-budget' | 'max-requests-per-second';
  /** For `retry-after`: the HTTP status that asked for the wait (429 or 503). */
  status?: number;
  /** For `rate-limit-budget`: the requests left (`RateLimit-Remaining`), the limit if known, and the window in seconds. */
  remaining?: number;
  limit?: number;
  windowSeconds?: number;
}
