/** Builders for small on-disk image layouts used by the transport tests (not a test file). */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { MediaType } from '../../src/manifest/media-types.js';
import { digestOf } from '../../src/util/digest.js';

/** A blob: bytes with digest and size. */
export interface TestBlob {
  bytes: Buffer;
  digest: string;
  size: number;
}

/** Makes a blob from bytes or a string. */
export function blob(data: Buffer | string): TestBlob {
  const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data);
  return { bytes, digest: digestOf(bytes), size: bytes.length };
}

/** A single-layer OCI image: config, gzip layer and manifest blobs (manifest bytes as they would be stored). */
export interface TestImage {
  config: TestBlob;
  layer: TestBlob;
  manifest: TestBlob;
}

/** A small, valid OCI image whose content depends on `seed`. */
export function makeOciImage(seed: string, arch = 'amd64'): TestImage {
  const raw = Buffer.from(`layer content for ${seed}\n`.repeat(50));
  const layer = blob(gzipSync(raw));
  const config = blob(
    JSON.stringify({
      architecture: arch,
      os: 'linux',
      config: {},
      rootfs: { type: 'layers', diff_ids: [digestOf(raw)] },
      history: [{ created_by: `ferry test ${seed}` }],
    }),
  );
  const manifest = blob(
    JSON.stringify(
      {
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: { mediaType: MediaType.OciConfig, digest: config.digest, size: config.size },
        layers: [{ mediaType: MediaType.OciLayerGzip, digest: layer.digest, size: layer.size }],
      },
      null,
      2,
    ),
  );
  return { config, layer, manifest };
}

/** Writes a blob at `dir/blobs/<alg>/<hex>`. */
export async function writeOciBlob(dir: string, b: TestBlob): Promise<void> {
  const [alg, hex] = b.digest.split(':') as [string, string];
  await mkdir(join(dir, 'blobs', alg), { recursive: true });
  await writeFile(join(dir, 'blobs', alg, hex), b.bytes);
}

/** An entry of index.json to write. */
export interface IndexEntry {
  blob: TestBlob;
  mediaType?: string;
  refName?: string;
  extra?: Record<string, unknown>;
}

/** Writes `oci-layout` and `index.json` listing `entries`. */
export async function writeOciIndex(dir: string, entries: IndexEntry[], layoutVersion = '1.0.0'): Promise<void> {
  await mkdir(join(dir, 'blobs'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: layoutVersion }));
  const manifests = entries.map((e) => ({
    ...(e.mediaType !== undefined ? { mediaType: e.mediaType } : {}),
    digest: e.blob.digest,
    size: e.blob.size,
    ...(e.refName !== undefined ? { annotations: { 'org.opencontainers.image.ref.name': e.refName } } : {}),
    ...e.extra,
  }));
  await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }));
}

/** Writes an image's blobs into an OCI layout (index.json is written separately). */
export async function writeOciImageBlobs(dir: string, img: TestImage): Promise<void> {
  for (const b of [img.config, img.layer, img.manifest]) await writeOciBlob(dir, b);
}
