/**
 * `--include-referrers`: with an image, copy what refers to it, and what refers to that (recursively), unchanged.
 *
 * What refers to a manifest `D` in the source's repository:
 * - OCI 1.1 referrers (manifests whose `subject` is D): the source's referrers listing (a registry's referrers API),
 *   else the fallback tag index `sha256-HEX` (distribution-spec 1.1 referrers tag schema);
 * - cosign's tags `sha256-HEX.sig`, `.att`, `.sbom` (signatures, attestations, SBOMs).
 *
 * Each referrer is copied as it is (its blobs, the manifests a referrer index lists, then the manifest by digest):
 * no format conversion, no recompression, so every digest stays; one that cannot be stored unchanged is an error
 * naming it. At the destination, cosign's tags are written as tags, and unless the destination lists referrers by
 * itself (`indexesReferrers`), the fallback tag index of each subject is updated: what it held stays, the copied
 * referrers are added. In OCI layouts and archives tags are ref names beside the image's (`REPO:sha256-HEX.sig`),
 * which a later copy out of them turns back into tags.
 */
import { FerryError, ErrorCode } from '../errors.js';
import { MediaType, isIndexType } from '../manifest/media-types.js';
import { COSIGN_TAG_SUFFIXES, MAX_REFERRERS, blobDescriptorOf, isReferrerTag, parseReferrersIndex, referrersIndex, referrersTag } from '../manifest/referrers.js';
import type { BlobInfo, ImageDestination, ImageSource, RawManifest, ReferrerDescriptor } from '../types/image.js';
import type { ImageEventListener } from '../types/progress.js';
import { digestOf, parseDigest } from '../util/digest.js';
import type { Limit } from '../util/limit.js';
import { copyBlob, type BlobCopyContext, type CompressionPolicy } from './blob.js';
import { imageEvent, imagePlan } from './progress.js';

/** An image (or instance) copied: its digest at the source and as written. */
export interface ReferrerSubject {
  source: string;
  written: string;
}

/** What finding referrers needs: the source, read only. */
export interface ReferrerReadContext {
  source: ImageSource;
  signal: AbortSignal;
  /** Where the image comes from and goes to, for messages. */
  from: string;
  to: string;
}

/**
 * What the engine needs of a copy: the blob pipeline's context (blobs are verified, reported to `onProgress` and
 * resumed as the image's are) and the image-level listener.
 */
export interface ReferrerCopyContext extends BlobCopyContext, ReferrerReadContext {
  source: ImageSource;
  dest: ImageDestination;
  /** Each referrer's `image-plan` before its blobs, and `manifest-written` for each manifest stored. */
  onImage?: ImageEventListener;
  /** A limit shared with other copies running at once: each blob copy takes a slot of it. */
  blobBudget?: Limit;
}

/** Referrers are copied as they are: no blob is changed. */
const KEEP: CompressionPolicy = { canModify: false, desired: 'preserve' };

/** Whether an image name's tag (`host/repo:TAG`, a ref name `repo:TAG` or `TAG`) is one a referrer is stored under. */
export function isReferrerName(name: string): boolean {
  const slash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  return isReferrerTag(colon > slash ? name.slice(colon + 1) : name);
}

/** What refers to one digest at the source. */
interface Found {
  /** Referrers with a `subject` (listed, or from the fallback index), as described there. */
  subjectReferrers: ReferrerDescriptor[];
  /** The source's fallback index, as stored (copied as it is when the destination has none). */
  fallback?: RawManifest;
  /** Manifests under cosign's tags. */
  tagged: { tag: string; manifest: RawManifest; digest: string }[];
}

async function discover(c: ReferrerReadContext, digest: string): Promise<Found> {
  const { source, signal } = c;
  const found: Found = { subjectReferrers: [], tagged: [] };
  const base = referrersTag(digest);
  let listed = source.listReferrers ? await source.listReferrers(digest, { signal }) : undefined;
  if (listed === undefined && source.getTaggedManifest) {
    const m = await source.getTaggedManifest(base, { signal });
    if (m && isIndexType(m.mediaType)) {
      listed = parseReferrersIndex(m.bytes, `${c.from}: referrers index ${base}`);
      found.fallback = m;
    }
  }
  found.subjectReferrers = listed ?? [];
  if (source.getTaggedManifest) {
    for (const suffix of COSIGN_TAG_SUFFIXES) {
      const tag = `${base}.${suffix}`;
      const m = await source.getTaggedManifest(tag, { signal });
      if (m) found.tagged.push({ tag, manifest: m, digest: digestOf(m.bytes, 'sha256') });
    }
  }
  return found;
}

function cannotCopy(c: ReferrerReadContext, what: string, reason: string, cause?: unknown): FerryError {
  const code = cause instanceof FerryError && cause.code !== ErrorCode.Aborted ? cause.code : ErrorCode.Unsupported;
  return new FerryError(code, `copying referrer ${what} of ${c.from} to ${c.to}: ${reason}`, cause ? { cause } : undefined);
}

/** The blobs (config, layers) or manifests (of an index) a manifest names, read without changing anything. */
function contentsOf(c: ReferrerReadContext, what: string, m: RawManifest): { config?: BlobInfo; layers: BlobInfo[]; manifests: ReferrerDescriptor[] } {
  let doc: { schemaVersion?: unknown; mediaType?: unknown; config?: unknown; layers?: unknown; manifests?: unknown };
  try {
    doc = JSON.parse(m.bytes.toString('utf8')) as typeof doc;
  } catch (e) {
    throw cannotCopy(c, what, `its manifest is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw cannotCopy(c, what, 'its manifest is not a JSON object');
  if (doc.schemaVersion !== 2) throw cannotCopy(c, what, `manifests of schema version ${String(doc.schemaVersion)} cannot be copied unchanged`);
  // stored under the type it is listed with: a manifest saying otherwise (an index listed as an image) would be
  // written without what it names
  if (typeof doc.mediaType === 'string' && doc.mediaType !== m.mediaType) throw cannotCopy(c, what, `it is listed as ${m.mediaType} but its manifest says ${doc.mediaType}`);
  if (!isIndexType(m.mediaType) && doc.manifests !== undefined) throw cannotCopy(c, what, `it is listed as ${m.mediaType} but its manifest is an index`);
  const descriptor = (v: unknown, where: string): BlobInfo => {
    const d = blobDescriptorOf(v);
    if (typeof d === 'string') throw cannotCopy(c, what, `${where} ${d}`);
    return d;
  };
  if (isIndexType(m.mediaType)) return { layers: [], manifests: parseReferrersIndex(m.bytes, `${c.from}: referrer ${what}`) };
  const config = doc.config !== undefined ? descriptor(doc.config, 'config') : undefined;
  const layers: BlobInfo[] = [];
  if (doc.layers !== undefined) {
    if (!Array.isArray(doc.layers) || doc.layers.length > MAX_REFERRERS) throw cannotCopy(c, what, 'layers is not a list of descriptors');
    doc.layers.forEach((l, i) => layers.push(descriptor(l, `layers[${i}]`)));
  }
  return { ...(config ? { config } : {}), layers, manifests: [] };
}

/** The blobs of a referrer manifest. */
interface ReferrerBlobs {
  /** As the manifest lists them. */
  layers: BlobInfo[];
  config?: BlobInfo;
  /** Each blob once, in the order a copy copies them: its layers, then its config unless it is one of them. */
  unique: Array<{ info: BlobInfo; role: 'layer' | 'config' }>;
}

/** What a walk over the referrers does with what it finds: the copy writes it, a plan only counts it. */
interface WalkHooks {
  /** Before a manifest is visited: throws to refuse it. */
  check?(m: RawManifest, what: string): void;
  /** The blobs of manifest `digest` (one with any), before the manifests it names. */
  blobs?(digest: string, blobs: ReferrerBlobs, what: string): Promise<void>;
  /** Manifest `m` (of `digest`), after its blobs and the manifests it names. */
  stored?(m: RawManifest, digest: string, list: boolean): Promise<void>;
  /** Before the manifest under cosign tag `tag` is visited, and after. */
  beforeTagged?(tag: string): void;
  tagged?(manifest: RawManifest, tag: string): Promise<void>;
  /** After the referrers listed with subject `digest` were visited. */
  listed?(digest: string, found: Found): Promise<void>;
}

/** Visits what refers to some subjects, recursively, reading the source only; the hooks do the rest. */
class ReferrerWalk {
  /** Manifests already visited. */
  private readonly stored = new Set<string>();
  private count = 0;

  constructor(
    private readonly c: ReferrerReadContext,
    private readonly hooks: WalkHooks,
  ) {}

  /** Reads the manifest `d` describes from the source, verified against its digest and size. */
  private async read(d: ReferrerDescriptor, what: string): Promise<RawManifest> {
    let m: RawManifest;
    try {
      m = await this.c.source.getManifest(d.digest, { signal: this.c.signal });
    } catch (e) {
      throw cannotCopy(this.c, what, e instanceof Error ? e.message : String(e), e);
    }
    const got = digestOf(m.bytes, parseDigest(d.digest).algorithm);
    if (got !== d.digest) throw new FerryError(ErrorCode.DigestMismatch, `copying referrer ${what} of ${this.c.from}: the source's manifest has digest ${got}`);
    // the descriptor is copied into the destination's referrers index: its size must be the manifest's
    if (m.bytes.length !== d.size) {
      throw new FerryError(ErrorCode.SizeMismatch, `copying referrer ${what} of ${this.c.from}: the source lists it with ${d.size} bytes, its manifest has ${m.bytes.length}`);
    }
    return { ...m, mediaType: d.mediaType };
  }

  /** Visits manifest `m` (of `digest`): its blobs, then everything it names, then itself. */
  private async visit(m: RawManifest, digest: string, what: string, depth = 0): Promise<void> {
    if (this.stored.has(digest)) return;
    if (++this.count > MAX_REFERRERS) throw cannotCopy(this.c, what, `more than ${MAX_REFERRERS} manifests refer to the image`);
    this.hooks.check?.(m, what);
    const { config, layers, manifests } = contentsOf(this.c, what, m);
    if (config || layers.length > 0) {
      const unique: ReferrerBlobs['unique'] = [];
      const taken = new Set<string>();
      for (const b of layers) {
        if (taken.has(b.digest)) continue;
        taken.add(b.digest);
        unique.push({ info: b, role: 'layer' });
      }
      if (config && !taken.has(config.digest)) unique.push({ info: config, role: 'config' });
      await this.hooks.blobs?.(digest, { layers, ...(config ? { config } : {}), unique }, what);
    }
    if (depth > 4 && manifests.length > 0) throw cannotCopy(this.c, what, 'its indexes are nested too deeply');
    for (const d of manifests) {
      if (!this.stored.has(d.digest)) await this.visit(await this.read(d, `${what} (${d.digest})`), d.digest, `${what} (${d.digest})`, depth + 1);
    }
    await this.hooks.stored?.(m, digest, manifests.length > 0 || isIndexType(m.mediaType));
    this.stored.add(digest);
  }

  /** Visits what refers to each subject's source digest (it was written as its `written` one), then what refers to that. */
  async walk(subjects: ReferrerSubject[]): Promise<void> {
    // each digest is looked at once, and queued once: however many manifests list it, the queue holds no more
    // entries than there are manifests visited (at most MAX_REFERRERS) and subjects
    const seen = new Set<string>();
    const queue: ReferrerSubject[] = [];
    const enqueue = (s: ReferrerSubject) => {
      if (seen.has(s.source)) return;
      seen.add(s.source);
      queue.push(s);
    };
    subjects.forEach(enqueue);
    for (let i = 0; i < queue.length; i++) {
      const s = queue[i]!;
      const found = await discover(this.c, s.source);
      if (found.subjectReferrers.length === 0 && found.tagged.length === 0) continue;
      if (s.written !== s.source) {
        throw new FerryError(
          ErrorCode.Unsupported,
          `copying referrers of ${this.c.from}: manifest ${s.source} has referrers but was written as ${s.written}; they can only be copied with the image unchanged`,
        );
      }
      for (const d of found.subjectReferrers) {
        if (!this.stored.has(d.digest)) await this.visit(await this.read(d, d.digest), d.digest, d.digest);
        enqueue({ source: d.digest, written: d.digest });
      }
      for (const t of found.tagged) {
        this.hooks.beforeTagged?.(t.tag);
        await this.visit(t.manifest, t.digest, t.tag);
        await this.hooks.tagged?.(t.manifest, t.tag);
        enqueue({ source: t.digest, written: t.digest });
      }
      if (found.subjectReferrers.length > 0) await this.hooks.listed?.(s.source, found);
    }
  }
}

/** Copies referrers between one source and one destination; see the module comment. */
class ReferrerCopier implements WalkHooks {
  private indexed: boolean | undefined;

  constructor(private readonly c: ReferrerCopyContext) {}

  check(m: RawManifest, what: string): void {
    const types = this.c.dest.properties.supportedManifestMIMETypes;
    if (types.length > 0 && !types.includes(m.mediaType)) throw cannotCopy(this.c, what, `${this.c.to} cannot store manifests of type ${m.mediaType} unchanged`);
  }

  async blobs(digest: string, blobs: ReferrerBlobs, what: string): Promise<void> {
    imageEvent(this.c.onImage, imagePlan(digest, blobs.layers, blobs.config));
    const { signal, blobBudget } = this.c;
    for (const { info, role } of blobs.unique) {
      const copy = () => copyBlob(this.c, info, role, KEEP);
      try {
        await (blobBudget ? blobBudget(copy, { signal }) : copy());
      } catch (e) {
        if (signal.aborted) throw e;
        throw cannotCopy(this.c, what, e instanceof Error ? e.message : String(e), e);
      }
    }
  }

  async stored(m: RawManifest, digest: string, list: boolean): Promise<void> {
    await this.c.dest.putManifest(m, digest, { signal: this.c.signal });
    imageEvent(this.c.onImage, { kind: 'manifest-written', digest, mediaType: m.mediaType, size: m.bytes.length, list });
  }

  private destinationCannot(what: string): FerryError {
    return new FerryError(ErrorCode.Unsupported, `copying referrers of ${this.c.from}: ${this.c.to} cannot store ${what}`);
  }

  beforeTagged(tag: string): void {
    if (!this.c.dest.putTaggedManifest) throw this.destinationCannot(`tagged manifests (${tag})`);
  }

  async tagged(manifest: RawManifest, tag: string): Promise<void> {
    await this.c.dest.putTaggedManifest!(manifest, tag, { signal: this.c.signal });
  }

  /** Unless the destination lists referrers by itself, adds those of `digest` to its fallback tag index. */
  async listed(digest: string, found: Found): Promise<void> {
    this.indexed ??= (await this.c.dest.indexesReferrers?.({ signal: this.c.signal })) ?? false;
    if (!this.indexed) await this.updateFallback(digest, found);
  }

  /** Adds the referrers of `digest` to the destination's fallback tag index (what it held stays). */
  private async updateFallback(digest: string, found: Found): Promise<void> {
    const { dest, signal } = this.c;
    const tag = referrersTag(digest);
    if (!dest.getTaggedManifest || !dest.putTaggedManifest) throw this.destinationCannot(`the referrers index ${tag}`);
    const existing = await dest.getTaggedManifest(tag, { signal });
    if (existing === undefined && found.fallback !== undefined) {
      await dest.putTaggedManifest(found.fallback, tag, { signal });
      imageEvent(this.c.onImage, { kind: 'manifest-written', digest: digestOf(found.fallback.bytes, 'sha256'), mediaType: found.fallback.mediaType, size: found.fallback.bytes.length, list: true });
      return;
    }
    const held = existing && isIndexType(existing.mediaType) ? parseReferrersIndex(existing.bytes, `${this.c.to}: referrers index ${tag}`) : [];
    const have = new Set(held.map((d) => d.digest));
    const added = found.subjectReferrers.filter((d) => !have.has(d.digest));
    if (existing !== undefined && isIndexType(existing.mediaType) && added.length === 0) return;
    if (held.length + added.length > MAX_REFERRERS) throw this.destinationCannot(`more than ${MAX_REFERRERS} referrers in ${tag}`);
    const bytes = referrersIndex([...held, ...added]);
    await dest.putTaggedManifest({ bytes, mediaType: MediaType.OciIndex }, tag, { signal });
    imageEvent(this.c.onImage, { kind: 'manifest-written', digest: digestOf(bytes, 'sha256'), mediaType: MediaType.OciIndex, size: bytes.length, list: true });
  }
}

/**
 * Copies what refers to each of `subjects` (recursively) from `c.source` to `c.dest`, before the destination's
 * commit; see the module comment.
 * @throws FerryError naming the referrer that cannot be copied unchanged, or the destination that cannot store it.
 */
export async function copyReferrers(c: ReferrerCopyContext, subjects: ReferrerSubject[]): Promise<void> {
  await new ReferrerWalk(c, new ReferrerCopier(c)).walk(subjects);
}

/** A referrer manifest a copy with `--include-referrers` would store, and the blobs it would copy for it. */
export interface FoundReferrer {
  digest: string;
  mediaType: string;
  /** Each blob once (layers, then the config unless it is one of them). */
  blobs: BlobInfo[];
}

/**
 * What {@link copyReferrers} would copy for `subjects`, found with the same reads of the source and nothing else:
 * every referrer manifest (recursively, those an index names included), each once. Destination limits (manifest
 * types, tags) are not checked.
 * @throws FerryError as copyReferrers does for what it reads (a referrer that cannot be copied unchanged, a subject
 *   written with another digest that has referrers).
 */
export async function findReferrers(c: ReferrerReadContext, subjects: ReferrerSubject[]): Promise<FoundReferrer[]> {
  const found: FoundReferrer[] = [];
  const blobsOf = new Map<string, BlobInfo[]>();
  await new ReferrerWalk(c, {
    blobs: async (digest, blobs) => {
      blobsOf.set(digest, blobs.unique.map((b) => b.info));
    },
    stored: async (m, digest) => {
      found.push({ digest, mediaType: m.mediaType, blobs: blobsOf.get(digest) ?? [] });
    },
  }).walk(subjects);
  return found;
}
