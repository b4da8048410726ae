/**
 * Checking a `docker save` archive before it is trusted (`ferry verify-archive`): for every image of
 * `manifest.json`, its config (its digest, when its file is named by one, and its JSON) and every layer, whose
 * digest must be the config's `rootfs.diff_ids` entry (docker archives carry uncompressed layers). Each file is
 * read once however many images share it.
 */
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ErrorCode, FerryError } from '../../errors.js';
import { MediaType } from '../../manifest/media-types.js';
import type { ArchiveImageReport, ArchiveReport } from '../../types/archive-report.js';
import type { OpOptions } from '../../types/context.js';
import { isDigest } from '../../util/digest.js';
import { VerifyingStream } from '../../util/verify-stream.js';
import { MANIFEST_FILE, MAX_JSON_SIZE, parseManifestJson } from './format.js';
import type { TarIndex } from '../../tar/file-index.js';

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The digest a file name states (`<hex>.json`, `<hex>.tar`, `blobs/sha256/<hex>`), if any. */
function digestInName(name: string): string | undefined {
  const m = /(?:^|\/)([0-9a-f]{64})(?:\.json|\.tar)?$/.exec(name);
  return m && !/\/layer\.tar$/.test(name) ? `sha256:${m[1]}` : undefined;
}

/**
 * Checks the docker archive whose tar is indexed as `tar`.
 * @throws FerryError(E_INVALID_MANIFEST) for a missing or invalid `manifest.json`; E_ABORTED.
 */
export async function verifyDockerTar(tar: TarIndex, archive: string, opts: OpOptions = {}): Promise<ArchiveReport> {
  const report: ArchiveReport = { archive, format: 'docker-archive', images: [], blobs: 0, size: 0, unreferenced: [], expects: [], buildsOn: [], problems: [] };
  const m = tar.resolve(MANIFEST_FILE);
  if (!m) throw new FerryError(ErrorCode.InvalidManifest, `${tar.what}: not a docker archive (no ${MANIFEST_FILE})`);
  const items = parseManifestJson(await tar.readEntry(m, MAX_JSON_SIZE, opts), tar.what);
  /** File (resolved entry name) → the digest it was checked against and what was wrong. */
  const checked = new Map<string, Promise<{ digest: string; size: number; problem?: string; bytes?: Buffer }>>();
  type Checked = { digest: string; size: number; problem?: string; bytes?: Buffer };
  const check = (path: string, expected: string | undefined, keep: boolean): Promise<Checked> => {
    let entry;
    try {
      entry = tar.resolve(path);
    } catch (e) {
      return Promise.resolve({ digest: expected ?? '', size: 0, problem: message(e) });
    }
    if (!entry) return Promise.resolve({ digest: expected ?? '', size: 0, problem: `${path} is missing from the archive` });
    const key = `${entry.name}\n${expected ?? ''}`;
    let r = checked.get(key);
    if (!r) {
      const e = entry;
      if (keep && e.size > MAX_JSON_SIZE) return Promise.resolve({ digest: expected ?? '', size: e.size, problem: `${path} is larger than ${MAX_JSON_SIZE} bytes` });
      r = (async (): Promise<Checked> => {
        const verify = new VerifyingStream({ digest: expected && isDigest(expected) ? expected : undefined, size: e.size, what: path });
        const chunks: Buffer[] = [];
        const sink = new Writable({
          write(chunk: Buffer, _enc, cb) {
            if (keep) chunks.push(chunk);
            cb();
          },
        });
        try {
          await pipeline(tar.openEntry(e, { signal: opts.signal }), verify, sink, { signal: opts.signal });
        } catch (err) {
          if (opts.signal?.aborted) throw err;
          return { digest: expected ?? '', size: e.size, problem: message(err) };
        }
        return { digest: verify.digest!, size: e.size, bytes: keep ? Buffer.concat(chunks) : undefined };
      })();
      checked.set(key, r);
    }
    return r;
  };
  const carried = new Map<string, number>();
  for (const [i, item] of items.entries()) {
    const name = item.RepoTags.length > 0 ? item.RepoTags.join(', ') : `@${i}`;
    const image: ArchiveImageReport = { name, digest: '', mediaType: MediaType.DockerManifest, platforms: [], blobs: 0, size: 0, ok: true };
    const mine = new Map<string, number>();
    const fail = (blob: string, problem: string) => {
      image.ok = false;
      report.problems.push({ image: name, blob, problem });
    };
    const config = await check(item.Config, digestInName(item.Config), true);
    image.digest = config.digest;
    let diffIds: unknown[] = [];
    if (config.problem !== undefined) fail(digestInName(item.Config) ?? item.Config, config.problem);
    else {
      mine.set(config.digest, config.size);
      try {
        const parsed = JSON.parse(config.bytes!.toString('utf8')) as { rootfs?: { diff_ids?: unknown } };
        diffIds = Array.isArray(parsed.rootfs?.diff_ids) ? parsed.rootfs.diff_ids : [];
      } catch (e) {
        fail(config.digest, `invalid image config: ${message(e)}`);
      }
      if (image.ok && diffIds.length !== item.Layers.length) fail(config.digest, `the config lists ${diffIds.length} layers, ${MANIFEST_FILE} ${item.Layers.length}`);
    }
    for (const [j, layer] of item.Layers.entries()) {
      const want = typeof diffIds[j] === 'string' ? (diffIds[j] as string) : undefined;
      const r = await check(layer, want, false);
      if (r.problem !== undefined) fail(want ?? layer, r.problem);
      else mine.set(r.digest, r.size);
    }
    image.blobs = mine.size;
    image.size = [...mine.values()].reduce((a, b) => a + b, 0);
    for (const [d, s] of mine) carried.set(d, s);
    report.images.push(image);
  }
  report.blobs = carried.size;
  report.size = [...carried.values()].reduce((a, b) => a + b, 0);
  return report;
}
