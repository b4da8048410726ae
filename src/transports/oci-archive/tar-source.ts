/**
 * Reading images of an OCI archive in place: the tar is indexed (headers only) and manifests and blobs are read
 * from their offsets in it, as the docker-archive source does, so an archive of many gigabytes is never unpacked.
 * A gzip'd archive, a stream or a split archive is first made into one plain tar in the temporary-files directory
 * (src/transports/docker-archive/archive.ts `uncompressedTar`). Errors name the archive.
 */
import type { Readable } from 'node:stream';
import { FerryError, ErrorCode } from '../../errors.js';
import { guessManifestMediaType } from '../../manifest/guess.js';
import type { OpOptions } from '../../types/context.js';
import type { BlobInfo, ImageSource, RawManifest } from '../../types/image.js';
import type { ImageReference } from '../../types/reference.js';
import { MAX_JSON_BYTES } from '../../util/bounded-read.js';
import { isDigest, verifyDigest } from '../../util/digest.js';
import type { TempDir, TempOptions } from '../../util/temp.js';
import { uncompressedTar } from '../shared/uncompressed-tar.js';
import { indexTar, type TarEntry, type TarIndex } from '../../tar/file-index.js';
import { type ImageSelector, OCI_LAYOUT_FILE, type OciDescriptor, type OciIndex, refNameOf, selectDescriptor } from '../oci-layout/layout.js';
import { taggedDescriptor, taggedManifest } from '../oci-layout/tagged.js';
import { checkAborted } from '../shared/files.js';
import { archivedBlob, readArchivedIndex } from './merge.js';
import { archiveFileOf, readTarArchiveIndex } from './archive-index.js';

/** An archive of a layout, for messages. */
export const ARCHIVE_KIND = Object.freeze({ what: 'OCI archive', transport: 'oci-archive' });

/**
 * An indexed OCI archive: its tar, its `index.json`, the temporary copy to remove (if one was made), and the
 * earlier archives (`--since`) that the blobs an incremental archive leaves out are read from.
 */
export class IndexedOciArchive {
  /** Earlier archives, searched in order for a blob this one does not carry. */
  private readonly earlier: IndexedOciArchive[] = [];

  private constructor(
    /** The archive as the user named it. */
    readonly path: string,
    readonly tar: TarIndex,
    readonly index: OciIndex,
    private readonly temp: TempDir | undefined,
  ) {}

  /**
   * Indexes the archive at `path` and reads its `oci-layout` and `index.json`.
   * @throws FerryError(E_NOT_FOUND) for a missing file or a tar that is not an OCI layout (no `oci-layout`);
   *         E_HOSTILE_ARCHIVE; E_INVALID_MANIFEST (corrupt or truncated tar, bad index); E_UNSUPPORTED; E_IO.
   */
  static async open(path: string, opts: OpOptions & TempOptions & { since?: readonly string[] } = {}): Promise<IndexedOciArchive> {
    const archive = await IndexedOciArchive.openOne(path, opts);
    try {
      for (const s of opts.since ?? []) archive.earlier.push(await IndexedOciArchive.openOne(await archiveFileOf(s), { signal: opts.signal, tmpDir: opts.tmpDir }));
    } catch (e) {
      await archive.close().catch(() => {});
      throw e;
    }
    return archive;
  }

  private static async openOne(path: string, opts: OpOptions & TempOptions): Promise<IndexedOciArchive> {
    const what = `OCI archive ${path}`;
    const { tarPath, temp } = await uncompressedTar(path, what, opts);
    try {
      const tar = await indexTar(tarPath, what, opts);
      const marker = tar.resolve(OCI_LAYOUT_FILE);
      if (!marker) throw new FerryError(ErrorCode.NotFound, `${what} is not an OCI image layout: no ${OCI_LAYOUT_FILE} file`);
      const bytes = await tar.readEntry(marker, MAX_JSON_BYTES, opts);
      let version: unknown;
      try {
        version = (JSON.parse(bytes.toString('utf8')) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
      } catch (e) {
        throw new FerryError(ErrorCode.InvalidManifest, `${what}: ${OCI_LAYOUT_FILE} is not valid JSON`, { cause: e });
      }
      if (typeof version !== 'string') throw new FerryError(ErrorCode.InvalidManifest, `${what}: ${OCI_LAYOUT_FILE}: missing imageLayoutVersion`);
      if (!/^1\.\d+\.\d+$/.test(version)) throw new FerryError(ErrorCode.Unsupported, `${what}: unsupported imageLayoutVersion "${version}" (expected 1.x)`);
      return new IndexedOciArchive(path, tar, await readArchivedIndex(tar, opts), temp);
    } catch (e) {
      await temp?.remove().catch(() => {});
      throw e;
    }
  }

  /**
   * Where a blob an incremental archive leaves out was carried (its `ferry-archive.json` `expects`), if it is one.
   */
  async expectedIn(digest: string, opts: OpOptions = {}): Promise<string | undefined> {
    this.expected ??= readTarArchiveIndex(this.tar, opts).then(
      (r) => new Map((r?.doc.expects ?? []).map((b) => [b.digest, b.in] as const)),
      () => new Map<string, string>(),
    );
    return (await this.expected).get(digest);
  }

  private expected: Promise<Map<string, string>> | undefined;

  /** Where the blob `digest` is: in this archive, else in the first earlier archive that carries it. */
  find(digest: string): { archive: IndexedOciArchive; entry: TarEntry } | undefined {
    for (const archive of [this, ...this.earlier]) {
      const entry = archivedBlob(archive.tar, digest);
      if (entry) return { archive, entry };
    }
    return undefined;
  }

  /** The earlier archives' names, for messages. */
  get earlierNames(): string[] {
    return this.earlier.map((a) => a.path);
  }

  /** The index descriptor a selector means (see `selectDescriptor`), naming the archive in errors. */
  select(sel: ImageSelector): OciDescriptor {
    return selectDescriptor(this.index, sel, this.path, ARCHIVE_KIND).descriptor;
  }

  /** Removes the temporary copy, if one was made. */
  async close(): Promise<void> {
    for (const a of this.earlier.splice(0)) await a.close().catch(() => {});
    await this.temp?.remove();
  }
}

/** An ImageSource over one image of an {@link IndexedOciArchive}; closing it closes the archive when it owns it. */
export class OciTarSource implements ImageSource {
  constructor(
    readonly reference: ImageReference,
    private readonly archive: IndexedOciArchive,
    /** The `index.json` descriptor of the image. */
    readonly descriptor: OciDescriptor,
    private readonly owned: boolean,
  ) {}

  /** Where a blob is: this archive, or an earlier one it builds on. */
  private entry(digest: string, what: string): { tar: TarIndex; entry: TarEntry } {
    if (!isDigest(digest)) throw new FerryError(ErrorCode.InvalidManifest, `invalid ${what} digest "${digest}" for OCI archive ${this.archive.path}`);
    const found = this.archive.find(digest);
    if (!found) throw new FerryError(ErrorCode.NotFound, `${what} ${digest} not found in OCI archive ${this.archive.path}`);
    return { tar: found.archive.tar, entry: found.entry };
  }

  /** The image's manifest (or index) as stored; with `instanceDigest`, that blob. */
  async getManifest(instanceDigest?: string, opts: OpOptions = {}): Promise<RawManifest> {
    const digest = instanceDigest ?? this.descriptor.digest;
    const { tar, entry: e } = this.entry(digest, 'manifest');
    if (e.size > MAX_JSON_BYTES) throw new FerryError(ErrorCode.TooLarge, `manifest ${digest} in OCI archive ${this.archive.path} is larger than ${MAX_JSON_BYTES} bytes: refusing to read it`);
    const bytes = await tar.readEntry(e, MAX_JSON_BYTES, opts);
    // the entry must be what its name and index.json say (an instance is checked by its reader against its digest)
    if (instanceDigest === undefined) verifyDigest(`manifest ${digest} in OCI archive ${this.archive.path}`, bytes, digest);
    const declared = instanceDigest === undefined ? this.descriptor.mediaType : undefined;
    return { bytes, mediaType: declared || guessManifestMediaType(bytes) };
  }

  /**
   * Streams the blob from its place in the archive (or in an earlier archive given with `--since`), from `offset`.
   * A blob an incremental archive leaves out, that no earlier archive carries, is E_NOT_FOUND naming the archive
   * that carried it.
   */
  async getBlob(info: BlobInfo, opts: OpOptions & { offset?: number } = {}): Promise<{ stream: Readable; size: number }> {
    checkAborted(opts.signal, `reading blob ${info.digest}`);
    if (isDigest(info.digest) && !this.archive.find(info.digest)) {
      const from = await this.archive.expectedIn(info.digest, opts);
      if (from !== undefined) {
        throw new FerryError(
          ErrorCode.NotFound,
          `blob ${info.digest} is not in OCI archive ${this.archive.path}, which expects it at the destination (carried by ${from || 'an earlier archive'}): import that archive first, or name it with --since`,
        );
      }
    }
    const { tar, entry: e } = this.entry(info.digest, 'blob');
    // a truncated or padded entry is refused before anything of it is sent (the digest check would catch it late)
    if (info.size >= 0 && e.size !== info.size) {
      throw new FerryError(ErrorCode.SizeMismatch, `blob ${info.digest} in OCI archive ${this.archive.path} has ${e.size} bytes, the manifest says ${info.size}: the archive is damaged`);
    }
    return { stream: tar.openEntry(e, { signal: opts.signal, offset: opts.offset }), size: e.size };
  }

  /** OCI archives store no simple-signing signatures. */
  async getSignatures(_instanceDigest?: string, opts: OpOptions = {}): Promise<Buffer[]> {
    checkAborted(opts.signal, 'reading signatures');
    return [];
  }

  /** The image whose ref name is this image's with `tag` as its tag (see oci-layout/tagged.ts). */
  getTaggedManifest(tag: string, opts: OpOptions = {}): Promise<RawManifest | undefined> {
    return archivedTaggedManifest(this.archive, refNameOf(this.descriptor) ?? '', tag, opts);
  }

  async close(): Promise<void> {
    if (this.owned) await this.archive.close();
  }
}

/** The manifest named by the ref name of `tag` beside the image named `imageRefName` in `archive` (oci-layout/tagged.ts). */
export async function archivedTaggedManifest(archive: IndexedOciArchive, imageRefName: string, tag: string, opts: OpOptions = {}): Promise<RawManifest | undefined> {
  const desc = taggedDescriptor(archive.index, imageRefName, tag);
  if (!desc) return undefined;
  const where = `OCI archive ${archive.path}`;
  const e = isDigest(desc.digest) ? archivedBlob(archive.tar, desc.digest) : undefined;
  if (!e) throw new FerryError(ErrorCode.NotFound, `manifest ${desc.digest} not found in ${where}`);
  if (e.size > MAX_JSON_BYTES) throw new FerryError(ErrorCode.TooLarge, `manifest ${desc.digest} in ${where} is larger than ${MAX_JSON_BYTES} bytes: refusing to read it`);
  return taggedManifest(desc, await archive.tar.readEntry(e, MAX_JSON_BYTES, opts), where);
}

/**
 * What {@link archivedTaggedManifest} finds in the archive file at `path` (opened for this one look-up): for a
 * destination adding to an archive, what it already holds under a tag.
 */
export async function taggedManifestInArchive(path: string, imageRefName: string, tag: string, opts: OpOptions & TempOptions = {}): Promise<RawManifest | undefined> {
  const archive = await IndexedOciArchive.open(path, opts);
  try {
    return await archivedTaggedManifest(archive, imageRefName, tag, opts);
  } finally {
    await archive.close().catch(() => {});
  }
}
