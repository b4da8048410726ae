/**
 * `syncImages`: copies every image of some source groups to a destination, one image at a time through the
 * copy engine, naming each destination as skopeo sync does. With `keepGoing`, an image (or a group that
 * cannot be listed) that fails is recorded and the sync goes on; without it, the first failure ends the sync.
 * With `dryRun`, images are listed and named but nothing is opened or copied.
 */
import { FerryError, ErrorCode } from '../errors.js';
import type { CopyOptions, CopyPhase } from '../copy/options.js';
import type { ImageEventListener, ProgressListener } from '../types/progress.js';
import type { ImageReference } from '../types/reference.js';
import { DockerReference } from '../transports/docker/reference.js';
import { dirTransport } from '../transports/dir/transport.js';
import { destinationName, type NamingOptions, type SyncDestKind } from './naming.js';
import type { SyncSourceGroup } from './sources.js';
import type { SyncTarget } from './archive-dest.js';

/** One image of a sync, as reported to {@link SyncReporter}. */
export interface SyncImage {
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
  /** After an image was copied (`digest`) or failed (`error`); also after a dry-run image (neither). */
  imageEnd?(image: SyncImage, outcome: { digest?: string; error?: unknown }): void | Promise<void>;
  /** A group whose images could not be listed. */
  groupFailed?(group: string, error: unknown): void | Promise<void>;
  /** A group that has no image to sync (nothing matched its filter). */
  groupEmpty?(group: string): void | Promise<void>;
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
  reporter?: SyncReporter;
  signal?: AbortSignal;
}

/** What a sync did. */
export interface SyncResult {
  /** Images copied (in a dry run: that would have been copied). */
  images: number;
  /** Groups that had images to sync. */
  sources: number;
  /** Failures (only with `keepGoing`; otherwise the first one is thrown). */
  failures: SyncFailure[];
}

/** The destination reference for `src`. */
export function destinationReference(src: ImageReference, group: SyncSourceGroup, opts: SyncOptions): { name: string; ref: () => ImageReference } {
  const naming = { scoped: opts.scoped, appendSuffix: opts.appendSuffix, dirBase: group.dirBase, suffix: group.nameOf?.(src) };
  if (opts.target) return opts.target.reference(destinationName(src, '', naming));
  const name = destinationName(src, opts.destination, naming);
  return {
    name: opts.destKind === 'docker' ? `docker://${name}` : `dir:${name}`,
    ref: () => (opts.destKind === 'docker' ? DockerReference.fromName(name) : dirTransport.parseReference(name)),
  };
}

/**
 * Syncs `groups` to `opts.destination`.
 * @throws the first failure as a FerryError of the same code naming the image (without `keepGoing`);
 *         E_ABORTED when `opts.signal` aborts (also with `keepGoing`).
 */
export async function syncImages(groups: SyncSourceGroup[], opts: SyncOptions): Promise<SyncResult> {
  const signal = opts.signal;
  const reporter = opts.reporter ?? {};
  const result: SyncResult = { images: 0, sources: 0, failures: [] };
  const aborted = () => {
    if (signal?.aborted) throw new FerryError(ErrorCode.Aborted, 'sync aborted', { cause: signal.reason });
  };
  for (const group of groups) {
    aborted();
    let refs: ImageReference[];
    try {
      refs = await group.list({ signal });
    } catch (e) {
      aborted();
      if (!opts.keepGoing) throw e;
      result.failures.push({ what: group.label, error: e });
      await reporter.groupFailed?.(group.label, e);
      continue;
    }
    if (refs.length === 0) {
      await reporter.groupEmpty?.(group.label);
      continue;
    }
    result.sources++;
    for (let i = 0; i < refs.length; i++) {
      aborted();
      const src = refs[i]!;
      const image: SyncImage = { index: i + 1, count: refs.length, group: group.label, from: src.toString(), to: '' };
      let destRef: ImageReference;
      try {
        const d = destinationReference(src, group, opts);
        image.to = d.name;
        destRef = d.ref();
      } catch (e) {
        if (!opts.keepGoing) throw named(image, e);
        result.failures.push({ what: image.from, error: e });
        await reporter.imageEnd?.(image, { error: e });
        continue;
      }
      const listeners = (await reporter.imageStart?.(image)) ?? {};
      if (opts.dryRun) {
        result.images++;
        await reporter.imageEnd?.(image, {});
        continue;
      }
      const { copyImage } = await import('../copy/copy.js');
      let digest: string;
      try {
        digest = (
          await copyImage(src, destRef, {
            ...opts.copy,
            srcCtx: group.ctx,
            signal,
            onProgress: listeners.onProgress,
            onImage: listeners.onImage,
            onPhase: listeners.onPhase,
          })
        ).manifestDigest;
      } catch (e) {
        await reporter.imageEnd?.(image, { error: e });
        aborted();
        if (!opts.keepGoing) throw named(image, e);
        result.failures.push({ what: image.from, error: e });
        continue;
      }
      result.images++;
      await reporter.imageEnd?.(image, { digest });
    }
  }
  return result;
}

/** The error of an image, as a FerryError of the same code that names the image. */
function named(image: SyncImage, e: unknown): unknown {
  if (!(e instanceof FerryError)) return e;
  return new FerryError(e.code, `copying ${image.from}: ${e.message}`, { cause: e });
}
