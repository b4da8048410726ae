/**
 * Writing an image in skopeo's `dir:` layout (containers/image `directory/directory_dest.go`).
 *
 * Like skopeo, an existing directory must be empty or hold a `dir:` image (a `version` file with the
 * expected content), and its old content is replaced. Unlike skopeo, nothing changes before `commit`:
 * everything is written into a staging directory inside the target (`.ferry-staging-*`). `commit` goes in an
 * order that leaves, whenever it is interrupted (kill -9, power loss), the old image, no image, or the new one —
 * and always a directory that the next run accepts: it writes `version` first (if missing), removes the old
 * `manifest.json` (the old image is gone: no image), removes the rest of the old content (keeping blobs the new
 * image reuses), moves the new files in, and renames `manifest.json` in last (the new image is there). `close`
 * without commit removes the staging directory and leaves the old image untouched (and removes the directory
 * itself if opening created it and it is empty).
 *
 * Commits into one directory take its lock (`.ferry-staging-lock`, a name commits and opens pass over), so that one
 * never removes, as old content, what another is moving in; and a commit first checks, under that lock, that the old
 * blobs its image reuses are still there — another copy's commit may have replaced them since — and fails naming
 * one, before changing anything, when one is gone.
 */
import { readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import { withLock } from '../../util/lock.js';
import { join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { FerryError, ErrorCode } from '../../errors.js';
import { manifestDigest } from '../../manifest/manifest-digest.js';
import type { OpOptions, SystemContext } from '../../types/context.js';
import type { AdoptBlobFileOptions, BlobInfo, DestinationProbe, DestinationProperties, ImageDestination, PutBlobOptions, RawManifest } from '../../types/image.js';
import type { ImageReference } from '../../types/reference.js';
import { DirSyncBatch, fsyncDir, writeFileAtomic } from '../../util/atomic.js';
import { readRegularFile } from '../../util/bounded-read.js';
import { isDigest } from '../../util/digest.js';
import { makeDirs } from '../../util/make-dirs.js';
import { makeTempDir, type TempDir } from '../../util/temp.js';
import { adoptFileAt } from '../shared/blob-adopt.js';
import { putBlobFile } from '../shared/blob-writer.js';
import { dirPartialDownloads } from '../shared/partial-downloads.js';
import { checkAborted, ioError, isNotFoundError } from '../shared/files.js';
import { DIR_VERSION_CONTENT, MANIFEST_FILE, VERSION_FILE, blobPath, digestStem, manifestPath, signaturePath, versionPath } from './layout.js';
import type { DirReference } from './reference.js';

/** Prefix of the staging directories ferry creates inside a `dir:` destination. */
export const STAGING_PREFIX = '.ferry-staging-';
/** The lock taken by commits into a `dir:` destination (it starts with {@link STAGING_PREFIX}: never image content). */
export const COMMIT_LOCK = `${STAGING_PREFIX}lock`;

/** Largest manifest read back (as skopeo bounds manifests). */
const MAX_MANIFEST_SIZE = 4 * 1024 * 1024;

/** What a `dir:` destination can do. */
const DIR_DESTINATION_PROPERTIES: DestinationProperties = Object.freeze({
  supportedManifestMIMETypes: [],
  supportsSignatures: true,
  desiredLayerCompression: 'preserve',
  hasThreadSafePutBlob: true,
  acceptsForeignLayerURLs: false,
});

/** The digest of the `dir:` image in `dir` (see {@link DirDestination.existingManifestDigest}), or undefined. */
async function dirImageDigest(dir: string, opts: OpOptions): Promise<string | undefined> {
  checkAborted(opts.signal, `reading ${dir}`);
  const version = await smallRegularFile(versionPath(dir), DIR_VERSION_CONTENT.length);
  if (version?.toString('utf8') !== DIR_VERSION_CONTENT) return undefined;
  const manifest = await smallRegularFile(join(dir, MANIFEST_FILE), MAX_MANIFEST_SIZE);
  if (manifest === undefined) return undefined;
  try {
    return manifestDigest(manifest);
  } catch {
    return undefined;
  }
}

/**
 * The read-only probe of a `dir:` destination: the image the directory holds now and its blob files (what a copy
 * into it reuses); nothing is created.
 */
export function openDirProbe(dir: string): DestinationProbe {
  return {
    properties: DIR_DESTINATION_PROPERTIES,
    blobScope: `dir:${dir}`,
    existingManifestDigest: (opts: OpOptions = {}) => dirImageDigest(dir, opts),
    async hasBlob(info: BlobInfo, opts: OpOptions = {}) {
      checkAborted(opts.signal, `checking blob ${info.digest}`);
      if (!isDigest(info.digest)) return false;
      const size = await fileSize(blobPath(dir, info.digest));
      return size !== undefined && (info.size < 0 || size === info.size);
    },
    close: async () => {},
  };
}

/** An ImageDestination writing a `dir:` image. */
export class DirDestination implements ImageDestination {
  readonly reference: ImageReference;
  readonly properties: DestinationProperties;
  /** The target directory. */
  readonly dir: string;
  private readonly staging: TempDir;
  /** The outermost directory that opening created (`dir` or a parent), removed again if nothing is committed. */
  private readonly createdRoot: string | undefined;
  /** Files of the old content that the new image reuses (names in `dir`), with their sizes. */
  private readonly kept = new Map<string, number>();
  private state: 'open' | 'committed' | 'closed' = 'open';
  /** The staging directory's new blob entries: fsynced once at commit, before they are moved in. */
  private readonly dirSync = new DirSyncBatch();

  constructor(dir: string, staging: TempDir, reference: ImageReference, createdRoot?: string) {
    this.dir = dir;
    this.createdRoot = createdRoot;
    this.staging = staging;
    this.reference = reference;
    this.properties = { ...DIR_DESTINATION_PROPERTIES, partialDownloads: dirPartialDownloads(dir) };
  }

  /** Reuses a blob written earlier in this copy, or one of the old image in the directory (kept at commit). */
  async tryReusingBlob(info: BlobInfo, opts: OpOptions = {}): Promise<BlobInfo | undefined> {
    checkAborted(opts.signal, `checking blob ${info.digest}`);
    if (!info.digest || !isDigest(info.digest)) return undefined;
    const staged = await fileSize(blobPath(this.staging.path, info.digest));
    if (staged !== undefined && (info.size < 0 || staged === info.size)) return { ...info, size: staged };
    const old = await fileSize(blobPath(this.dir, info.digest));
    if (old !== undefined && (info.size < 0 || old === info.size)) {
      this.kept.set(digestStem(info.digest), old);
      return { ...info, size: old };
    }
    return undefined;
  }

  /**
   * The digest of the image the directory holds: its `manifest.json` when `version` is there (written last by a
   * commit, so the image is complete), both regular files.
   */
  async existingManifestDigest(opts: OpOptions = {}): Promise<string | undefined> {
    return dirImageDigest(this.dir, opts);
  }

  /** Streams the blob into the staging directory, verified (named by its computed digest when `info.digest` is empty). */
  async putBlob(stream: Readable, info: BlobInfo, opts: PutBlobOptions = {}): Promise<BlobInfo> {
    this.checkOpen(stream);
    return putBlobFile(this.staging.path, stream, info, { signal: opts.signal, verifiedUpstream: opts.verifiedUpstream, pathFor: (d) => blobPath(this.staging.path, d), dirSync: this.dirSync });
  }

  /** Takes a verified blob file (a complete partial download) into the staging directory without copying it. */
  async adoptBlobFile(path: string, info: BlobInfo, opts: AdoptBlobFileOptions): Promise<BlobInfo | undefined> {
    this.checkOpen();
    return adoptFileAt(path, blobPath(this.staging.path, info.digest), info, { ...opts, dirSync: this.dirSync });
  }

  /** Stages `manifest.json`, or `<hex>.manifest.json` for an instance of a list. */
  async putManifest(manifest: RawManifest, instanceDigest?: string, opts: OpOptions = {}): Promise<void> {
    this.checkOpen();
    await writeFileAtomic(manifestPath(this.staging.path, instanceDigest), manifest.bytes, { signal: opts.signal, fsync: false });
  }

  /** Stages `signature-1…N` (or `<hex>.signature-N` for an instance). */
  async putSignatures(signatures: Buffer[], instanceDigest?: string, opts: OpOptions = {}): Promise<void> {
    this.checkOpen();
    for (const [i, sig] of signatures.entries()) {
      await writeFileAtomic(signaturePath(this.staging.path, i, instanceDigest), sig, { signal: opts.signal, fsync: false });
    }
  }

  /**
   * Replaces the directory's content in crash-safe order (see the module comment): `version` if missing, then the
   * old `manifest.json` removed, the old files removed (except reused blobs), the staged files moved in, and
   * `manifest.json` renamed in last, each step made durable before the next; all under the directory's commit lock,
   * once the old blobs the image reuses are checked to be still there.
   * @throws FerryError(E_IO) naming a reused blob another process removed meanwhile; nothing is changed then.
   */
  async commit(opts: OpOptions = {}): Promise<void> {
    this.checkOpen();
    checkAborted(opts.signal, `committing ${this.dir}`);
    const what = `committing image to ${this.dir}`;
    try {
      await withLock(join(this.dir, COMMIT_LOCK), () => this.replaceContent(what, opts), { signal: opts.signal });
    } catch (e) {
      throw ioError(what, e);
    } finally {
      if (this.state === 'committed') await this.staging.remove().catch(() => {});
    }
  }

  /** The steps of {@link commit}, under the lock. */
  private async replaceContent(what: string, opts: OpOptions): Promise<void> {
    const staged = await readdir(this.staging.path);
    if (!staged.includes(MANIFEST_FILE)) throw new FerryError(ErrorCode.Io, `${what}: no manifest was written`);
    await this.checkKept(what);
    await this.dirSync.flush();
    if ((await fileSize(versionPath(this.dir))) === undefined) {
      await writeFileAtomic(versionPath(this.dir), DIR_VERSION_CONTENT, { signal: opts.signal });
    }
    await rm(manifestPath(this.dir), { force: true });
    await fsyncDir(this.dir);
    const incoming = new Set(staged);
    for (const name of await readdir(this.dir)) {
      if (name === VERSION_FILE || name.startsWith(STAGING_PREFIX) || incoming.has(name) || this.kept.has(name)) continue;
      await rm(join(this.dir, name), { recursive: true, force: true });
    }
    for (const name of staged) if (name !== MANIFEST_FILE) await rename(join(this.staging.path, name), join(this.dir, name));
    await fsyncDir(this.dir);
    await rename(join(this.staging.path, MANIFEST_FILE), manifestPath(this.dir));
    await fsyncDir(this.dir);
    this.state = 'committed';
  }

  /** Fails, naming it, when an old blob the new image reuses is gone or changed (see the module comment). */
  private async checkKept(what: string): Promise<void> {
    for (const [name, size] of this.kept) {
      const st = await stat(join(this.dir, name)).catch(() => undefined);
      if (st?.isFile() && st.size === size) continue;
      const problem = st === undefined ? 'was removed by another process after this copy found it' : st.isFile() ? `is now ${st.size} bytes, expected ${size}` : 'is no longer a regular file';
      throw new FerryError(ErrorCode.Io, `${what}: blob ${name} ${problem}; ${this.dir} left unchanged, copy again`);
    }
  }

  /** Discards everything staged (the old image, if any, is untouched unless commit ran). */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    const committed = this.state === 'committed';
    this.state = 'closed';
    await this.staging.remove().catch(() => {});
    if (!committed && this.createdRoot !== undefined) await removeEmptyDirs(this.createdRoot, this.dir);
  }

  private checkOpen(stream?: Readable): void {
    if (this.state !== 'open') {
      stream?.destroy();
      throw new FerryError(ErrorCode.Io, `dir: destination ${this.dir} is already ${this.state}`);
    }
  }
}

/** The content of `path` if it is a regular file (not a symlink) of at most `max` bytes, else undefined. */
async function smallRegularFile(path: string, max: number): Promise<Buffer | undefined> {
  return readRegularFile(path, { noFollow: true, limit: max }).catch(() => undefined);
}

async function fileSize(path: string): Promise<number | undefined> {
  try {
    const st = await stat(path);
    return st.isFile() ? st.size : undefined;
  } catch {
    return undefined;
  }
}

/** Removes `dir` and its parents up to `root` (included), each only if it is empty. */
async function removeEmptyDirs(root: string, dir: string): Promise<void> {
  const parts = relative(root, dir).split(sep).filter((p) => p !== '');
  for (let i = parts.length; i >= 0; i--) {
    if (!(await rmdir(join(root, ...parts.slice(0, i))).then(() => true, () => false))) return;
  }
}

/** Names a `dir:` image consists of: manifests, blobs (digest stems) and signatures. */
const DIR_IMAGE_NAME = /^(?:manifest\.json|(?:[a-z0-9]+-)?[a-f0-9]{32,}(?:\.manifest\.json|\.signature-\d+)?|signature-\d+)$/;

/**
 * Checks that `dir` may receive an image: missing (it is created), empty, holding a `dir:` image (a `version`
 * file with exactly the expected content), like skopeo — or holding what an interrupted ferry commit left: a
 * ferry staging directory beside files of a `dir:` image.
 * @returns the outermost directory created, when `dir` did not exist.
 * @throws FerryError(E_INVALID_REFERENCE) for a non-empty directory that is not a `dir:` image or a non-directory, E_IO.
 */
export async function prepareDirTarget(dir: string): Promise<string | undefined> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') throw new FerryError(ErrorCode.InvalidReference, `${dir} exists and is not a directory`);
    if (isNotFoundError(e)) {
      try {
        return await makeDirs(dir);
      } catch (e2) {
        throw ioError(`creating directory ${dir}`, e2);
      }
    }
    throw ioError(`reading directory ${dir}`, e);
  }
  if (names.every((n) => n.startsWith(STAGING_PREFIX))) return undefined;
  let version: string | undefined;
  try {
    // only a regular file, not a link, decides that the directory's content is an image ferry may replace; a FIFO
    // is refused, never waited for
    version = (await readRegularFile(versionPath(dir), { limit: 4096, noFollow: true, what: `version file ${versionPath(dir)}` })).toString('utf8');
  } catch (e) {
    if (!isNotFoundError(e)) throw ioError(`reading ${versionPath(dir)}`, e);
  }
  if (version === DIR_VERSION_CONTENT) return undefined;
  const interrupted =
    version === undefined && names.some((n) => n.startsWith(STAGING_PREFIX)) && names.every((n) => n.startsWith(STAGING_PREFIX) || DIR_IMAGE_NAME.test(n));
  if (!interrupted) {
    throw new FerryError(ErrorCode.InvalidReference, `${dir} is not empty and not a containers image directory: refusing to overwrite it`);
  }
  return undefined;
}

/**
 * Opens `dir` for writing a `dir:` image (see {@link prepareDirTarget}) with a fresh staging directory.
 * @throws FerryError(E_INVALID_REFERENCE | E_IO | E_ABORTED)
 */
export async function openDirDestinationAt(dir: string, reference: ImageReference, opts: OpOptions = {}): Promise<DirDestination> {
  checkAborted(opts.signal, `opening ${dir}`);
  const createdRoot = await prepareDirTarget(dir);
  let staging: TempDir;
  try {
    staging = await makeTempDir(dir, STAGING_PREFIX);
  } catch (e) {
    if (createdRoot !== undefined) await removeEmptyDirs(createdRoot, dir);
    throw e;
  }
  return new DirDestination(dir, staging, reference, createdRoot);
}

/** `DirReference.newImageDestination`'s entry point. */
export async function openDirDestination(ref: DirReference, _ctx: SystemContext, opts: OpOptions = {}): Promise<DirDestination> {
  return openDirDestinationAt(ref.path, ref, opts);
}
