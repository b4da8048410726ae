/**
 * Writing an image into an OCI image layout (containers/image `oci/layout/oci_dest.go`).
 * Blobs and manifests go straight to `blobs/<alg>/<hex>` through the atomic blob writer (they are
 * content-addressed, so one visible before commit is harmless); `commit` adds the image to
 * `index.json` under the layout's lock, which is what makes it visible. A copy that fails removes the blobs it
 * created that no image in `index.json` uses, and the layout directory itself when the copy created it. While other
 * destinations of this process are open on the same layout (the images of a sync into one layout are copied at once,
 * and share blobs), that is left to the last of them to close: one of them may be reusing those blobs.
 *
 * Other processes may remove blobs this copy reuses before it commits (deleting an image, a failed copy cleaning up):
 * the commit checks, under the lock, that every blob it stored or reused is still there, and puts back what it can —
 * manifests from their bytes, other blobs it found already there from its hard links to them (pins.ts) — or fails
 * naming the blob, leaving `index.json` unchanged (present.ts). containers/image takes no lock on `oci:` layouts, so
 * it has no such point to check at.
 */
import { lstat, rmdir, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { FerryError, ErrorCode, isNoSpace } from '../../errors.js';
import { MediaType } from '../../manifest/media-types.js';
import type { DestinationContext, OpOptions, SystemContext } from '../../types/context.js';
import type { AdoptBlobFileOptions, BlobInfo, DestinationProbe, DestinationProperties, ImageDestination, PartialDownloads, PutBlobOptions, RawManifest } from '../../types/image.js';
import type { ImageReference } from '../../types/reference.js';
import { DirSyncBatch, writeFileAtomic } from '../../util/atomic.js';
import { digestOf, isDigest, parseDigest } from '../../util/digest.js';
import { adoptFileAt } from '../shared/blob-adopt.js';
import { putBlobFile } from '../shared/blob-writer.js';
import { layoutPartialDownloads } from '../shared/partial-downloads.js';
import { withLock } from '../../util/lock.js';
import { makeDirs } from '../../util/make-dirs.js';
import { checkReplaceable } from '../../util/replaceable.js';
import { checkAborted, ioError, readWholeFile } from '../shared/files.js';
import { BLOBS_DIR, blobPath, isValidRefName, readIndex, readLayoutVersion, refNameOf } from './layout.js';
import { BlobPins, removeAbandonedPins } from './pins.js';
import { ensureBlobsPresent, type HeldBlob } from './present.js';
import { reachable } from './reachable.js';
import { taggedDescriptor, taggedManifest, taggedRefName } from './tagged.js';
import type { OciReference } from './reference.js';
import { addManifestDescriptor, checkIndexReplaceable, checkMarkerReplaceable, ensureLayoutMarker, indexLockPath, manifestDescriptor, updateLayoutIndex } from './writer.js';
import { checkBlobDirectories, checkBlobReplaceable } from './guard.js';

/** Destination settings the `oci:` destination reads (`ociAcceptUncompressedLayers`). */
export type OciDestinationContext = DestinationContext;

/** Where and what to write. */
export interface OciLayoutTarget {
  /** The layout directory (created if missing). */
  dir: string;
  /** Ref name for `index.json` (`''`: none). */
  refName: string;
  /** The reference reported by the destination. */
  reference: ImageReference;
  /** The outermost directory that opening the destination created (`dir` or one of its parents), if any. */
  createdRoot?: string;
  /** The directory shared between layouts that holds the blobs (`--dest-shared-blob-dir`), if any. */
  sharedBlobDir?: string;
  /**
   * Whether blobs and `index.json` are fsynced (default true). False for a layout that is only staging for an
   * archive, which is fsynced itself when written.
   */
  fsync?: boolean;
  /**
   * Where a copy into this layout keeps partial downloads (see `DestinationProperties.partialDownloads`); absent for a
   * layout that is only staging, whose archive says where.
   */
  partialDownloads?: PartialDownloads;
}

const SUPPORTED = [MediaType.OciManifest, MediaType.OciIndex];

/**
 * The destinations of this process open on one layout directory, and what the failed ones among those already closed
 * left for the last one to clean up: the blobs they created, and the outermost directory their opening created.
 */
interface OpenLayout {
  open: Set<OciLayoutDestination>;
  orphans: Set<string>;
  createdRoot?: string;
}

/** By absolute layout directory. */
const openLayouts = new Map<string, OpenLayout>();

/** An ImageDestination writing into an OCI layout. */
export class OciLayoutDestination implements ImageDestination {
  readonly reference: ImageReference;
  readonly properties: DestinationProperties;
  /** The layout directory. */
  readonly dir: string;
  private readonly refName: string;
  private readonly createdRoot: string | undefined;
  private readonly sharedBlobDir: string | undefined;
  private readonly fsync: boolean;
  private top: { mediaType: string; digest: string; size: number } | undefined;
  private closed = false;
  private committed = false;
  /** Digests of the blob files this destination created (removed again if the copy fails). */
  private readonly created = new Set<string>();
  /** The entry of this destination's layout in {@link openLayouts} (a destination opened for writing). */
  private readonly layout: OpenLayout;
  /** The blob directories written into: fsynced once at commit, before `index.json` names their files. */
  private readonly dirSync = new DirSyncBatch();
  /**
   * Every blob this destination stored or found already there and reused (with manifests' bytes): checked at commit,
   * under the lock, before `index.json` names them (present.ts).
   */
  private readonly held = new Map<string, HeldBlob>();
  /** Links keeping the blobs found already there (not written by this copy) until commit (pins.ts); none with a shared blob directory. */
  private readonly pins: BlobPins | undefined;
  /** Manifests stored under tags beside the image (see tagged.ts), added to `index.json` at commit. */
  private readonly tagged = new Map<string, { mediaType: string; digest: string; size: number }>();

  /** @param track whether it counts among the destinations open on the layout (not a read-only probe's). */
  constructor(target: OciLayoutTarget, ctx: OciDestinationContext, track = false) {
    this.reference = target.reference;
    this.dir = target.dir;
    this.refName = target.refName;
    this.createdRoot = target.createdRoot;
    this.sharedBlobDir = target.sharedBlobDir;
    this.fsync = target.fsync !== false;
    // Nothing to pin for a read-only probe (which creates nothing), in a shared blob directory (nobody removes its
    // blobs) or in an archive's staging layout (fsync off: private to this process).
    this.pins = track && target.sharedBlobDir === undefined && this.fsync ? new BlobPins(target.dir) : undefined;
    let layout = track ? openLayouts.get(resolve(this.dir)) : undefined;
    layout ??= { open: new Set(), orphans: new Set() };
    if (track) openLayouts.set(resolve(this.dir), layout);
    layout.open.add(this);
    this.layout = layout;
    this.properties = {
      supportedManifestMIMETypes: [...SUPPORTED],
      supportsSignatures: false,
      desiredLayerCompression: ctx.ociAcceptUncompressedLayers ? 'preserve' : 'compress',
      hasThreadSafePutBlob: true,
      acceptsForeignLayerURLs: true,
      ...(target.partialDownloads !== undefined ? { partialDownloads: target.partialDownloads } : {}),
    };
  }

  /**
   * The digest of the image `index.json` names with this destination's ref name (the only one when several
   * descriptors carry it is ambiguous: undefined), when its manifest blob is there.
   */
  async existingManifestDigest(opts: OpOptions = {}): Promise<string | undefined> {
    if (this.refName === '') return undefined;
    let index;
    try {
      index = await readIndex(this.dir, opts);
    } catch (e) {
      if (e instanceof FerryError && e.code === ErrorCode.Aborted) throw e;
      return undefined;
    }
    const named = index.manifests.filter((d) => refNameOf(d) === this.refName);
    if (named.length !== 1) return undefined;
    const digest = named[0]!.digest;
    try {
      const st = await lstat(blobPath(this.dir, digest));
      return st.isFile() && st.size === named[0]!.size ? digest : undefined;
    } catch {
      return undefined;
    }
  }

  /** Reuses `blobs/<alg>/<hex>` if it is there (with the right size, when known); its directory is fsynced at commit. */
  async tryReusingBlob(info: BlobInfo, opts: OpOptions = {}): Promise<BlobInfo | undefined> {
    checkAborted(opts.signal, `checking blob ${info.digest}`);
    if (!info.digest || !isDigest(info.digest)) return undefined;
    try {
      const path = this.blobPath(info.digest);
      const st = await stat(path);
      if (!st.isFile() || (info.size >= 0 && st.size !== info.size)) return undefined;
      // Its entry may not be durable yet (written by a copy that was killed, or is still running, before its
      // commit): fsynced with this copy's own blobs before index.json names it.
      if (this.fsync) this.dirSync.add(dirname(path));
      await this.hold(info.digest, st.size);
      return { ...info, size: st.size };
    } catch {
      return undefined;
    }
  }

  /** Streams the blob into `blobs/<alg>/<hex>`, verified (or named by its computed digest when `info.digest` is empty). */
  async putBlob(stream: Readable, info: BlobInfo, opts: PutBlobOptions = {}): Promise<BlobInfo> {
    this.checkOpen();
    const stored = await putBlobFile(this.sharedBlobDir ?? this.dir, stream, info, {
      signal: opts.signal,
      verifiedUpstream: opts.verifiedUpstream,
      pathFor: (d) => this.blobPath(d),
      checkTarget: (p, size) => this.checkBlobTarget(`${basename(dirname(p))}:${basename(p)}`, p, size),
      onCreated: (p) => this.noteCreated(p),
      fsync: this.fsync,
      dirSync: this.dirSync,
    });
    await this.hold(stored.digest, stored.size);
    return stored;
  }

  /** Takes a verified blob file (a complete partial download) as `blobs/<alg>/<hex>` without copying it. */
  async adoptBlobFile(path: string, info: BlobInfo, opts: AdoptBlobFileOptions): Promise<BlobInfo | undefined> {
    this.checkOpen();
    await this.checkBlobTarget(info.digest, this.blobPath(info.digest), info.size);
    const stored = await adoptFileAt(path, this.blobPath(info.digest), info, { ...opts, onCreated: (p) => this.noteCreated(p), fsync: this.fsync, dirSync: this.dirSync });
    if (stored !== undefined) await this.hold(stored.digest, stored.size);
    return stored;
  }

  /**
   * Writes the manifest as a blob. The top-level one (no `instanceDigest`) is recorded for `index.json` at commit.
   * @throws FerryError(E_UNSUPPORTED) for manifest types other than OCI's, E_DIGEST_MISMATCH if `instanceDigest` is not the bytes' digest.
   */
  async putManifest(manifest: RawManifest, instanceDigest?: string, opts: OpOptions = {}): Promise<void> {
    this.checkOpen();
    if (!SUPPORTED.includes(manifest.mediaType as (typeof SUPPORTED)[number])) {
      throw new FerryError(ErrorCode.Unsupported, `OCI layouts cannot store manifests of type ${JSON.stringify(manifest.mediaType)}`);
    }
    const algorithm = instanceDigest !== undefined ? parseDigest(instanceDigest).algorithm : 'sha256';
    const digest = digestOf(manifest.bytes, algorithm);
    if (instanceDigest !== undefined && digest !== instanceDigest) {
      throw new FerryError(ErrorCode.DigestMismatch, `manifest for instance ${instanceDigest}: digest mismatch: got ${digest}`);
    }
    await this.writeManifestBlob(manifest.bytes, digest, opts);
    if (instanceDigest === undefined) this.top = { mediaType: manifest.mediaType, digest, size: manifest.bytes.length };
  }

  private async writeManifestBlob(bytes: Buffer, digest: string, opts: OpOptions): Promise<void> {
    const path = this.blobPath(digest);
    await this.checkBlobTarget(digest, path, bytes.length);
    try {
      const st = await stat(path).catch(() => undefined);
      if (!(st?.isFile() && st.size === bytes.length)) {
        await makeDirs(dirname(path));
        await writeFileAtomic(path, bytes, { signal: opts.signal, fsync: this.fsync, dirSync: this.dirSync });
        this.created.add(digest);
      } else if (this.fsync) {
        this.dirSync.add(dirname(path)); // already there: as for a reused blob
      }
    } catch (e) {
      throw ioError(`writing manifest ${digest} to OCI layout ${this.dir}`, e);
    }
    this.held.set(digest, { size: bytes.length, manifest: bytes });
  }

  /**
   * Records a blob stored or reused (a manifest's entry, with its bytes, is kept), and pins it when this copy did not
   * write it itself.
   */
  private async hold(digest: string, size: number): Promise<void> {
    if (this.held.get(digest)?.manifest !== undefined) return;
    this.held.set(digest, { size });
    if (!this.created.has(digest)) await this.pins?.pin(digest, this.blobPath(digest), size);
  }

  /** The manifest `index.json` names by the ref name of `tag` beside this image, as the layout is now. */
  async getTaggedManifest(tag: string, opts: OpOptions = {}): Promise<RawManifest | undefined> {
    let index;
    try {
      index = await readIndex(this.dir, opts);
    } catch (e) {
      if (e instanceof FerryError && e.code === ErrorCode.NotFound) return undefined;
      throw e;
    }
    const desc = taggedDescriptor(index, this.refName, tag);
    if (!desc) return undefined;
    const where = `OCI layout ${this.dir}`;
    return taggedManifest(desc, await readWholeFile(this.blobPath(desc.digest), `manifest ${desc.digest} in ${where}`, opts), where);
  }

  /** Writes the manifest as a blob; `commit` names it `REPO:tag` in `index.json` (see tagged.ts). */
  async putTaggedManifest(manifest: RawManifest, tag: string, opts: OpOptions = {}): Promise<void> {
    this.checkOpen();
    if (!SUPPORTED.includes(manifest.mediaType as (typeof SUPPORTED)[number])) {
      throw new FerryError(ErrorCode.Unsupported, `OCI layouts cannot store manifests of type ${JSON.stringify(manifest.mediaType)}`);
    }
    const name = taggedRefName(this.refName, tag);
    if (!isValidRefName(name)) throw new FerryError(ErrorCode.InvalidReference, `cannot name a manifest "${name}" in OCI layout ${this.dir}: not a valid OCI ref name`);
    const digest = digestOf(manifest.bytes, 'sha256');
    await this.writeManifestBlob(manifest.bytes, digest, opts);
    this.tagged.set(name, { mediaType: manifest.mediaType, digest, size: manifest.bytes.length });
  }

  /** OCI layouts hold no simple-signing signatures: only an empty list is accepted. */
  async putSignatures(signatures: Buffer[], _instanceDigest?: string, opts: OpOptions = {}): Promise<void> {
    checkAborted(opts.signal, 'storing signatures');
    if (signatures.length > 0) throw new FerryError(ErrorCode.Unsupported, `OCI layouts cannot store signatures (${this.dir})`);
  }

  /**
   * Makes the blobs' directory entries durable, writes `oci-layout` if missing, then adds the image to `index.json`
   * under the layout lock — once the blobs this copy stored or reused are checked to be still there (present.ts).
   * @throws FerryError(E_IO) naming a blob another process removed meanwhile; `index.json` is then unchanged.
   */
  async commit(opts: OpOptions = {}): Promise<void> {
    this.checkOpen();
    if (this.top === undefined) throw new FerryError(ErrorCode.Io, `committing to OCI layout ${this.dir}: no manifest was written`);
    checkAborted(opts.signal, `committing to OCI layout ${this.dir}`);
    const desc = manifestDescriptor(this.top.mediaType, this.top.digest, this.top.size, this.refName);
    try {
      await this.dirSync.flush();
    } catch (e) {
      throw ioError(`committing to OCI layout ${this.dir}`, e);
    }
    await ensureLayoutMarker(this.dir, { ...opts, fsync: this.fsync });
    const tagged = [...this.tagged].map(([name, t]) => manifestDescriptor(t.mediaType, t.digest, t.size, name));
    const where = `committing to OCI layout ${this.dir}`;
    await updateLayoutIndex(this.dir, async (index) => {
      await ensureBlobsPresent([desc.digest, ...tagged.map((d) => d.digest)], this.held, {
        pathFor: (d) => this.blobPath(d),
        where,
        signal: opts.signal,
        fsync: this.fsync,
        restore: async (d, path) => (await this.pins?.restore(d, path, this.fsync)) === true,
      });
      addManifestDescriptor(index, desc);
      for (const d of tagged) addManifestDescriptor(index, d);
      return index;
    }, { ...opts, fsync: this.fsync });
    this.committed = true;
    this.closed = true;
    await this.pins?.release();
  }

  /** Refuses to write blob `digest` at `path` through a linked blob directory, or over what is not a regular file (guard.ts). */
  private async checkBlobTarget(digest: string, path: string, size: number): Promise<void> {
    await checkBlobDirectories(this.dir, parseDigest(digest).algorithm, this.sharedBlobDir);
    await checkBlobReplaceable(this.dir, path, digest, size);
  }

  /** Where blob `digest` is: in the layout, or in the shared blob directory. */
  private blobPath(digest: string): string {
    return blobPath(this.dir, digest, this.sharedBlobDir);
  }

  /**
   * Without a commit, removes what this copy wrote: the blobs it created that no image in `index.json` reaches
   * (under the layout's lock), the `blobs/` directories left empty, and the layout directory (with the parents
   * opening it created) when the copy created it and it is empty now. `index.json` was never touched. Blobs in a
   * shared blob directory are left: other layouts may use them. While another destination of this process is open on
   * the layout, all this is left to the last one to close (see the module comment).
   */
  async close(): Promise<void> {
    if (this.closed && !this.layout.open.has(this)) return;
    this.closed = true;
    await this.pins?.release();
    const layout = this.layout;
    layout.open.delete(this);
    if (!this.committed) {
      if (this.sharedBlobDir === undefined) for (const d of this.created) layout.orphans.add(d);
      layout.createdRoot ??= this.createdRoot;
    }
    this.created.clear();
    if (layout.open.size > 0) return;
    if (openLayouts.get(resolve(this.dir)) === layout) openLayouts.delete(resolve(this.dir));
    const orphans = [...layout.orphans];
    layout.orphans.clear();
    if (orphans.length > 0) {
      const removeUnused = async () => {
        const index = await readIndex(this.dir).catch(() => undefined);
        const used = index ? await reachable(this.dir, index.manifests, {}) : new Set<string>();
        for (const digest of orphans) {
          if (used.has(digest)) continue;
          // never through a blob directory linked elsewhere since this copy wrote there
          if (await checkBlobDirectories(this.dir, parseDigest(digest).algorithm).then(() => true, () => false)) await unlink(blobPath(this.dir, digest)).catch(() => {});
        }
      };
      // The lock needs a few bytes of disk: on a full file system the blobs are removed without it. Otherwise they
      // are removed only under it (or left, if it cannot be had): a copy committing meanwhile may reuse them.
      await withLock(indexLockPath(this.dir), removeUnused, { timeoutMs: 10_000 })
        .catch((e: unknown) => (isNoSpace(e) ? removeUnused() : undefined))
        .catch(() => {});
    }
    if (layout.createdRoot !== undefined) await this.removeCreatedDirs(layout.createdRoot);
  }

  /** Removes the layout's empty blob directories, the layout and its parents up to `createdRoot`, each only if empty. */
  private async removeCreatedDirs(createdRoot: string): Promise<void> {
    const blobs = join(this.dir, BLOBS_DIR);
    for (const alg of ['sha256', 'sha512', 'sha384']) await rmdir(join(blobs, alg)).catch(() => {});
    await rmdir(blobs).catch(() => {});
    // From the layout up to the outermost directory created at open: each only if empty.
    const rel = relative(createdRoot, this.dir);
    const parts = rel === '' ? [] : rel.split(sep);
    for (let i = parts.length; i >= 0; i--) {
      const d = join(createdRoot, ...parts.slice(0, i));
      if (!(await rmdir(d).then(() => true, () => false))) return;
    }
  }

  private noteCreated(path: string): void {
    const rel = relative(this.sharedBlobDir ?? join(this.dir, BLOBS_DIR), path).split(sep);
    if (rel.length === 2) this.created.add(`${rel[0]}:${rel[1]}`);
  }

  private checkOpen(): void {
    if (this.closed) throw new FerryError(ErrorCode.Io, `OCI layout destination ${this.dir} is already closed`);
  }
}

/**
 * Opens a layout for writing: creates the directory if missing and checks what is already there
 * (a 1.x `oci-layout`, a valid `index.json`), so a bad layout fails before any blob is copied.
 * @throws FerryError(E_INVALID_REFERENCE) for `PATH:@N` references, E_UNSUPPORTED, E_INVALID_MANIFEST, E_IO.
 */
export async function openOciLayoutDestination(target: OciLayoutTarget, ctx: OciDestinationContext = {}, opts: OpOptions = {}): Promise<OciLayoutDestination> {
  checkAborted(opts.signal, `opening OCI layout ${target.dir}`);
  let createdRoot: string | undefined;
  try {
    createdRoot = await makeDirs(target.dir);
  } catch (e) {
    throw ioError(`creating OCI layout ${target.dir}`, e);
  }
  try {
    await readLayoutVersion(target.dir, opts);
  } catch (e) {
    if (!(e instanceof FerryError && e.code === ErrorCode.NotFound)) throw e;
    await checkMarkerReplaceable(target.dir); // it will be written
  }
  // index.json is rewritten at commit, under its lock: refused now, before any blob is copied, if either is not a
  // regular file (a held lock is one)
  await checkIndexReplaceable(target.dir);
  await checkReplaceable(indexLockPath(target.dir), `OCI layout lock file ${indexLockPath(target.dir)}`);
  try {
    await readIndex(target.dir, opts);
  } catch (e) {
    if (!(e instanceof FerryError && e.code === ErrorCode.NotFound)) throw e;
  }
  await checkBlobDirectories(target.dir, 'sha256', target.sharedBlobDir);
  if (target.sharedBlobDir === undefined && target.fsync !== false) await removeAbandonedPins(target.dir);
  return new OciLayoutDestination({ ...target, createdRoot }, ctx, true);
}

/** `OciReference.newImageDestination`'s entry point. */
export async function openOciDestination(ref: OciReference, ctx: DestinationContext, opts: OpOptions = {}): Promise<OciLayoutDestination> {
  if (ref.sourceIndex !== undefined) {
    throw new FerryError(ErrorCode.InvalidReference, `${ref.toString()}: an image position (@${ref.sourceIndex}) cannot be used as a destination`);
  }
  return openOciLayoutDestination({ dir: ref.dir, refName: ref.image, reference: ref, sharedBlobDir: ctx.ociSharedBlobDir, partialDownloads: layoutPartialDownloads(ref.dir) }, ctx, opts);
}

/**
 * The read-only probe of an `oci:` destination (`OciReference.newDestinationProbe`): the image `index.json` names
 * with the reference's ref name, and the blob files, read as a copy into the layout would find them; the layout is
 * neither created nor opened for writing. Blobs are shared by the layout (or by the shared blob directory).
 */
export function openOciProbe(ref: OciReference, ctx: OciDestinationContext): DestinationProbe {
  if (ref.sourceIndex !== undefined) {
    throw new FerryError(ErrorCode.InvalidReference, `${ref.toString()}: an image position (@${ref.sourceIndex}) cannot be used as a destination`);
  }
  // constructing a destination does no I/O; only its read-only questions are asked
  const d = new OciLayoutDestination({ dir: ref.dir, refName: ref.image, reference: ref, sharedBlobDir: ctx.ociSharedBlobDir }, ctx);
  return {
    properties: d.properties,
    blobScope: `oci:${ctx.ociSharedBlobDir ?? ref.dir}`,
    existingManifestDigest: (opts?: OpOptions) => d.existingManifestDigest(opts),
    hasBlob: async (info: BlobInfo, opts?: OpOptions) => (await d.tryReusingBlob(info, opts)) !== undefined,
    close: async () => {},
  };
}
