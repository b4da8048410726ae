/**
 * `syncImages`: copies every image of some source groups to a destination through the copy engine, naming each
 * destination as skopeo sync does. Sources are listed one after the other while up to `parallelImages` images are
 * copied at once (see `scheduler.ts`), every layer copy also taking a slot of one job-wide budget (`parallelBlobs`).
 * An image whose destination already holds what the copy would write is skipped (`skipIfPresent`).
 * With `keepGoing`, an image (or a group that cannot be listed) that fails is recorded and the sync goes on; without
 * it, the first failure stops the sync (images being copied are aborted, nothing new starts). With `retry`, an image
 * that fails on a transient error is copied again (the whole image, resuming its blobs).
 * With `dryRun`, images are listed and named, one at a time, but nothing is opened or copied.
 */
import { FerryError, ErrorCode } from '../errors.js';
import type { CopyOptions, CopyPhase } from '../copy/options.js';
import { withRetry } from '../util/retry.js';
import { createLimit } from '../util/limit.js';
import { shareMemoized } from '../util/context-memo.js';
import type { ImageEventListener, ProgressListener } from '../types/progress.js';
import type { ImageReference } from '../types/reference.js';
import { DockerReference } from '../transports/docker/reference.js';
import { dirTransport } from '../transports/dir/transport.js';
import { isReferrerName } from '../copy/referrers.js';
import { destinationName, type NamingOptions, type SyncDestKind } from './naming.js';
import { runPipeline } from './scheduler.js';
import type { SyncSourceGroup } from './sources.js';
import { DestinationClaims, clashError } from './claims.js';
import type { SyncTarget } from './archive-dest.js';

/** One image of a sync, as reported to {@link SyncReporter}. */
export interface SyncImage {
  /** 0-based position in the whole job, in source order (sources in order, then their images in order). */
  seq: number;
  /** 1-based position within its group, and the group's size (skopeo's `Copying image ref N/M`). */
  index: number;
  count: number;
  /** The group's label. */
  group: string;
  /** Full source name (`docker://…`, `dir:…`). */
  from: string;
  /** Full destination name, or the name that could not be made into a reference. */
  to: string;
}

/** Listeners for one image's copy (see `copyImage`). */
export interface ImageCopyListeners {
  onProgress?: ProgressListener;
  onImage?: ImageEventListener;
  onPhase?: (p: CopyPhase) => void;
}

/** Receives the steps of a sync (the CLI prints them); every method is optional and may be async. */
export interface SyncReporter {
  /** Before an image is copied (in a dry run: instead of copying it). May return listeners for this copy. */
  imageStart?(image: SyncImage): ImageCopyListeners | void | Promise<ImageCopyListeners | void>;
  /**
   * After an image was copied or skipped (`digest`) or failed (`error`); also after a dry-run image (neither).
   * Called in the order images finish, which with `parallelImages` > 1 is not source order (`image.seq` is).
   */
  imageEnd?(image: SyncImage, outcome: ImageOutcome): void | Promise<void>;
  /** An image that was started but stopped unfinished because the sync stopped (another image failed, or abort). */
  imageStopped?(image: SyncImage): void | Promise<void>;
  /** A group whose images could not be listed; `seq` is its position in the job (see {@link SyncImage.seq}). */
  groupFailed?(group: string, error: unknown, seq: number): void | Promise<void>;
  /** A group that has no image to sync (nothing matched its filter). */
  groupEmpty?(group: string): void | Promise<void>;
}

/** How an image ended. */
export interface ImageOutcome {
  /** The manifest digest written, or found at the destination when `skipped`. */
  digest?: string;
  /** True when the destination already had the image and nothing was written. */
  skipped?: boolean;
  error?: unknown;
  /** Bytes of blobs transferred (blobs the destination had or could mount are not counted). */
  bytes: number;
  /** Wall-clock seconds, retries included. */
  seconds: number;
}

/** A failure recorded by a `keepGoing` sync. */
export interface SyncFailure {
  /** The image's source name, or the group's label when it could not be listed. */
  what: string;
  error: unknown;
}

/** Options of {@link syncImages}. */
export interface SyncOptions extends NamingOptions {
  /** Where images go: a registry/namespace prefix (`docker`) or a directory (`dir`). */
  destKind: SyncDestKind;
  destination: string;
  /** For a layout or archive destination (`oci`, `oci-archive`): where each named image goes. */
  target?: SyncTarget;
  /** Engine options for every image, the trust policy among them (`srcCtx` is replaced by each group's context). */
  copy: Omit<CopyOptions, 'srcCtx' | 'signal' | 'onProgress' | 'onImage' | 'onPhase'>;
  dryRun?: boolean;
  keepGoing?: boolean;
  /** Images copied at once (default 4). */
  parallelImages?: number;
  /** Layer copies at once over the whole job (default 16); each image also keeps to `copy.parallel`. */
  parallelBlobs?: number;
  /** Skip images the destination already holds as the copy would write them (default true, like skopeo sync). */
  skipIfPresent?: boolean;
  /** Copy an image again after a transient failure, this many times (default: never), after `delayMs` (default: backoff). */
  retry?: { times: number; delayMs?: number };
  reporter?: SyncReporter;
  signal?: AbortSignal;
}

/** What a sync did. */
export interface SyncResult {
  /** Images synced: copied or skipped (in a dry run: that would have been copied). */
  images: number;
  /** Of `images`, those skipped because the destination had them. */
  skipped: number;
  /** Groups that had images to sync. */
  sources: number;
  /** Failures (only with `keepGoing`; otherwise the first one is thrown). */
  failures: SyncFailure[];
}

/** The destination reference for `src`. */
export function destinationReference(src: ImageReference, group: SyncSourceGroup, opts: Pick<SyncOptions, 'destKind' | 'destination' | 'target' | 'scoped' | 'appendSuffix'>): { name: string; ref: () => ImageReference } {
  const naming = { scoped: opts.scoped, appendSuffix: opts.appendSuffix, dirBase: group.dirBase, suffix: group.nameOf?.(src) };
  if (opts.target) return opts.target.reference(destinationName(src, '', naming));
  const name = destinationName(src, opts.destination, naming);
  return {
    name: opts.destKind === 'docker' ? `docker://${name}` : `dir:${name}`,
    ref: () => (opts.destKind === 'docker' ? DockerReference.fromName(name) : dirTransport.parseReference(name)),
  };
}

/**
 * One item of the job queue: an image, or a group that could not be listed (queued rather than thrown by the
 * listing, so that without `keepGoing` the failures before it in source order still come first with one worker).
 */
type Job =
  | {
      image: SyncImage;
      src: ImageReference;
      group: SyncSourceGroup;
      /** A tag a referrer is stored under, synced as an image (without `--include-referrers`): copied whole, as it is. */
      referrerTag: boolean;
      /** Another source already named for this destination (see `claim` in syncImages): this image is refused. */
      clashesWith?: string;
    }
  | { failedGroup: SyncSourceGroup; error: unknown; seq: number };

/**
 * Syncs `groups` to `opts.destination`.
 * @throws the first failure as a FerryError of the same code naming the image (without `keepGoing`);
 *         E_ABORTED when `opts.signal` aborts (also with `keepGoing`).
 */
export async function syncImages(groups: SyncSourceGroup[], opts: SyncOptions): Promise<SyncResult> {
  const signal = opts.signal ?? new AbortController().signal;
  const reporter = opts.reporter ?? {};
  const result: SyncResult = { images: 0, skipped: 0, sources: 0, failures: [] };
  const budget = createLimit(opts.parallelBlobs ?? 16);
  const { copyImage } = opts.dryRun ? { copyImage: undefined } : await import('../copy/copy.js');
  // One destination context for every image: what is derived from it (registries.conf, certificates) is read once.
  const copyOpts = { ...opts.copy, destCtx: opts.copy.destCtx ?? {} };
  // and what the sources' contexts read from the same files too (each result is keyed by the settings it depends on)
  for (const g of groups) shareMemoized(g.ctx, copyOpts.destCtx);
  let seq = 0;
  /** The position of each failure, to list them in source order. */
  const failedAt = new Map<SyncFailure, number>();
  const failed = (what: string, error: unknown, at: number) => {
    const f = { what, error };
    failedAt.set(f, at);
    result.failures.push(f);
  };

  const claims = new DestinationClaims();
  const claim = (src: ImageReference, group: SyncSourceGroup): string | undefined => {
    let name: string;
    try {
      name = destinationReference(src, group, opts).name;
    } catch {
      return undefined; // reported when the image is worked on
    }
    return claims.claim(name, src.toString());
  };

  const produce = async (push: (job: Job) => void, signal: AbortSignal) => {
    const listGroup = async (group: SyncSourceGroup) => {
      let refs: ImageReference[];
      try {
        refs = await group.list({ signal });
      } catch (e) {
        if (signal.aborted) throw e;
        push({ failedGroup: group, error: e, seq: seq++ });
        return;
      }
      const isReferrer = (r: ImageReference) => isReferrerName(group.nameOf?.(r) ?? r.dockerReference() ?? '');
      // referrers stored under tags (cosign's, the fallback index) travel with the image they refer to
      if (opts.copy.includeReferrers) refs = refs.filter((r) => !isReferrer(r));
      if (refs.length === 0) {
        await reporter.groupEmpty?.(group.label);
        return;
      }
      result.sources++;
      refs.forEach((src, i) =>
        push({
          src,
          group,
          referrerTag: isReferrer(src),
          clashesWith: claim(src, group),
          image: { seq: seq++, index: i + 1, count: refs.length, group: group.label, from: src.toString(), to: '' },
        }),
      );
    };
    for (const group of groups) {
      if (signal.aborted) return;
      if (!group.expand) {
        await listGroup(group);
        continue;
      }
      // a registry's catalog: each repository is listed (and its images queued) as soon as it is found
      try {
        for await (const g of group.expand({ signal })) {
          if (signal.aborted) return;
          await listGroup(g);
        }
      } catch (e) {
        if (signal.aborted) throw e;
        push({ failedGroup: group, error: e, seq: seq++ });
      }
    }
  };

  const work = async (job: Job, signal: AbortSignal) => {
    if ('failedGroup' in job) {
      if (!opts.keepGoing) throw job.error;
      failed(job.failedGroup.label, job.error, job.seq);
      await reporter.groupFailed?.(job.failedGroup.label, job.error, job.seq);
      return;
    }
    const { image, src, group, referrerTag, clashesWith } = job;
    const started = performance.now();
    const seconds = () => Math.round(performance.now() - started) / 1000;
    let destRef: ImageReference;
    try {
      const d = destinationReference(src, group, opts);
      image.to = d.name;
      if (clashesWith !== undefined) {
        throw clashError(d.name, clashesWith);
      }
      destRef = d.ref();
    } catch (e) {
      if (!opts.keepGoing) throw named(image, e);
      failed(image.from, e, image.seq);
      await reporter.imageEnd?.(image, { error: e, bytes: 0, seconds: 0 });
      return;
    }
    const listeners = (await reporter.imageStart?.(image)) ?? {};
    if (!copyImage) {
      result.images++;
      await reporter.imageEnd?.(image, { bytes: 0, seconds: 0 });
      return;
    }
    let bytes = 0;
    const onProgress: ProgressListener = (e) => {
      if (e.kind === 'done') bytes += e.size >= 0 ? e.size : e.offset;
      listeners.onProgress?.(e);
    };
    const attempt = () =>
      copyImage(src, destRef, {
        ...copyOpts,
        // a fallback index lists artifacts, not platforms: its tag must name the same bytes at the destination
        ...(referrerTag ? { multiArch: 'all' as const, platforms: undefined } : {}),
        srcCtx: group.ctx,
        signal,
        skipIfPresent: opts.skipIfPresent ?? true,
        blobBudget: budget,
        onProgress,
        onImage: listeners.onImage,
        onPhase: listeners.onPhase,
      });
    let r: Awaited<ReturnType<typeof attempt>>;
    try {
      r = opts.retry ? await withRetry(attempt, { retryTimes: opts.retry.times, retryDelayMs: opts.retry.delayMs, signal }) : await attempt();
    } catch (e) {
      if (signal.aborted) {
        await reporter.imageStopped?.(image);
        if (opts.signal?.aborted || !(e instanceof FerryError && e.code === ErrorCode.Aborted)) throw e;
        return; // stopped because another image failed: that failure is the one reported
      }
      await reporter.imageEnd?.(image, { error: e, bytes, seconds: seconds() });
      if (!opts.keepGoing) throw named(image, e);
      failed(image.from, e, image.seq);
      return;
    }
    result.images++;
    if (r.skipped) result.skipped++;
    await reporter.imageEnd?.(image, { digest: r.manifestDigest, skipped: r.skipped, bytes, seconds: seconds() });
  };

  // One pool of connections for the whole job: each origin is pinged once, each token asked for once.
  const { holdConnections } = await import('../registry/http.js');
  const release = holdConnections();
  try {
    await runPipeline(produce, work, { concurrency: opts.dryRun ? 1 : (opts.parallelImages ?? 4), signal });
  } catch (e) {
    if (signal.aborted) throw new FerryError(ErrorCode.Aborted, 'sync aborted', { cause: signal.reason });
    throw e;
  } finally {
    await release();
  }
  result.failures.sort((a, b) => failedAt.get(a)! - failedAt.get(b)!);
  return result;
}

/** The error of an image, as a FerryError of the same code that names the image. */
function named(image: SyncImage, e: unknown): unknown {
  if (!(e instanceof FerryError)) return e;
  return new FerryError(e.code, `copying ${image.from}: ${e.message}`, { cause: e });
}
