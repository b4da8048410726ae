/**
 * An OCI archive opened once for reading many of its images (`sync --src oci-archive`): each image is an
 * `oci-archive:PATH:REF` reference — its name, policy identity and scopes are the archive's — whose source reads
 * the archive indexed once (tar-source.ts) instead of opening it again. The caller closes it with `close`.
 */
import type { OpOptions, SystemContext } from '../../types/context.js';
import type { ImageDestination, ImageSource } from '../../types/image.js';
import type { ImageReference } from '../../types/reference.js';
import type { TempOptions } from '../../util/temp.js';
import { refNameOf, type OciDescriptor } from '../oci-layout/layout.js';
import { reachableVia } from '../oci-layout/reachable.js';
import { checkAborted } from '../shared/files.js';
import { readTarArchiveIndex, type SizedBlob } from './archive-index.js';
import { DelegatingArchiveReference } from './delegating-reference.js';
import { OciArchiveReference } from './reference.js';
import { IndexedOciArchive, OciTarSource } from './tar-source.js';

/** An `oci-archive:PATH:REF` reference read from an {@link OpenedOciArchive}. */
class OpenedImageReference extends DelegatingArchiveReference {
  constructor(
    ref: OciArchiveReference,
    private readonly archive: IndexedOciArchive,
  ) {
    super(ref);
  }

  /** A source on the shared archive: closing it leaves the archive open. */
  override async newImageSource(_ctx: SystemContext, opts: OpOptions = {}): Promise<ImageSource> {
    checkAborted(opts.signal, `opening ${this.ref.toString()}`);
    return new OciTarSource(this, this.archive, this.archive.select(this.ref.selector), false);
  }
}

/** See the module comment. */
export class OpenedOciArchive {
  private constructor(
    /** The archive as the user named it. */
    readonly path: string,
    private readonly archive: IndexedOciArchive,
    /** The ref names of the archive's images, in `index.json` order (unnamed images are left out). */
    readonly refNames: readonly string[],
  ) {}

  /**
   * Opens the archive at `path` and reads its index.
   * @throws FerryError(E_NOT_FOUND | E_HOSTILE_ARCHIVE | E_INVALID_MANIFEST | E_IO), naming the archive.
   */
  static async open(path: string, opts: OpOptions & TempOptions & { since?: readonly string[] } = {}): Promise<OpenedOciArchive> {
    const archive = await IndexedOciArchive.open(path, opts);
    const names = [...new Set(archive.index.manifests.map(refNameOf).filter((n): n is string => n !== undefined))];
    return new OpenedOciArchive(path, archive, names);
  }

  /**
   * The blobs the image `refName` uses that the archive leaves out and no earlier archive it was opened with
   * (`--since`) carries: expected at the destination (an incremental archive's `expects`, archive-index.ts); none
   * for a whole archive.
   */
  async expectedBlobs(refName: string, opts: OpOptions = {}): Promise<(SizedBlob & { in: string })[]> {
    const doc = (await readTarArchiveIndex(this.archive.tar, opts))?.doc;
    const expects = new Map((doc?.expects ?? []).map((b) => [b.digest, b] as const));
    if (expects.size === 0) return [];
    const roots = this.archive.index.manifests.filter((d) => refNameOf(d) === refName);
    const used = await reachableVia(roots, async (digest, limit) => {
      const found = this.archive.find(digest);
      return found && found.entry.size <= limit ? found.archive.tar.readEntry(found.entry, limit, opts) : undefined;
    });
    // what the document says is left out, and is: a blob the archive (or an earlier one) carries is read from there
    return [...used].flatMap((d) => (expects.has(d) && !this.archive.find(d) ? [expects.get(d)!] : []));
  }

  /** The entries of the archive's `index.json`, in order. */
  get manifests(): readonly OciDescriptor[] {
    return this.archive.index.manifests;
  }

  /** The image named `refName`, read from the opened archive. */
  reference(refName: string): ImageReference {
    return new OpenedImageReference(new OciArchiveReference(this.path, refName), this.archive);
  }

  /** Removes what opening made (a decompressed or joined copy). */
  async close(): Promise<void> {
    await this.archive.close();
  }
}
