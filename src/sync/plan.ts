/**
 * `sync --dry-run`: the plan of a sync, made with read-only requests only. For every image, what a real run would
 * do and why — `copy` (not at the destination, a different manifest there, or a copy that changes the manifest),
 * `skip` (the destination already holds exactly what the copy would write: the same check as the real run's skip,
 * `copy/present.ts`) or `failed` (the source cannot be read, the trust policy refuses it) — and the blobs a real
 * run would move once what the destination already has is left out, and those it would mount instead of moving
 * (a registry destination: from the source's repository on the same registry, or one the blob-location cache
 * names, found holding the blob): one question per blob digest per destination blob scope (a registry
 * repository), cached, so a blob shared by images counts once per repository, as a real run uploads it once there.
 *
 * What a plan cannot know is said, not guessed: a copy that converts or recompresses writes blobs that do not exist
 * yet (its blobs are "unknown"), and a destination without a read-only probe (an OCI archive) cannot tell what it
 * holds (its images are copied and their blobs unknown). A blob that only this run would bring to another
 * repository of the registry is counted as moving to each: a real run may mount it into the later ones, so it may
 * move less, never more.
 *
 * With `--include-referrers` the plan looks for what refers to each image as the copy does (`findReferrers`, the
 * same reads of the source) and counts the blobs of those referrers with the image's, in the same way; and, as the
 * copy then never skips an image (its referrers may be missing at the destination), neither does the plan.
 */
import { FerryError, ErrorCode } from '../errors.js';
import { UnparsedImage, type VerifiedManifest } from '../image/unparsed.js';
import { parseManifest } from '../manifest/parse.js';
import { candidateDigest, unchangedCopy, type PresenceContext } from '../copy/present.js';
import type { CopyOptions } from '../copy/options.js';
import { SourceInstances } from '../copy/source-instances.js';
import { checkSourcePolicy, type ListOptions } from '../copy/source-policy.js';
import { findReferrers, isReferrerName, type ReferrerSubject } from '../copy/referrers.js';
import { isIndexType } from '../manifest/media-types.js';
import type { DestinationProbe, ImageSource } from '../types/image.js';
import type { ImageReference } from '../types/reference.js';
import { destinationReference, type SyncImage, type SyncOptions } from './sync.js';
import type { SyncSourceGroup } from './sources.js';
import { DestinationClaims, clashError } from './claims.js';

/** One image of a plan. */
export interface PlannedImage extends SyncImage {
  action: 'copy' | 'skip' | 'failed';
  /** Why, in a few words (`not at destination`, `image already present at destination (sha256:…)`). */
  reason: string;
  /** The manifest digest the copy would write when known (the one found, for a skip). */
  digest?: string;
  /** The digest the destination name holds now, when it holds one. */
  destinationDigest?: string;
  /**
   * The blobs this image would move that no image before it in the plan moves to the same place, and their bytes
   * (with `--include-referrers`, those of its referrers too); undefined when not known (see the module comment).
   * 0 for a skipped image.
   */
  blobs?: number;
  bytes?: number;
  /**
   * The blobs this image would mount from another repository of the destination registry instead of moving them
   * (not counted in `blobs`), counted like `blobs`; undefined when not known.
   */
  mounted?: number;
  /** The error of a `failed` entry. */
  error?: unknown;
  /** Set on the `failed` entry of a source that could not be listed (`from` is then the source's label). */
  unlisted?: boolean;
}

/** Totals of a plan. */
export interface PlanTotals {
  copy: number;
  skip: number;
  failed: number;
  /** Blobs a real run would write, counted once per destination blob scope, and their bytes (known images only). */
  blobs: number;
  bytes: number;
  /** Blobs of the copied images that the destination already has (not moved). */
  presentBlobs: number;
  /** Blobs of the copied images a real run would mount from another repository of the destination registry (not moved). */
  mountedBlobs: number;
  /** Images to copy whose blobs are not known. */
  unknownImages: number;
}

/** What {@link planSync} found. */
export interface SyncPlan {
  /** In source order; a source that could not be listed is one `failed` entry named by its label. */
  images: PlannedImage[];
  /** Sources that had images. */
  sources: number;
  totals: PlanTotals;
}

/** Options of {@link planSync}: those of the sync it plans. */
export type PlanOptions = Pick<SyncOptions, 'destKind' | 'destination' | 'target' | 'scoped' | 'appendSuffix' | 'skipIfPresent' | 'signal'> & {
  copy: Omit<CopyOptions, 'srcCtx' | 'signal' | 'onProgress' | 'onImage' | 'onPhase'>;
  /** Without it, a source that cannot be listed ends the plan with its error (as it ends the sync). */
  keepGoing?: boolean;
  /** Called for each image as soon as it is planned, in source order. */
  onImage?(image: PlannedImage): void | Promise<void>;
};

function oneLine(e: unknown): string {
  return (e instanceof Error ? e.message || e.name : String(e)).replace(/\s*\n\s*/g, '; ');
}

function isAbort(e: unknown, signal: AbortSignal): boolean {
  return signal.aborted || (e instanceof FerryError && e.code === ErrorCode.Aborted);
}

/**
 * Plans the sync of `groups` (see the module comment). Nothing is written anywhere.
 * @throws E_ABORTED when `opts.signal` aborts; without `keepGoing`, the error of a source that cannot be listed.
 *         Every other failure is an entry of the plan.
 */
export async function planSync(groups: SyncSourceGroup[], opts: PlanOptions): Promise<SyncPlan> {
  const signal = opts.signal ?? new AbortController().signal;
  const plan: SyncPlan = { images: [], sources: 0, totals: { copy: 0, skip: 0, failed: 0, blobs: 0, bytes: 0, presentBlobs: 0, mountedBlobs: 0, unknownImages: 0 } };
  /** Blob presence by `scope digest`: counted the first time, never again. */
  const seen = new Map<string, boolean>();
  const claims = new DestinationClaims();
  let seq = 0;
  const add = async (p: PlannedImage) => {
    plan.images.push(p);
    plan.totals[p.action]++;
    if (p.action === 'copy' && p.blobs === undefined) plan.totals.unknownImages++;
    await opts.onImage?.(p);
  };
  const { holdConnections } = await import('../registry/http.js');
  const release = holdConnections();
  try {
    for (const group of groups) {
      signal.throwIfAborted();
      let refs: ImageReference[];
      try {
        refs = await group.list({ signal });
      } catch (e) {
        if (isAbort(e, signal) || !opts.keepGoing) throw e;
        await add({ seq: seq++, index: 0, count: 0, group: group.label, from: group.label, to: '', unlisted: true, action: 'failed', reason: `cannot list the source: ${oneLine(e)}`, error: e });
        continue;
      }
      // as the sync does: referrers stored under tags travel with the image they refer to
      if (opts.copy.includeReferrers) refs = refs.filter((r) => !isReferrerName(group.nameOf?.(r) ?? r.dockerReference() ?? ''));
      if (refs.length > 0) plan.sources++;
      for (const [i, src] of refs.entries()) {
        const image: SyncImage = { seq: seq++, index: i + 1, count: refs.length, group: group.label, from: src.toString(), to: '' };
        try {
          const name = destinationReference(src, group, opts).name;
          const first = claims.claim(name, image.from);
          if (first !== undefined) {
            const error = clashError(name, first);
            await add({ ...image, to: name, action: 'failed', reason: error.message, error });
            continue;
          }
          await add(await planImage(image, src, group, opts, seen, plan.totals, signal));
        } catch (e) {
          if (isAbort(e, signal)) throw e;
          await add({ ...image, action: 'failed', reason: oneLine(e), error: e });
        }
      }
    }
  } catch (e) {
    if (signal.aborted) throw new FerryError(ErrorCode.Aborted, 'sync plan aborted', { cause: signal.reason });
    throw e;
  } finally {
    await release();
  }
  return plan;
}

async function planImage(
  image: SyncImage,
  src: ImageReference,
  group: SyncSourceGroup,
  opts: PlanOptions,
  seen: Map<string, boolean>,
  totals: PlanTotals,
  signal: AbortSignal,
): Promise<PlannedImage> {
  const d = destinationReference(src, group, opts);
  image.to = d.name;
  const destRef = d.ref();
  const source = await src.newImageSource(group.ctx, { signal });
  let probe: DestinationProbe | undefined;
  try {
    const vm = await new UnparsedImage(source).manifest({ signal });
    const refusal = await policyRefusal(src, vm, source, { ...opts.copy, srcCtx: group.ctx }, signal);
    if (refusal !== undefined) return { ...image, action: 'failed', reason: `refused by the trust policy: ${refusal.message}`, error: refusal };
    // the destination context as the copy builds it (copy/copy.ts)
    const destCtx = { ...(opts.copy.destCtx ?? {}), ...(opts.copy.ociAcceptUncompressedLayers !== undefined ? { ociAcceptUncompressedLayers: opts.copy.ociAcceptUncompressedLayers } : {}) };
    probe = await destRef.newDestinationProbe?.(destCtx, { signal });
    if (probe === undefined) return { ...image, action: 'copy', reason: `unknown: ${destRef.transport.name}: destinations cannot tell what they hold; would copy` };
    const c: PresenceContext = { source, dest: probe, opts: { ...opts.copy, srcCtx: group.ctx }, signal };
    let existing: string | undefined;
    let unreadable = '';
    try {
      existing = await probe.existingManifestDigest({ signal });
    } catch (e) {
      if (isAbort(e, signal)) throw e;
      unreadable = oneLine(e);
    }
    const unchanged = await unchangedCopy(c, vm);
    const digest = unchanged?.digest ?? candidateDigest(c, vm);
    const at = existing !== undefined ? { destinationDigest: existing } : {};
    const signing = (opts.copy.signers?.length ?? 0) > 0;
    // as the copy: with referrers it never skips (copy/copy.ts)
    const referrers = opts.copy.includeReferrers === true;
    if ((opts.skipIfPresent ?? true) && !signing && !referrers && unchanged !== undefined && existing === unchanged.digest) {
      return { ...image, ...at, action: 'skip', reason: `image already present at destination (${existing})`, digest: existing, blobs: 0, bytes: 0, mounted: 0 };
    }
    let reason: string;
    if (unreadable !== '') reason = `the destination cannot be read (${unreadable})`;
    else if (existing === undefined) reason = 'not at destination';
    else if (signing) reason = `signing writes new signatures (destination has ${existing})`;
    else if (unchanged === undefined) reason = `the copy changes the manifest (format, compression or signatures), so what it writes is not known; destination has ${existing}`;
    else if (existing === unchanged.digest) reason = referrers ? `copied with what refers to it; destination has ${existing}` : `skipping is off; destination has ${existing}`;
    else reason = `destination tag points to ${existing} (different)`;
    const planned: PlannedImage = { ...image, ...at, action: 'copy', reason, ...(unchanged !== undefined && digest !== undefined ? { digest } : {}) };
    if (unchanged === undefined) return planned;
    let blobs = 0;
    let bytes = 0;
    let mounted = 0;
    // where the copy reads the blobs: a registry destination may mount them from there (as the copy engine says)
    const sourceLocation = source.blobLocation?.();
    const dest = probe;
    const count = async (b: { digest: string; size: number }) => {
      const key = `${dest.blobScope} ${b.digest}`;
      if (seen.has(key)) return;
      let present = false;
      let from: string | undefined;
      try {
        present = await dest.hasBlob(b, { signal });
        if (!present) from = await dest.mountableFrom?.(b, { signal, ...(sourceLocation ? { sourceLocation } : {}) });
      } catch (e) {
        if (isAbort(e, signal)) throw e;
      }
      seen.set(key, present);
      if (present) totals.presentBlobs++;
      else if (from !== undefined) mounted++;
      else {
        blobs++;
        bytes += Math.max(b.size, 0);
      }
    };
    for (const b of blobsOf(unchanged.images, probe.properties.acceptsForeignLayerURLs)) await count(b);
    if (referrers) {
      const found = await findReferrers({ source, signal, from: image.from, to: image.to }, referrerSubjects(vm, unchanged));
      for (const r of found) for (const b of r.blobs) await count(b);
    }
    totals.blobs += blobs;
    totals.bytes += bytes;
    totals.mountedBlobs += mounted;
    return { ...planned, blobs, bytes, mounted };
  } finally {
    await probe?.close().catch(() => {});
    await source.close().catch(() => {});
  }
}

/**
 * The manifests whose referrers the copy of `top` copies, as copy/copy.ts names them, when it writes `unchanged`:
 * the image; or the list and the instances it keeps; or, for one instance chosen from a list, that instance.
 */
function referrerSubjects(top: VerifiedManifest, unchanged: { digest: string; images: VerifiedManifest[] }): ReferrerSubject[] {
  const { images } = unchanged;
  if (!isIndexType(top.mediaType)) return [{ source: top.digest, written: top.digest }];
  if (images.length === 1 && images[0]!.digest === unchanged.digest) return [{ source: unchanged.digest, written: unchanged.digest }];
  return [{ source: top.digest, written: unchanged.digest }, ...images.map((i) => ({ source: i.digest, written: i.digest }))];
}

/** The config and layers of `images`, once each (layers with URLs left out where the destination references them). */
function blobsOf(images: VerifiedManifest[], foreignByURL: boolean): Array<{ digest: string; size: number }> {
  const out = new Map<string, { digest: string; size: number }>();
  for (const vm of images) {
    const m = parseManifest(vm.bytes, vm.mediaType);
    if (m.kind !== 'image') continue;
    if (m.config.digest !== '') out.set(m.config.digest, { digest: m.config.digest, size: m.config.size });
    for (const l of m.layers) {
      if (foreignByURL && l.urls !== undefined && l.urls.length > 0) continue;
      if (!out.has(l.digest)) out.set(l.digest, { digest: l.digest, size: l.size });
    }
  }
  return [...out.values()];
}

/**
 * The trust policy's refusal of `src` (as the real copy checks it, before anything is written: the top-level manifest
 * and, for a list, each instance the copy would read), or undefined.
 */
async function policyRefusal(src: ImageReference, vm: VerifiedManifest, source: ImageSource, copy: PlanOptions['copy'] & ListOptions, signal: AbortSignal): Promise<FerryError | undefined> {
  try {
    await checkSourcePolicy(src, vm, () => source.getSignatures(undefined, { signal }), new SourceInstances(source, signal), copy, signal);
    return undefined;
  } catch (e) {
    if (isAbort(e, signal) || !(e instanceof FerryError) || e.code !== ErrorCode.Policy) throw e;
    return e;
  }
}
