/**
 * A containers/storage-compatible local store (overlay or vfs driver): layers, images and containers in
 * `<graphroot>/<driver>-{layers,images,containers}/*.json`, layer contents under `<graphroot>/<driver>/`,
 * mount state in `<runroot>/<driver>-layers/mountpoints.json`, all guarded by containers/storage's lock
 * files so podman, skopeo and ferry can share a store.
 *
 * Lock order (as containers/storage): storage.lock → layers.lock → images.lock → containers.lock.
 */
import { createHash } from 'node:crypto';
import { constants, mkdirSync, openSync, readSync, closeSync, renameSync, rmSync, existsSync, fstatSync, lstatSync } from 'node:fs';
import { lstat, readdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { FerryError, ErrorCode, notFound } from '../errors.js';
import { writeFileAtomic } from '../util/atomic.js';
import { notRegularFile, readRegularFile } from '../util/bounded-read.js';
import type { StoreOptions } from '../config/storage-conf.js';
import { Crc64 } from './crc64.js';
import { cleanTarPath } from './apply.js';
import { imageIdFromConfig, layerChainIds } from './ids.js';
import { lockFileFor, type Release } from './lockfile.js';
import { STAGING_DIR, type LayerDriver } from './driver.js';
import { OverlayLayout } from './overlay.js';
import { VfsLayout } from './vfs.js';
import {
  bigDataFileName, checkRecordIds, clearIncomplete, goTimeNow, ID_FIELDS, isIncomplete, markIncomplete, MAX_BIG_DATA_BYTES, readRecords, writeRecords,
  type ContainerRecord, type ImageRecord, type LayerRecord, type MountRecord,
} from './records.js';
import { readTarSplit } from './tar-split.js';
import { fullString, parseNormalizedName, withDefaultTag } from '../reference/name.js';
import { stageLayer, TAR_SPLIT_TEMP_PREFIX, TAR_SPLIT_TEMP_SUFFIX, type StagedLayer } from './layer-stage.js';
import { checkWhiteoutsBeneath } from './whiteout-check.js';
import { removeAbandonedTempDirs } from '../util/owned-temp-dir.js';
import { UndoLog } from './undo.js';
import { syncFileSystems } from './sync-fs.js';

/** One layer of an image being committed, bottom first. */
export interface CommitLayer {
  diffDigest: string;
  /** The unpacked content, if this pull staged it. */
  staged?: StagedLayer;
}

/** What {@link Store.commitImage} stores. */
export interface CommitImageSpec {
  layers: CommitLayer[];
  configDigest: string;
  config: Buffer;
  manifest: Buffer;
  manifestDigest: string;
  signatures: Buffer[];
  /** Docker references to name the image by (moved from other images that have them). */
  names: string[];
  /** Creation time (the config's `created`). */
  created?: string;
  /**
   * The list this image was chosen from, when one platform of a multi-platform image was copied: stored as
   * `manifest-<digest>` too, and its digest becomes the image's, as containers/image stores it.
   */
  sourceList?: { bytes: Buffer; digest: string };
}

/** What {@link Store.commitList} stores. */
export interface CommitListSpec {
  /** The list (OCI index or Docker manifest list) bytes, and their digest. */
  list: Buffer;
  listDigest: string;
  /** Instance digest → reference (`containers-storage:[driver@graphroot+runroot]@ID`) of the image holding it. */
  instances: Record<string, string>;
  signatures: Buffer[];
  names: string[];
}

/** An image big-data item: key, data, and the digest to record (default: the data's sha256). */
type BigDataItem = [key: string, data: Buffer, digest?: string];

/** Options of operations doing I/O. */
export interface Op {
  signal?: AbortSignal;
}

type Locked = { release: () => void };

/**
 * Commits made under one hold of the layers and images write locks (see {@link Store.transaction}): all of them
 * stay, or, when one fails, none.
 */
export interface StoreTransaction {
  /** See {@link Store.commitImage}. @returns the image ID. */
  commitImage(spec: CommitImageSpec): Promise<string>;
  /** See {@link Store.commitList}. @returns the image ID. */
  commitList(spec: CommitListSpec): Promise<string>;
  /** The image records as they are now (the transaction's own commits included). */
  images(): Promise<ImageRecord[]>;
}

/** Manifest keys in an image's big data. */
export const MANIFEST_KEY = 'manifest';
export const manifestKey = (digest: string) => `manifest-${digest}`;
/** The big-data key of the image's own signatures (containers/image `storage_dest`). */
export const TOP_SIGNATURES_KEY = 'signatures';
/** The big-data key of a list image's instance references (buildah's manifests package, used by podman). */
export const INSTANCES_KEY = 'instances.json';
export const signatureKey = (digest: string) => `signature-${digest.slice(digest.indexOf(':') + 1)}`;

/** A store opened on a graph root and run root. Cheap to create: nothing is read until used. */
export class Store {
  readonly options: StoreOptions;
  /** The storage driver's layout (overlay or vfs). */
  readonly driver: LayerDriver;
  private readonly d: string;

  constructor(options: StoreOptions) {
    this.options = options;
    this.d = options.driver;
    this.driver = options.driver === 'vfs' ? new VfsLayout(options.graphRoot) : new OverlayLayout(options.graphRoot, { mountProgram: options.mountProgram });
  }

  get graphRoot(): string {
    return this.options.graphRoot;
  }

  /** `<graphroot>/overlay-layers` etc. */
  dir(kind: 'layers' | 'images' | 'containers'): string {
    return join(this.graphRoot, `${this.d}-${kind}`);
  }

  private file(kind: 'layers' | 'images' | 'containers'): string {
    return join(this.dir(kind), `${kind}.json`);
  }

  private mountsFile(): string {
    return join(this.options.runRoot, `${this.d}-layers`, 'mountpoints.json');
  }

  /** Takes locks in containers/storage's order; releases them in reverse. */
  private async lock(kind: 'read' | 'write', which: Array<'storage' | 'layers' | 'images' | 'containers' | 'mounts'>, op: Op): Promise<Locked> {
    const order = ['storage', 'layers', 'mounts', 'images', 'containers'] as const;
    const held: Release[] = [];
    try {
      for (const w of order) {
        if (!which.includes(w)) continue;
        const path =
          w === 'storage' ? join(this.graphRoot, 'storage.lock')
          : w === 'mounts' ? join(this.options.runRoot, `${this.d}-layers`, 'mountpoints.lock')
          : join(this.dir(w), `${w}.lock`);
        held.push(await lockFileFor(path).lock(w === 'storage' ? 'read' : kind, op));
      }
    } catch (e) {
      for (const r of held.reverse()) r({ modified: false });
      throw e;
    }
    return { release: () => { for (const r of held.reverse()) r({ modified: kind === 'write' }); } };
  }

  /** Runs `fn` holding read locks on `which`. */
  async read<T>(which: Array<'layers' | 'images' | 'containers' | 'mounts'>, op: Op, fn: () => Promise<T>): Promise<T> {
    if (!existsSync(this.graphRoot)) return fn();
    const l = await this.lock('read', which, op);
    try {
      return await fn();
    } finally {
      l.release();
    }
  }

  /**
   * Runs `fn` holding write locks on `which` (and a shared storage.lock). With the layers lock, the layers a killed
   * writer left marked incomplete are removed first, as containers/storage does when it takes that lock for writing.
   */
  async write<T>(which: Array<'layers' | 'images' | 'containers' | 'mounts'>, op: Op, fn: () => Promise<T>): Promise<T> {
    this.ensureDirs();
    const l = await this.lock('write', ['storage', ...which], op);
    try {
      if (which.includes('layers')) await this.removeIncompleteLayersUnlocked();
      return await fn();
    } finally {
      l.release();
    }
  }

  /** Creates the store's directories (like containers/storage does on first use). */
  ensureDirs(): void {
    for (const d of [this.graphRoot, this.dir('layers'), this.dir('images'), this.dir('containers')]) {
      mkdirSync(d, { recursive: true, mode: 0o700 });
    }
    this.driver.ensureDirs();
    mkdirSync(join(this.options.runRoot, `${this.d}-layers`), { recursive: true, mode: 0o700 });
    mkdirSync(join(this.options.runRoot, `${this.d}-containers`), { recursive: true, mode: 0o700 });
  }

  // ---- raw record access (callers hold the right locks) ----

  /** Reads a record file, refusing records whose IDs are not plain file names (see {@link checkRecordIds}). */
  private async records<T>(path: string, kind: keyof typeof ID_FIELDS): Promise<T[]> {
    return checkRecordIds<T>(path, await readRecords<unknown>(path), ID_FIELDS[kind]);
  }

  readLayersUnlocked(): Promise<LayerRecord[]> {
    return this.records<LayerRecord>(this.file('layers'), 'layers');
  }
  readImagesUnlocked(): Promise<ImageRecord[]> {
    return this.records<ImageRecord>(this.file('images'), 'images');
  }
  readContainersUnlocked(): Promise<ContainerRecord[]> {
    return this.records<ContainerRecord>(this.file('containers'), 'containers');
  }
  readMountsUnlocked(): Promise<MountRecord[]> {
    return this.records<MountRecord>(this.mountsFile(), 'mounts');
  }
  writeLayersUnlocked(r: LayerRecord[], op: Op = {}): Promise<void> {
    return writeRecords(this.file('layers'), r, op);
  }
  writeImagesUnlocked(r: ImageRecord[], op: Op = {}): Promise<void> {
    return writeRecords(this.file('images'), r, op);
  }
  writeContainersUnlocked(r: ContainerRecord[], op: Op = {}): Promise<void> {
    return writeRecords(this.file('containers'), r, op);
  }
  writeMountsUnlocked(r: MountRecord[], op: Op = {}): Promise<void> {
    return writeRecords(this.mountsFile(), r, op);
  }

  // ---- reading ----

  /** All complete layers (read-locked snapshot): those marked incomplete are being made or removed, never used. */
  layers(op: Op = {}): Promise<LayerRecord[]> {
    return this.read(['layers'], op, async () => (await this.readLayersUnlocked()).filter((l) => !isIncomplete(l)));
  }

  /** All images (read-locked snapshot). */
  images(op: Op = {}): Promise<ImageRecord[]> {
    return this.read(['images'], op, () => this.readImagesUnlocked());
  }

  /** All containers (read-locked snapshot). */
  containers(op: Op = {}): Promise<ContainerRecord[]> {
    return this.read(['containers'], op, () => this.readContainersUnlocked());
  }

  /**
   * Finds an image by full ID, unique ID prefix (3+ characters) or exact name.
   * @returns undefined when there is none; @throws FerryError(E_INVALID_REFERENCE) for an ambiguous prefix.
   */
  async findImage(spec: string, op: Op = {}): Promise<ImageRecord | undefined> {
    return findImageRecord(await this.images(op), spec);
  }

  /** Reads one big-data item of an image. @throws FerryError(E_NOT_FOUND) */
  async imageBigData(imageId: string, key: string, op: Op = {}): Promise<Buffer> {
    return this.read(['images'], op, async () => {
      const what = `${key} of image ${imageId}`;
      const dir = join(this.dir('images'), imageId);
      try {
        // The image directory and the file itself are taken as they are, never through a symlink, and only a regular
        // file is read: a link to a file outside the store, or a FIFO, put there by someone else is refused.
        if (!(await lstat(dir)).isDirectory()) throw new FerryError(ErrorCode.Io, `reading ${what}: ${dir} is not a directory`);
        const path = join(dir, bigDataFileName(key));
        // lstat first: opening a device can have effects of its own
        const st = await lstat(path);
        if (!st.isFile()) throw notRegularFile(what, st);
        return await readRegularFile(path, { noFollow: true, limit: MAX_BIG_DATA_BYTES, what, signal: op.signal });
      } catch (e) {
        if (e instanceof FerryError) throw e;
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`image ${imageId} has no ${key}`, e);
        throw new FerryError(ErrorCode.Io, `reading ${what}: ${(e as Error).message}`, { cause: e });
      }
    });
  }

  /**
   * The uncompressed tar of a layer, rebuilt byte for byte from its tar-split and `diff/` (so its
   * digest is the layer's diff ID). File contents are checked against tar-split's CRC-64.
   * @throws FerryError(E_NOT_FOUND) when the layer or its tar-split is missing (through the stream).
   */
  layerDiff(layerId: string, op: Op = {}): Readable {
    const tarSplit = join(this.dir('layers'), `${layerId}.tar-split.gz`);
    const diffDir = this.driver.contentDir(layerId);
    async function* gen(): AsyncGenerator<Buffer> {
      let st;
      try {
        st = lstatSync(tarSplit);
      } catch {
        throw notFound(`layer ${layerId} has no tar-split data (${tarSplit})`);
      }
      if (!st.isFile()) throw new FerryError(ErrorCode.Io, `layer ${layerId}: its tar-split data ${tarSplit} is not a regular file`);
      const buf = Buffer.allocUnsafe(1 << 20);
      const realDirs = new Set<string>();
      for await (const e of readTarSplit(tarSplit, op)) {
        if (e.type === 'segment') {
          if (e.payload.length > 0) yield e.payload;
          continue;
        }
        if (e.size === 0) continue;
        let fd: number;
        try {
          fd = openRegularBeneath(diffDir, cleanTarPath(e.name), realDirs);
        } catch (err) {
          throw new FerryError(ErrorCode.Io, `layer ${layerId}: cannot read ${e.name}: ${(err as Error).message}`, { cause: err });
        }
        try {
          const crc = new Crc64();
          let left = e.size;
          while (left > 0) {
            const n = readSync(fd, buf, 0, Math.min(buf.length, left), null);
            if (n === 0) throw new FerryError(ErrorCode.Io, `layer ${layerId}: ${e.name} is shorter than recorded`);
            const chunk = Buffer.from(buf.subarray(0, n));
            crc.update(chunk);
            left -= n;
            yield chunk;
          }
          if (e.crc && !crc.digest().equals(e.crc)) {
            throw new FerryError(ErrorCode.DigestMismatch, `layer ${layerId}: ${e.name} does not match its recorded checksum`);
          }
        } finally {
          closeSync(fd);
        }
      }
    }
    return Readable.from(gen(), { objectMode: false, highWaterMark: 1 << 20 });
  }

  // ---- writing ----

  /** Unpacks a layer blob into a new staging directory (see {@link stageLayer}). */
  async stageLayer(input: Readable, info: { digest?: string; size?: number }, op: Op = {}): Promise<StagedLayer> {
    this.ensureDirs();
    return stageLayer(input, this.driver.stagingRoot(), this.dir('layers'), info, {
      ...op,
      whiteoutMode: this.driver.whiteoutMode,
      ...(this.driver.opaqueXattr !== undefined ? { opaqueXattr: this.driver.opaqueXattr } : {}),
      ...(this.options.ignoreChownErrors ? { ignoreChownErrors: true } : {}),
    });
  }

  /**
   * Runs `fn`'s commits as one: under the layers and images write locks, held from before the first change until
   * the last (or until a failure is undone). When `fn` fails (an error, a hostile layer, `op.signal` aborting), what
   * its commits changed is undone before the locks are released: the images and layers they created are removed,
   * the records and big data of images that were there already are put back as they were. What existed before, or
   * was shared with it, is never touched. Layers staged for the commits are discarded at the end either way.
   * @throws what `fn` threw (with a note when the undo itself failed: the store then holds content no record names).
   */
  async transaction<T>(fn: (tx: StoreTransaction) => Promise<T>, op: Op = {}): Promise<T> {
    const staged: StagedLayer[] = [];
    const undo = new UndoLog();
    const tx: StoreTransaction = {
      commitImage: (spec) => {
        for (const l of spec.layers) if (l.staged) staged.push(l.staged);
        return this.commitImageUnlocked(spec, undo, op);
      },
      commitList: (spec) => this.commitListUnlocked(spec, undo, op),
      images: () => this.readImagesUnlocked(),
    };
    try {
      return await this.write(['layers', 'images'], op, async () => {
        let out: T;
        try {
          out = await fn(tx);
        } catch (e) {
          const failures = await undo.undo((ids) => this.markLayersIncompleteUnlocked(ids), (id) => this.removeLayerContent(id));
          if (failures.length === 0) throw e;
          const note = `; undoing the partial commit also failed: ${failures.map((f) => f.message).join('; ')}`;
          throw e instanceof FerryError ? new FerryError(e.code, e.message + note, { cause: e }) : e;
        }
        // Best effort: the commit is done whatever happens here.
        await this.removeAbandonedStagingUnlocked().catch(() => {});
        return out;
      });
    } finally {
      for (const l of staged) await l.discard();
    }
  }

  /**
   * Commits an image: its layers in order, parent first (reusing layers already present, copying the
   * content of a layer with the same diff ID under another parent), then the image record and its big
   * data (config, manifest, signatures). Staged layers not needed are discarded. A failure leaves the store as
   * it was (see {@link transaction}).
   * @returns the image ID.
   */
  async commitImage(spec: CommitImageSpec, op: Op = {}): Promise<string> {
    try {
      return await this.transaction((tx) => tx.commitImage(spec), op);
    } finally {
      for (const l of spec.layers) await l.staged?.discard();
    }
  }

  /**
   * Adds the image's missing layers, then the image. The new layers' records go into layers.json marked incomplete
   * (durably) before any of their content is put in place, and are cleared in one more write once every one of them
   * is complete and on disk (see sync-fs.ts): a process killed in between, or a power loss, leaves layers that the
   * next writer removes (see records.ts), never a layer read as complete. The image record is written only after that.
   */
  private async commitImageUnlocked(spec: CommitImageSpec, undo: UndoLog, op: Op): Promise<string> {
    const ids = layerChainIds(spec.layers.map((l) => l.diffDigest));
    const imageId = imageIdFromConfig(spec.configDigest);
    const layers = await this.readLayersUnlocked();
    const byId = new Map(layers.map((l) => [l.id, l]));
    // What to make: each new layer's record, and its content (a staged layer, or the same diff under another parent,
    // rebuilt from the store). A staged layer is moved into place once; the same diff again is rebuilt.
    const plan: Array<{ id: string; parent: string | undefined; rec: LayerRecord; staged?: StagedLayer; src?: LayerRecord; diffDigest: string }> = [];
    const planned = new Set<string>();
    const stagedUsed = new Set<StagedLayer>();
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const parent = i > 0 ? ids[i - 1] : undefined;
      const want = spec.layers[i]!;
      if (byId.has(id)) continue;
      const staged = want.staged && !stagedUsed.has(want.staged) && existsSync(want.staged.dir) ? want.staged : undefined;
      let entry: (typeof plan)[number];
      if (staged) {
        if (staged.diffDigest !== want.diffDigest) {
          throw new FerryError(ErrorCode.DigestMismatch, `layer diff ID mismatch: expected ${want.diffDigest}, got ${staged.diffDigest}`);
        }
        stagedUsed.add(staged);
        entry = { id, parent, rec: layerRecord(id, parent, staged), staged, diffDigest: want.diffDigest };
      } else {
        const src = layers.find((l) => l['diff-digest'] === want.diffDigest && (planned.has(l.id) || existsSync(join(this.dir('layers'), `${l.id}.tar-split.gz`))));
        if (!src) throw notFound(`no content for layer ${want.diffDigest}`);
        entry = { id, parent, rec: orderLayer({ ...pickLayerContent(src), id, ...(parent ? { parent } : {}), created: goTimeNow() }), src, diffDigest: want.diffDigest };
      }
      markIncomplete(entry.rec);
      plan.push(entry);
      planned.add(id);
      layers.push(entry.rec);
      byId.set(id, entry.rec);
    }
    if (plan.length > 0) {
      await undo.saveFile(this.file('layers'), 'layers');
      await this.writeLayersUnlocked(layers, op);
      for (const m of plan) {
        // content no record named (left by a writer killed after moving it into place, before recording it)
        this.driver.remove(m.id);
        if (m.staged) {
          await this.makeLayer(m.id, m.parent, m.staged, m.staged.compressedDigest, undo);
          continue;
        }
        const again = await this.stageLayer(this.layerDiff(m.src!.id, op), { digest: m.diffDigest }, op);
        try {
          await this.makeLayer(m.id, m.parent, again, m.diffDigest, undo);
        } finally {
          await again.discard();
        }
      }
      // the layers' files, tar-split and renames on disk before the write that declares them complete
      await syncFileSystems([this.driver.home, this.dir('layers')]);
      for (const m of plan) clearIncomplete(m.rec);
      await this.writeLayersUnlocked(layers, op);
    }
    await this.putImageUnlocked(imageId, ids[ids.length - 1], spec, undo, op);
    return imageId;
  }

  /**
   * Moves a staged layer into place as layer `id` (recorded in `undo` first, so a failure removes it), once its
   * whiteouts are known to stay within real directories of the layers below (see whiteout-check.ts).
   * `name` names the layer in errors.
   */
  private async makeLayer(id: string, parent: string | undefined, staged: StagedLayer, name: string, undo: UndoLog): Promise<void> {
    if (parent !== undefined) checkWhiteoutsBeneath(this.driver.lowerDirs(parent), staged.whiteouts, name);
    await staged.disown();
    undo.layerMade(id);
    this.driver.finalize(id, parent, staged.dir, false, staged.whiteouts);
    renameSync(staged.tarSplitPath, join(this.dir('layers'), `${id}.tar-split.gz`));
  }

  private async putImageUnlocked(imageId: string, topLayer: string | undefined, spec: CommitImageSpec, undo: UndoLog, op: Op): Promise<void> {
    const list = spec.sourceList !== undefined && spec.sourceList.digest !== spec.manifestDigest ? spec.sourceList : undefined;
    const big: BigDataItem[] = [
      [spec.configDigest, spec.config],
      ...(list ? [[manifestKey(list.digest), list.bytes, list.digest] as BigDataItem] : []),
      [manifestKey(spec.manifestDigest), spec.manifest, spec.manifestDigest],
      [MANIFEST_KEY, spec.manifest, spec.manifestDigest],
      [signatureKey(spec.manifestDigest), Buffer.concat(spec.signatures)],
    ];
    // containers/image reads the image's own signatures from `signatures` (sizes in `signature-sizes`), those of an
    // instance from `signature-<hex>`: the image's are stored under both, as containers/image stores them
    if (spec.signatures.length > 0) big.push([TOP_SIGNATURES_KEY, Buffer.concat(spec.signatures)]);
    await this.putRecordUnlocked(imageId, {
      ...(topLayer ? { layer: topLayer } : {}),
      digest: list?.digest ?? spec.manifestDigest,
      signedDigest: spec.manifestDigest,
      names: spec.names,
      big,
      signatures: spec.signatures,
      ...(spec.created ? { created: spec.created } : {}),
    }, undo, op);
  }

  /**
   * Writes an image record and its big data (files first, then images.json), moving `names` from other images.
   * With `signatures`, the metadata records their sizes under `signedDigest` (default: the image's digest) and as
   * the image's own.
   */
  private async putRecordUnlocked(
    imageId: string,
    r: { layer?: string; digest: string; signedDigest?: string; names: string[]; big: BigDataItem[]; signatures?: Buffer[]; created?: string },
    undo: UndoLog,
    op: Op,
  ): Promise<void> {
    const images = await this.readImagesUnlocked();
    const names = [...new Set(r.names)];
    for (const other of images) {
      if (other.id === imageId || !other.names) continue;
      other.names = other.names.filter((n) => !names.includes(n));
    }
    let img = images.find((i) => i.id === imageId);
    if (!img) {
      img = { id: imageId };
      images.push(img);
    }
    const dir = join(this.dir('images'), imageId);
    await undo.makeDir(dir, 0o700);
    // an image directory someone replaced by a symlink would have the big data written wherever it points
    if (!(await lstat(dir)).isDirectory()) throw new FerryError(ErrorCode.Io, `${dir} is not a directory: refusing to write the image's data through it`);
    for (const [key, data] of r.big) {
      const path = join(dir, bigDataFileName(key));
      await undo.saveFile(path);
      await writeFileAtomic(path, data, { mode: 0o600, signal: op.signal });
    }
    const bdNames = [...(img['big-data-names'] ?? [])];
    const sizes = { ...(img['big-data-sizes'] ?? {}) };
    const digests = { ...(img['big-data-digests'] ?? {}) };
    for (const [key, data, digest] of r.big) {
      if (!bdNames.includes(key)) bdNames.push(key);
      sizes[key] = data.length;
      digests[key] = digest ?? `sha256:${createHash('sha256').update(data).digest('hex')}`;
    }
    let meta: Record<string, unknown> | undefined;
    if (r.signatures !== undefined || img.metadata !== undefined) {
      try {
        meta = img.metadata ? (JSON.parse(img.metadata) as Record<string, unknown>) : {};
      } catch {
        meta = {};
      }
    }
    if (meta !== undefined && r.signatures !== undefined) {
      // the image's signatures are those of its latest commit, as containers/image's metadata says
      if (r.signatures.length > 0) meta['signature-sizes'] = r.signatures.map((s) => s.length);
      else delete meta['signature-sizes'];
      const sigSizes = { ...((meta['signatures-sizes'] as Record<string, number[]> | undefined) ?? {}) };
      sigSizes[r.signedDigest ?? r.digest] = r.signatures.map((s) => s.length);
      meta['signatures-sizes'] = sigSizes;
    }
    const allNames = [...new Set([...(img.names ?? []), ...names])];
    const history = [...new Set([...names, ...(img['names-history'] ?? [])])];
    const rebuilt: ImageRecord = {
      id: imageId,
      digest: r.digest,
      ...(allNames.length > 0 ? { names: allNames } : {}),
      ...(history.length > 0 ? { 'names-history': history } : {}),
      ...(r.layer ? { layer: r.layer } : {}),
      ...(meta !== undefined ? { metadata: JSON.stringify(meta) } : {}),
      'big-data-names': bdNames,
      'big-data-sizes': sizes,
      'big-data-digests': digests,
      created: img.created ?? r.created ?? goTimeNow(),
    };
    for (const [k, v] of Object.entries(img)) if (!(k in rebuilt) && k !== 'names' && k !== 'layer') (rebuilt as Record<string, unknown>)[k] = v;
    images[images.indexOf(img)] = rebuilt;
    await undo.saveFile(this.file('images'), 'images');
    await this.writeImagesUnlocked(images, op);
  }

  /**
   * Stores a multi-platform image's list as podman stores one (`podman manifest`): an image without layers whose
   * `manifest` big data is the list and whose `instances.json` maps each instance digest to the reference of the
   * image in this store holding it (committed before, see {@link commitImage}). The list's signatures are stored as
   * an image's. The image ID is the list digest's hex, so copying the same list again updates the same record.
   * @returns the image ID.
   */
  async commitList(spec: CommitListSpec, op: Op = {}): Promise<string> {
    return this.transaction((tx) => tx.commitList(spec), op);
  }

  private async commitListUnlocked(spec: CommitListSpec, undo: UndoLog, op: Op): Promise<string> {
    const imageId = spec.listDigest.slice(spec.listDigest.indexOf(':') + 1);
    const instances: Record<string, string> = { '': imageId, ...spec.instances };
    const big: BigDataItem[] = [
      [MANIFEST_KEY, spec.list, spec.listDigest],
      [INSTANCES_KEY, Buffer.from(JSON.stringify(instances))],
    ];
    if (spec.signatures.length > 0) {
      big.push([signatureKey(spec.listDigest), Buffer.concat(spec.signatures)], [TOP_SIGNATURES_KEY, Buffer.concat(spec.signatures)]);
    }
    await this.putRecordUnlocked(imageId, { digest: spec.listDigest, names: spec.names, big, ...(spec.signatures.length > 0 ? { signatures: spec.signatures } : {}) }, undo, op);
    return imageId;
  }

  /**
   * Removes the layers marked incomplete (see records.ts): their content and tar-split, then their records. The caller
   * holds the layers write lock. Image records are left as they are (containers/storage leaves them too); ferry writes
   * an image only once its layers are complete.
   * @returns the IDs removed.
   */
  private async removeIncompleteLayersUnlocked(): Promise<string[]> {
    const layers = await this.readLayersUnlocked();
    const gone = layers.filter(isIncomplete);
    if (gone.length === 0) return [];
    for (const l of gone) {
      try {
        this.removeLayerContent(l.id);
      } catch (e) {
        throw new FerryError(ErrorCode.Io, `removing layer ${l.id}, left incomplete by a killed writer: ${(e as Error).message}`, { cause: e });
      }
    }
    await this.writeLayersUnlocked(layers.filter((l) => !isIncomplete(l)));
    return gone.map((l) => l.id);
  }

  /** Marks the recorded layers among `ids` incomplete in layers.json (before their content is removed). */
  private async markLayersIncompleteUnlocked(ids: string[]): Promise<void> {
    const layers = await this.readLayersUnlocked();
    const which = new Set(ids);
    const marked = layers.filter((l) => which.has(l.id) && !isIncomplete(l));
    if (marked.length === 0) return;
    for (const l of marked) markIncomplete(l);
    await this.writeLayersUnlocked(layers);
  }

  /** Removes a layer's content and tar-split (the caller updates layers.json). */
  removeLayerContent(id: string): void {
    this.driver.remove(id);
    rmSync(join(this.dir('layers'), `${id}.tar-split.gz`), { force: true });
  }

  /**
   * Removes what killed pulls left: staging directories no live process owns (their owner lock, or, without
   * one, an age of a minute: see util/owned-temp-dir.ts), tar-split files of staging directories that are gone,
   * and half-made layers. The caller holds the layers write lock (layers are moved into place under it).
   * @returns the paths removed.
   */
  async removeAbandonedStagingUnlocked(): Promise<string[]> {
    const root = join(this.driver.home, STAGING_DIR);
    const removed = (await removeAbandonedTempDirs(root, '')).map((n) => join(root, n));
    const staging = new Set(await readdir(root).catch(() => [] as string[]));
    for (const name of await readdir(this.dir('layers')).catch(() => [] as string[])) {
      if (!name.startsWith(TAR_SPLIT_TEMP_PREFIX) || !name.endsWith(TAR_SPLIT_TEMP_SUFFIX)) continue;
      if (staging.has(name.slice(TAR_SPLIT_TEMP_PREFIX.length, -TAR_SPLIT_TEMP_SUFFIX.length))) continue;
      await rm(join(this.dir('layers'), name), { force: true });
      removed.push(join(this.dir('layers'), name));
    }
    for (const p of this.driver.leftovers()) {
      await rm(p, { recursive: true, force: true });
      removed.push(p);
    }
    return removed;
  }
}

/**
 * Opens the regular file `parts` names beneath `root` for reading, without following a symlink anywhere: `root`,
 * its parent and every directory on the way must be real directories (`realDirs` remembers those seen). An entry may
 * have been replaced by a symlink later in the same layer (a duplicate name), and the content of a store someone else
 * can write may hold links to files outside it, FIFOs (which would block the open) or devices: all are refused.
 * @throws Error (with an errno `code` where the file system gave one).
 */
function openRegularBeneath(root: string, parts: string[], realDirs: Set<string>): number {
  const dirs = [dirname(root), root];
  for (let i = 0, p = root; i < parts.length - 1; i++) dirs.push((p = join(p, parts[i]!)));
  for (const d of dirs) {
    if (realDirs.has(d)) continue;
    if (!lstatSync(d).isDirectory()) throw new Error(`${d} is not a directory`);
    realDirs.add(d);
  }
  const path = join(root, ...parts);
  // lstat first: opening a device can have effects of its own
  if (!lstatSync(path).isFile()) throw new Error('not a regular file');
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw new Error('not a regular file');
  }
  return fd;
}

function layerRecord(id: string, parent: string | undefined, s: StagedLayer): LayerRecord {
  return {
    id,
    ...(parent ? { parent } : {}),
    created: goTimeNow(),
    'compressed-diff-digest': s.compressedDigest,
    'compressed-size': s.compressedSize,
    'diff-digest': s.diffDigest,
    'diff-size': s.diffSize,
    compression: s.compression,
    uidset: s.uids,
    gidset: s.gids,
  };
}

function pickLayerContent(l: LayerRecord): Partial<LayerRecord> {
  const out: Partial<LayerRecord> = {};
  for (const k of ['compressed-diff-digest', 'compressed-size', 'diff-digest', 'diff-size', 'compression', 'uidset', 'gidset'] as const) {
    if (l[k] !== undefined) (out as Record<string, unknown>)[k] = l[k];
  }
  return out;
}

function orderLayer(r: LayerRecord): LayerRecord {
  // containers/storage's Layer field order
  const keys = ['id', 'names', 'parent', 'created', 'compressed-diff-digest', 'compressed-size', 'diff-digest', 'diff-size', 'compression', 'uidset', 'gidset', 'flags'];
  const out: Record<string, unknown> = {};
  for (const k of keys) if (r[k] !== undefined) out[k] = r[k];
  for (const [k, v] of Object.entries(r)) if (!(k in out)) out[k] = v;
  return out as LayerRecord;
}

/**
 * Finds an image the way a user names it: full ID, unique ID prefix, name as stored, or a short docker
 * name normalized like containers/image (`busybox` → `docker.io/library/busybox:latest`).
 */
export function findImageRecord(images: ImageRecord[], spec: string): ImageRecord | undefined {
  const direct = findIn(images, spec, 'image');
  if (direct) return direct;
  try {
    const full = fullString(withDefaultTag(parseNormalizedName(spec)));
    return images.find((i) => i.names?.includes(full));
  } catch {
    return undefined;
  }
}

/** Finds a record by full ID, unique ID prefix or name. */
export function findIn<T extends { id: string; names?: string[] }>(records: T[], spec: string, what: string): T | undefined {
  const exact = records.find((r) => r.id === spec) ?? records.find((r) => r.names?.includes(spec));
  if (exact) return exact;
  if (/^[0-9a-f]{3,63}$/.test(spec)) {
    const m = records.filter((r) => r.id.startsWith(spec));
    if (m.length > 1) throw new FerryError(ErrorCode.InvalidReference, `${what} ID prefix "${spec}" is ambiguous`);
    return m[0];
  }
  return undefined;
}
