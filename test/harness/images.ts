/**
 * Deterministic test images, built by the test suite itself into OCI image layouts (nothing downloaded).
 * The same options always give byte-identical blobs and manifests. Layers are real tar streams
 * (gzip-compressed by default) written to disk while hashed, so large layers never sit in memory.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip, constants as zlibConstants } from 'node:zlib';
import { Prng } from './prng.js';
import { tarStream, type TarEntry } from './tar-writer.js';

export { pushImage } from './push.js';

/** An image platform. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** One layer blob of a built image. */
export interface BuiltLayer {
  /** Digest of the blob as stored (compressed if compression is gzip). */
  digest: string;
  size: number;
  /** Digest of the uncompressed tar. */
  diffId: string;
  mediaType: string;
}

/** One per-platform image manifest. */
export interface BuiltManifest {
  digest: string;
  size: number;
  mediaType: string;
  /** The manifest bytes. */
  bytes: Buffer;
  configDigest: string;
  /** The config bytes. */
  config: Buffer;
  layers: BuiltLayer[];
  platform: Platform;
}

/** A built image in an OCI layout. */
export interface BuiltImage {
  /** OCI image layout (oci-layout, index.json with `org.opencontainers.image.ref.name` = tag, blobs/sha256/...). */
  layoutDir: string;
  tag: string;
  /** Top-level digest: the index digest for multi-arch, else the manifest digest. */
  digest: string;
  mediaType: string;
  /** Top-level manifest/index bytes. */
  bytes: Buffer;
  /** One per platform (one for single-arch), in the order of `platforms`. */
  manifests: BuiltManifest[];
}

/** What to build. */
export interface BuildOptions {
  /** Same seed (and options) → byte-identical image. */
  seed: number;
  /** Default `latest`. */
  tag?: string;
  /** `docker` = schema2 manifest / manifest list + docker media types; default `oci`. */
  format?: 'oci' | 'docker';
  /** More than one → index / manifest list. Default `[{os:'linux', architecture:'amd64'}]`. */
  platforms?: Platform[];
  /** Random-content layers per image (default 2). */
  layers?: number;
  /** Bytes of random (seeded, incompressible) file content per layer (default 64 KiB). */
  layerSize?: number;
  /** If > 0, one extra layer holding that many small files in nested directories. */
  smallFiles?: number;
  /** Largest size of one small file (each is 0 to this many bytes, seeded; default 1024). */
  smallFileSize?: number;
  /** Config `Labels`. */
  labels?: Record<string, string>;
  /** Config `Env` (default a PATH). */
  env?: string[];
  /** Config `created` and history dates (default 2024-01-01T00:00:00Z). */
  created?: string;
  /** Default gzip. */
  compression?: 'gzip' | 'none';
  /** gzip level (default 6; 1 is much faster for big benchmark layers). */
  gzipLevel?: number;
  signal?: AbortSignal;
}

const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

/** Annotation naming a tag in an OCI layout's index.json. */
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

const sha256 = (b: Buffer | string) => 'sha256:' + createHash('sha256').update(b).digest('hex');

/** Path of a blob inside an OCI layout. */
export function layoutBlobPath(layoutDir: string, digest: string): string {
  const [alg, hex] = digest.split(':') as [string, string];
  return join(layoutDir, 'blobs', alg, hex);
}

async function writeSmallBlob(layoutDir: string, bytes: Buffer): Promise<string> {
  const digest = sha256(bytes);
  await writeFile(layoutBlobPath(layoutDir, digest), bytes);
  return digest;
}

/** Streams a tar through hashing (diff ID), optional gzip, hashing (digest) into the layout. */
async function writeLayer(
  layoutDir: string, entries: TarEntry[], compression: 'gzip' | 'none', gzipLevel: number, signal?: AbortSignal,
): Promise<{ digest: string; size: number; diffId: string }> {
  const diffHash = createHash('sha256');
  const blobHash = createHash('sha256');
  let size = 0;
  const tmp = join(layoutDir, 'blobs', 'sha256', `.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const tapDiff = async function* (src: AsyncIterable<Buffer>) {
    for await (const c of src) {
      diffHash.update(c);
      yield c;
    }
  };
  const tapBlob = async function* (src: AsyncIterable<Buffer>) {
    for await (const c of src) {
      blobHash.update(c);
      size += c.length;
      yield c;
    }
  };
  try {
    if (compression === 'gzip') {
      await pipeline(tarStream(entries), tapDiff, createGzip({ level: gzipLevel, chunkSize: 256 * 1024, memLevel: 8, strategy: zlibConstants.Z_DEFAULT_STRATEGY }), tapBlob, createWriteStream(tmp), { signal });
    } else {
      await pipeline(tarStream(entries), tapDiff, tapBlob, createWriteStream(tmp), { signal });
    }
    const digest = 'sha256:' + blobHash.digest('hex');
    await rename(tmp, layoutBlobPath(layoutDir, digest));
    return { digest, size, diffId: 'sha256:' + diffHash.digest('hex') };
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** Chunks of seeded random bytes, 1 MiB at a time. */
function* randomChunks(key: string, size: number): Generator<Buffer> {
  const prng = new Prng(key);
  for (let left = size; left > 0; ) {
    const n = Math.min(left, 1024 * 1024);
    yield prng.bytes(n);
    left -= n;
  }
}

function randomLayerEntries(key: string, index: number, size: number, platform: Platform): TarEntry[] {
  const dir = `layer${index}/`;
  const info = Buffer.from(`layer ${index} for ${platformString(platform)}\n`);
  return [
    { path: dir, type: 'dir' },
    { path: `${dir}data.bin`, type: 'file', size, content: () => randomChunks(`${key}/data`, size) },
    { path: `${dir}info.txt`, type: 'file', size: info.length, content: () => [info] },
  ];
}

function smallFilesEntries(key: string, count: number, maxSize: number): TarEntry[] {
  const prng = new Prng(`${key}/small`);
  const dirs = new Set<string>(['files/']);
  const files: TarEntry[] = [];
  for (let i = 0; i < count; i++) {
    const a = `files/a${i % 4}/`;
    const b = `${a}b${Math.floor(i / 4) % 8}/`;
    dirs.add(a);
    dirs.add(b);
    const content = prng.bytes(prng.int(maxSize));
    files.push({ path: `${b}f${String(i).padStart(5, '0')}.bin`, type: 'file', size: content.length, content: () => [content] });
  }
  const all: TarEntry[] = [...[...dirs].map((path): TarEntry => ({ path, type: 'dir' })), ...files];
  return all.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
}

function platformString(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

function platformJson(p: Platform): Record<string, string> {
  return { architecture: p.architecture, os: p.os, ...(p.variant ? { variant: p.variant } : {}) };
}

/**
 * Builds a deterministic image into the OCI layout `dir` (created if missing). If the layout already
 * holds images, the new tag is added to its index.json (replacing an entry with the same tag).
 */
export async function buildImage(dir: string, opts: BuildOptions): Promise<BuiltImage> {
  const tag = opts.tag ?? 'latest';
  const format = opts.format ?? 'oci';
  const platforms = opts.platforms ?? [{ os: 'linux', architecture: 'amd64' }];
  if (platforms.length === 0) throw new Error('buildImage: platforms must not be empty');
  const layerCount = opts.layers ?? 2;
  const layerSize = opts.layerSize ?? 64 * 1024;
  const smallFiles = opts.smallFiles ?? 0;
  const created = opts.created ?? '2024-01-01T00:00:00Z';
  const compression = opts.compression ?? 'gzip';
  const docker = format === 'docker';
  const layerMediaType = docker
    ? compression === 'gzip' ? MT.dockerLayerGzip : MT.dockerLayer
    : compression === 'gzip' ? MT.ociLayerGzip : MT.ociLayer;
  const manifestMediaType = docker ? MT.dockerManifest : MT.ociManifest;
  const configMediaType = docker ? MT.dockerConfig : MT.ociConfig;

  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));

  const manifests: BuiltManifest[] = [];
  for (const [pi, platform] of platforms.entries()) {
    const base = `ferry-test-image/${opts.seed}/${pi}/${platformString(platform)}`;
    const layers: BuiltLayer[] = [];
    const history: Record<string, string>[] = [];
    const layerSpecs: TarEntry[][] = [];
    for (let i = 0; i < layerCount; i++) layerSpecs.push(randomLayerEntries(`${base}/layer${i}`, i, layerSize, platform));
    if (smallFiles > 0) layerSpecs.push(smallFilesEntries(`${base}/smallfiles`, smallFiles, opts.smallFileSize ?? 1024));
    for (const [i, entries] of layerSpecs.entries()) {
      const l = await writeLayer(dir, entries, compression, opts.gzipLevel ?? 6, opts.signal);
      layers.push({ ...l, mediaType: layerMediaType });
      history.push({ created, created_by: `ferry test layer ${i} (seed ${opts.seed})` });
    }
    const config: Record<string, unknown> = {
      created,
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      ...(docker ? { docker_version: '24.0.7' } : {}),
      config: {
        Env: opts.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
        Cmd: ['/bin/sh'],
        WorkingDir: '/',
        ...(opts.labels ? { Labels: opts.labels } : {}),
      },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history,
    };
    const configBytes = Buffer.from(JSON.stringify(config));
    const configDigest = await writeSmallBlob(dir, configBytes);
    const manifest = {
      schemaVersion: 2,
      mediaType: manifestMediaType,
      config: { mediaType: configMediaType, digest: configDigest, size: configBytes.length },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    };
    const bytes = Buffer.from(JSON.stringify(manifest));
    const digest = await writeSmallBlob(dir, bytes);
    manifests.push({ digest, size: bytes.length, mediaType: manifestMediaType, bytes, configDigest, config: configBytes, layers, platform });
  }

  let top: { digest: string; mediaType: string; bytes: Buffer };
  if (manifests.length === 1) {
    const m = manifests[0]!;
    top = { digest: m.digest, mediaType: m.mediaType, bytes: m.bytes };
  } else {
    const mediaType = docker ? MT.dockerList : MT.ociIndex;
    const index = {
      schemaVersion: 2,
      mediaType,
      manifests: manifests.map((m) => ({ mediaType: m.mediaType, digest: m.digest, size: m.size, platform: platformJson(m.platform) })),
    };
    const bytes = Buffer.from(JSON.stringify(index));
    top = { digest: await writeSmallBlob(dir, bytes), mediaType, bytes };
  }
  await addToLayoutIndex(dir, tag, { mediaType: top.mediaType, digest: top.digest, size: top.bytes.length });
  return { layoutDir: dir, tag, digest: top.digest, mediaType: top.mediaType, bytes: top.bytes, manifests };
}

/** Adds (or replaces) the tag's descriptor in the layout's index.json. */
async function addToLayoutIndex(dir: string, tag: string, desc: { mediaType: string; digest: string; size: number }): Promise<void> {
  const file = join(dir, 'index.json');
  let existing: { manifests?: Record<string, unknown>[] } = {};
  try {
    existing = JSON.parse(await readFile(file, 'utf8')) as typeof existing;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const others = (existing.manifests ?? []).filter(
    (m) => (m['annotations'] as Record<string, string> | undefined)?.[REF_NAME_ANNOTATION] !== tag,
  );
  const index = {
    schemaVersion: 2,
    mediaType: MT.ociIndex,
    manifests: [...others, { ...desc, annotations: { [REF_NAME_ANNOTATION]: tag } }],
  };
  await writeFile(file, JSON.stringify(index));
}

/** A cosign-style attestation built by {@link buildCosignAttestation}: its manifest and the blobs it names. */
export interface BuiltAttestation {
  bytes: Buffer;
  digest: string;
  /** Config and DSSE envelope, by digest. */
  blobs: Map<string, Buffer>;
}

/**
 * An attestation as cosign stores it under `sha256-HEX.att`: an OCI image manifest (no subject) whose one layer is an
 * in-toto DSSE envelope, `layerAnnotations` on that layer.
 */
export function buildCosignAttestation(layerAnnotations?: Record<string, string>): BuiltAttestation {
  const payload = Buffer.from('{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]}');
  const config = Buffer.from('{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":[]}}');
  const bytes = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.dsse.envelope.v1+json', digest: sha256(payload), size: payload.length, ...(layerAnnotations ? { annotations: layerAnnotations } : {}) }],
  }));
  return { bytes, digest: sha256(bytes), blobs: new Map([[sha256(config), config], [sha256(payload), payload]]) };
}

/** An OCI 1.1 artifact built by {@link buildArtifact}: its manifest and the blobs it names. */
export interface BuiltArtifact {
  bytes: Buffer;
  digest: string;
  mediaType: string;
  size: number;
  artifactType: string;
  /** Config and layer blobs, by digest. */
  blobs: Map<string, Buffer>;
}

/**
 * A deterministic OCI 1.1 artifact manifest (`artifactType`, the empty config `{}`, one layer of `content`) whose
 * `subject` is `subject`: an SBOM-like document by default.
 */
export function buildArtifact(subject: { digest: string; size: number; mediaType: string }, opts: { artifactType?: string; content?: string; annotations?: Record<string, string> } = {}): BuiltArtifact {
  const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
  const artifactType = opts.artifactType ?? 'application/spdx+json';
  const config = Buffer.from('{}');
  const layer = Buffer.from(opts.content ?? JSON.stringify({ spdxVersion: 'SPDX-2.3', name: `sbom of ${subject.digest}`, packages: [{ name: 'test-package', versionInfo: '1.0' }] }));
  const manifest: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType,
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha(config), size: config.length },
    layers: [{ mediaType: artifactType, digest: sha(layer), size: layer.length }],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
  };
  if (opts.annotations) manifest['annotations'] = opts.annotations;
  const bytes = Buffer.from(JSON.stringify(manifest));
  return {
    bytes,
    digest: sha(bytes),
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    size: bytes.length,
    artifactType,
    blobs: new Map([
      [sha(config), config],
      [sha(layer), layer],
    ]),
  };
}
