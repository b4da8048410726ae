/**
 * What must survive any copy, whatever the transport: per platform, the config digest and the diff IDs
 * (computed from the layer bytes, not only read from the config). Read from an OCI layout.
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { BuiltImage } from '../../harness/images.js';

/** One platform's invariant facts. */
export interface PlatformFacts {
  /** `os/arch[/variant]` (`-` when the manifest came without a platform). */
  platform: string;
  configDigest: string;
  diffIds: string[];
}

/** Sorted by platform. */
export type ImageFacts = PlatformFacts[];

interface Descriptor {
  mediaType?: string;
  digest: string;
  size?: number;
  platform?: { os: string; architecture: string; variant?: string };
}

interface ManifestJson {
  mediaType?: string;
  manifests?: Descriptor[];
  config?: Descriptor;
  layers?: Descriptor[];
}

/** `sha256:` digest of bytes. */
export const sha256 = (b: Buffer | string): string => 'sha256:' + createHash('sha256').update(b).digest('hex');

const platformKey = (p?: { os: string; architecture: string; variant?: string }) =>
  p ? [p.os, p.architecture, ...(p.variant ? [p.variant] : [])].join('/') : '-';

const isGzip = (b: Buffer) => b.length > 2 && b[0] === 0x1f && b[1] === 0x8b;

/**
 * Facts of the image whose top-level manifest is `top`, reading blobs with `blob`: walks an index
 * into its instances, checks every blob's digest and that the computed diff IDs equal the config's.
 */
export async function factsOf(top: Buffer, blob: (digest: string) => Promise<Buffer>, platform?: Descriptor['platform']): Promise<ImageFacts> {
  const m = JSON.parse(top.toString('utf8')) as ManifestJson;
  if (m.manifests) {
    const all: ImageFacts = [];
    for (const d of m.manifests) {
      const bytes = await blob(d.digest);
      expect(sha256(bytes), 'instance manifest digest').to.equal(d.digest);
      all.push(...(await factsOf(bytes, blob, d.platform)));
    }
    return all.sort((a, b) => a.platform.localeCompare(b.platform));
  }
  if (!m.config || !m.layers) throw new Error(`not an image manifest: ${top.toString('utf8').slice(0, 200)}`);
  const config = await blob(m.config.digest);
  expect(sha256(config), 'config digest').to.equal(m.config.digest);
  const diffIds: string[] = [];
  for (const l of m.layers) {
    const b = await blob(l.digest);
    expect(sha256(b), 'layer digest').to.equal(l.digest);
    diffIds.push(sha256(isGzip(b) ? gunzipSync(b) : b));
  }
  const cfg = JSON.parse(config.toString('utf8')) as { rootfs?: { diff_ids?: string[] }; os?: string; architecture?: string; variant?: string };
  expect(cfg.rootfs?.diff_ids, 'config diff IDs vs layer contents').to.deep.equal(diffIds);
  const p = platform ?? (cfg.os && cfg.architecture ? { os: cfg.os, architecture: cfg.architecture, ...(cfg.variant ? { variant: cfg.variant } : {}) } : undefined);
  return [{ platform: platformKey(p), configDigest: m.config.digest, diffIds }];
}

/** Facts of the only image of an OCI layout (its single index.json entry). */
export async function ociLayoutFacts(dir: string): Promise<ImageFacts> {
  const blob = (d: string) => readFile(join(dir, 'blobs', ...d.split(':')));
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as ManifestJson;
  expect(index.manifests, 'index.json entries').to.have.length(1);
  return factsOf(await blob(index.manifests![0]!.digest), blob);
}

/** The facts a built image should keep (all platforms, or just the one given). */
export function builtFacts(img: BuiltImage): ImageFacts {
  return img.manifests
    .map((m) => ({ platform: platformKey(m.platform), configDigest: m.configDigest, diffIds: m.layers.map((l) => l.diffId) }))
    .sort((a, b) => a.platform.localeCompare(b.platform));
}
