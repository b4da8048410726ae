/**
 * Checking an OCI archive before it is trusted (`ferry verify-archive`): its `oci-layout` and `index.json`, then,
 * from every image of the index, every blob it reaches — manifests and indexes parsed, every blob's size and digest
 * computed from its bytes (each blob once, however many images share it). The archive is read in place (a gzip'd
 * one is decompressed into the temporary-files directory first); nothing is unpacked. Blobs with `urls` that the
 * archive does not carry (foreign layers), and blobs an incremental archive expects at the destination
 * (`ferry-archive.json`, archive-index.ts), are not problems. A ref name an import would refuse (not a valid
 * image name) or could not tell apart (the name of two different images) is one.
 */
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ErrorCode, FerryError } from '../../errors.js';
import { MediaType } from '../../manifest/media-types.js';
import { parseManifest } from '../../manifest/parse.js';
import { platformString } from '../../manifest/platform.js';
import type { ArchiveImageReport, ArchiveProblem, ArchiveReport } from '../../types/archive-report.js';
import type { OpOptions } from '../../types/context.js';
import { MAX_JSON_BYTES } from '../../util/bounded-read.js';
import { isDigest } from '../../util/digest.js';
import type { TempOptions } from '../../util/temp.js';
import { VerifyingStream } from '../../util/verify-stream.js';
import { uncompressedTar } from '../shared/uncompressed-tar.js';
import { indexTar, type TarIndex } from '../../tar/file-index.js';
import { isValidRefName, OCI_LAYOUT_FILE, refNameOf, type OciDescriptor } from '../oci-layout/layout.js';
import { archivedBlob, readArchivedIndex } from './merge.js';
import { readTarArchiveIndex } from './archive-index.js';

const MANIFEST_TYPES: ReadonlySet<string> = new Set([MediaType.OciManifest, MediaType.OciIndex, MediaType.DockerManifest, MediaType.DockerManifestList]);

/** A blob as a descriptor names it. */
interface BlobRef {
  digest: string;
  size: number;
  mediaType?: string;
  urls?: string[];
}

/** What checking one blob found. */
interface BlobResult {
  /** Carried by the archive. */
  present: boolean;
  size: number;
  /** Why it is bad, if it is. */
  problem?: string;
  /** For a sound manifest or index: the blobs it refers to, and the platforms of an index. */
  children?: BlobRef[];
  platforms?: string[];
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Checks blobs of one archive, each once. */
class BlobChecker {
  private readonly done = new Map<string, Promise<BlobResult>>();
  constructor(
    private readonly tar: TarIndex,
    private readonly opts: OpOptions,
    /** Blobs the archive leaves out on purpose (an incremental archive's `expects`). */
    private readonly expected: ReadonlySet<string> = new Set(),
  ) {}

  check(ref: BlobRef): Promise<BlobResult> {
    let r = this.done.get(ref.digest);
    if (!r) {
      r = this.run(ref);
      this.done.set(ref.digest, r);
    }
    return r;
  }

  /** Digests checked so far. */
  get seen(): ReadonlySet<string> {
    return new Set(this.done.keys());
  }

  private async run(ref: BlobRef): Promise<BlobResult> {
    if (!isDigest(ref.digest)) return { present: false, size: 0, problem: `invalid digest ${JSON.stringify(ref.digest)}` };
    const entry = archivedBlob(this.tar, ref.digest);
    if (!entry) return { present: false, size: 0, ...(ref.urls?.length || this.expected.has(ref.digest) ? {} : { problem: 'missing from the archive' }) };
    if (ref.size >= 0 && entry.size !== ref.size) {
      return { present: true, size: entry.size, problem: `size ${entry.size}, the descriptor says ${ref.size}` };
    }
    const verify = new VerifyingStream({ digest: ref.digest, size: entry.size, what: `blob ${ref.digest}` });
    const chunks: Buffer[] = [];
    const keep = ref.mediaType === undefined || MANIFEST_TYPES.has(ref.mediaType);
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        if (keep && entry.size <= MAX_JSON_BYTES) chunks.push(chunk);
        cb();
      },
    });
    try {
      await pipeline(this.tar.openEntry(entry, { signal: this.opts.signal }), verify, sink, { signal: this.opts.signal });
    } catch (e) {
      if (this.opts.signal?.aborted || (e instanceof FerryError && e.code === ErrorCode.Aborted)) throw e;
      const text = message(e).replace(`blob ${ref.digest}: `, '');
      return { present: true, size: entry.size, problem: text };
    }
    if (ref.mediaType === undefined || !MANIFEST_TYPES.has(ref.mediaType)) return { present: true, size: entry.size };
    if (entry.size > MAX_JSON_BYTES) return { present: true, size: entry.size, problem: `manifest larger than ${MAX_JSON_BYTES} bytes` };
    try {
      const m = parseManifest(Buffer.concat(chunks), ref.mediaType);
      if (m.kind === 'list') {
        return {
          present: true,
          size: entry.size,
          children: m.manifests.map((d) => ({ digest: d.digest, size: d.size, mediaType: d.mediaType, urls: d.urls })),
          platforms: m.manifests.filter((d) => d.platform).map((d) => platformString(d.platform)),
        };
      }
      const children: BlobRef[] = [];
      if (m.schema1 === undefined) children.push({ digest: m.config.digest, size: m.config.size, mediaType: m.config.mediaType ?? 'config' });
      for (const l of m.layers) children.push({ digest: l.digest, size: l.size, mediaType: l.mediaType ?? 'layer', urls: l.urls });
      return { present: true, size: entry.size, children };
    } catch (e) {
      return { present: true, size: entry.size, problem: `invalid manifest: ${message(e)}` };
    }
  }
}

/**
 * Checks the OCI archive whose tar is indexed as `tar` (see the module comment).
 * @param archive the archive as named, for the report.
 * @throws FerryError(E_INVALID_MANIFEST) when it is not an OCI archive (no `index.json`, an invalid one), E_ABORTED.
 */
export async function verifyOciTar(tar: TarIndex, archive: string, opts: OpOptions = {}): Promise<ArchiveReport> {
  const report: ArchiveReport = { archive, format: 'oci', images: [], blobs: 0, size: 0, unreferenced: [], expects: [], buildsOn: [], problems: [] };
  if (!tar.resolve(OCI_LAYOUT_FILE)) report.problems.push({ image: '', blob: '', problem: `no ${OCI_LAYOUT_FILE} file` });
  const index = await readArchivedIndex(tar, opts);
  const doc = (await readTarArchiveIndex(tar, opts))?.doc;
  report.expects = (doc?.expects ?? []).map((b) => b.digest);
  report.buildsOn = (doc?.buildsOn ?? []).map((b) => ({ digest: b.id, name: b.name }));
  const checker = new BlobChecker(tar, opts, new Set(report.expects));
  const carried = new Map<string, number>();
  const named = new Map<string, string>();
  for (const [i, desc] of index.manifests.entries()) {
    const refName = refNameOf(desc);
    // what an import refuses to name a destination after (src/sync/naming.ts), or could not tell apart
    let nameProblem: ArchiveProblem | undefined;
    if (refName !== undefined && !isValidRefName(refName)) {
      nameProblem = { image: refName, blob: '', problem: `ref name ${JSON.stringify(refName)} is not a valid image name (REPO:TAG): an import refuses it` };
    } else if (refName !== undefined && named.has(refName) && named.get(refName) !== desc.digest) {
      nameProblem = { image: refName, blob: desc.digest, problem: `the ref name is also that of ${named.get(refName)}: sync --src oci-archive refuses the archive, a copy of that name takes the first` };
    }
    if (refName !== undefined && !named.has(refName)) named.set(refName, desc.digest);
    if (nameProblem) report.problems.push(nameProblem);
    const image = await checkImage(desc, refName ?? `@${i}`, checker, report.problems);
    if (nameProblem) image.report.ok = false;
    for (const [d, size] of image.carried) carried.set(d, size);
    report.images.push(image.report);
  }
  report.blobs = carried.size;
  report.size = [...carried.values()].reduce((a, b) => a + b, 0);
  const seen = checker.seen;
  for (const e of tar.list) {
    const m = /^blobs\/([a-z0-9]+)\/([a-f0-9]+)$/.exec(e.name);
    if (m && !seen.has(`${m[1]}:${m[2]}`)) report.unreferenced.push(`${m[1]}:${m[2]}`);
  }
  return report;
}

/** Checks one image of the index: every blob it reaches. */
async function checkImage(
  desc: OciDescriptor,
  name: string,
  checker: BlobChecker,
  problems: ArchiveProblem[],
): Promise<{ report: ArchiveImageReport; carried: Map<string, number> }> {
  const report: ArchiveImageReport = { name, digest: desc.digest, mediaType: desc.mediaType ?? '', platforms: [], blobs: 0, size: 0, ok: true };
  const carried = new Map<string, number>();
  const visited = new Set<string>();
  const queue: BlobRef[] = [{ digest: desc.digest, size: desc.size, mediaType: desc.mediaType ?? MediaType.OciManifest, urls: desc.urls }];
  while (queue.length) {
    const ref = queue.shift()!;
    if (visited.has(ref.digest)) continue;
    visited.add(ref.digest);
    const r = await checker.check(ref);
    if (r.present) carried.set(ref.digest, r.size);
    if (r.problem !== undefined) {
      report.ok = false;
      problems.push({ image: name, blob: ref.digest, problem: r.problem });
    }
    if (ref.digest === desc.digest && r.platforms) report.platforms = r.platforms;
    queue.push(...(r.children ?? []));
  }
  report.blobs = carried.size;
  report.size = [...carried.values()].reduce((a, b) => a + b, 0);
  return { report, carried };
}

/**
 * Checks the OCI archive at `path`.
 * @throws FerryError(E_NOT_FOUND) for a missing file; E_INVALID_MANIFEST for a corrupt tar or a tar that is not an
 *         OCI archive; E_HOSTILE_ARCHIVE; E_IO, E_ABORTED.
 */
export async function verifyOciArchive(path: string, opts: OpOptions & TempOptions = {}): Promise<ArchiveReport> {
  const what = `OCI archive ${path}`;
  const { tarPath, temp } = await uncompressedTar(path, what, opts);
  try {
    return await verifyOciTar(await indexTar(tarPath, what, opts), path, opts);
  } finally {
    await temp?.remove().catch(() => {});
  }
}
