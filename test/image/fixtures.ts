/** Hand-built images on disk (OCI layouts, `dir:` directories) for inspect and conversion tests. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { digestOf } from '../../src/util/digest.js';
import { MediaType } from '../../src/manifest/media-types.js';

/** A blob with its digest. */
export interface Blob {
  bytes: Buffer;
  digest: string;
  size: number;
}

export function blob(data: string | Buffer | object): Blob {
  const bytes = Buffer.isBuffer(data) ? data : Buffer.from(typeof data === 'string' ? data : JSON.stringify(data));
  return { bytes, digest: digestOf(bytes), size: bytes.length };
}

/** A gzip layer (the content need not be a tar for manifest-level tests). */
export function gzipLayer(text: string): Blob {
  return blob(gzipSync(Buffer.from(text), { level: 9 }));
}

/** An OCI config with characters Go escapes, labels out of order and a non-UTC time. */
export function ociConfig(arch = 'amd64', extra: Record<string, unknown> = {}): Blob {
  return blob(
    `{"created":"2024-01-02T03:04:05.120000000+02:00","author":"a&b","architecture":"${arch}","os":"linux",` +
      `"config":{"Env":["PATH=/usr/bin","A=<b>&c"],"Labels":{"z":"1","a":"x<y","10":"ten"},"Cmd":["sh"],"ExposedPorts":{"80/tcp":{}}},` +
      `"rootfs":{"type":"layers","diff_ids":["sha256:${'a'.repeat(64)}"]},"history":[{"created":"2024-01-02T03:04:05Z","created_by":"x"}]` +
      (Object.keys(extra).length > 0 ? `,${JSON.stringify(extra).slice(1, -1)}` : '') +
      '}',
  );
}

export function ociManifest(config: Blob, layers: Blob[], layerType: string = MediaType.OciLayerGzip): Blob {
  return blob({
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: config.digest, size: config.size },
    layers: layers.map((l) => ({ mediaType: layerType, digest: l.digest, size: l.size, annotations: { k: 'v' } })),
  });
}

/** Writes an OCI layout with `blobs` and one index.json entry `top` tagged `tag`. */
export async function writeOciLayout(dir: string, tag: string, top: Blob, topType: string, blobs: Blob[]): Promise<void> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  for (const b of [top, ...blobs]) await writeFile(join(dir, 'blobs', 'sha256', b.digest.slice(7)), b.bytes);
  const index = {
    schemaVersion: 2,
    manifests: [{ mediaType: topType, digest: top.digest, size: top.size, annotations: { 'org.opencontainers.image.ref.name': tag } }],
  };
  await writeFile(join(dir, 'index.json'), JSON.stringify(index));
}

/** Writes a `dir:` image (skopeo's directory layout). */
export async function writeDirImage(dir: string, manifest: Blob, blobs: Blob[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'version'), 'Directory Transport Version: 1.1\n');
  await writeFile(join(dir, 'manifest.json'), manifest.bytes);
  for (const b of blobs) await writeFile(join(dir, b.digest.slice(7)), b.bytes);
}
