/** Shared helpers of the docker-archive tests: skopeo-built archives, a mini copy into our destination. */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { expect } from 'chai';
import { FerryError } from '../../../src/errors.js';
import { MediaType } from '../../../src/manifest/media-types.js';
import { serializeImageManifest } from '../../../src/manifest/serialize.js';
import { TarWriter } from '../../../src/tar/writer.js';
import { parseImageName } from '../../../src/transports/registry.js';
import type { ImageDestination } from '../../../src/types/image.js';
import type { BuiltImage } from '../../harness/images.js';
import { layoutBlobPath } from '../../harness/images.js';
import { runOk } from '../../harness/procs.js';
import { readAll, rejection } from '../../harness/expect.js';

/** All bytes of a stream. */
export const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** sha256 of a file. */
export async function fileDigest(path: string): Promise<string> {
  return sha256(await readAll(createReadStream(path)));
}

/** The FerryError a promise rejects with (fails if it resolves or rejects with something else). */
/** `skopeo copy oci:LAYOUT:TAG docker-archive:FILE[:NAME]` (plus `--additional-tag`s). */
export async function skopeoToArchive(img: BuiltImage, file: string, name?: string, additional: string[] = []): Promise<void> {
  const extra = additional.flatMap((t) => ['--additional-tag', t]);
  await runOk('skopeo', ['--insecure-policy', 'copy', '-q', ...extra, `oci:${img.layoutDir}:${img.tag}`, `docker-archive:${file}${name ? `:${name}` : ''}`]);
}

/** `skopeo inspect --raw IMAGE` bytes. */
export async function skopeoRaw(image: string): Promise<Buffer> {
  return (await runOk('skopeo', ['inspect', '--raw', image])).stdoutBytes;
}

/**
 * What the copy engine does for a docker-archive destination, for one single-arch built image:
 * layers decompressed (named by diff ID), config, a schema2 manifest, commit.
 */
export async function copyBuiltImage(img: BuiltImage, dest: ImageDestination): Promise<void> {
  const m = img.manifests[0]!;
  const layers = [];
  for (const l of m.layers) {
    const src = createReadStream(layoutBlobPath(img.layoutDir, l.digest));
    const gz = l.mediaType.endsWith('gzip');
    const stream = gz ? src.pipe(createGunzip()) : src;
    const size = gz ? -1 : l.size;
    const stored = await dest.putBlob(stream, { digest: l.diffId, size });
    layers.push({ mediaType: MediaType.DockerLayer, size: stored.size, digest: l.diffId });
  }
  await dest.putBlob(createReadStream(layoutBlobPath(img.layoutDir, m.configDigest)), { digest: m.configDigest, size: m.config.length });
  const bytes = serializeImageManifest({
    kind: 'image',
    mediaType: MediaType.DockerManifest,
    schemaVersion: 2,
    config: { mediaType: MediaType.DockerConfig, size: m.config.length, digest: m.configDigest },
    layers,
  });
  await dest.putManifest({ bytes, mediaType: MediaType.DockerManifest });
  await dest.putSignatures([]);
  await dest.commit();
}

/** Opens our destination for `docker-archive:…`. */
export function openDest(name: string): Promise<ImageDestination> {
  return parseImageName(name).newImageDestination({});
}

/** One entry of a hand-made tar. */
export type HandEntry =
  | { name: string; data: Buffer | string }
  | { name: string; symlink: string }
  | { name: string; directory: true }
  | { name: string; fromFile: string; size: number };

/** Writes a tar with exactly these entries (names unchecked, so hostile ones can be made). */
export async function writeTar(path: string, entries: HandEntry[]): Promise<void> {
  const out = createWriteStream(path);
  const w = new TarWriter(out);
  for (const e of entries) {
    if ('symlink' in e) await w.addSymlink(e.name, e.symlink);
    else if ('directory' in e) await w.addDirectory(e.name);
    else if ('fromFile' in e) await w.addFile(e.name, e.size, createReadStream(e.fromFile));
    else {
      const b = Buffer.from(e.data);
      await w.addFile(e.name, b.length, b);
    }
  }
  await w.finish();
  out.end();
  await new Promise<void>((resolve, reject) => out.once('close', resolve).once('error', reject));
}

/** Gzips a file. */
export async function gzipFile(from: string, to: string): Promise<void> {
  const { createGzip } = await import('node:zlib');
  await pipeline(createReadStream(from), createGzip(), createWriteStream(to));
}

export { readAll, rejection };
