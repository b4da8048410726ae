/** Test helper: an OCI layout holding one image made of the given layer tars (gzip'd). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzip, sha256 } from '../../store/tar-build.js';

/** A function storing a blob in the layout `dir`, returning its digest and size. */
function blobWriter(dir: string): (b: Buffer) => { digest: string; size: number } {
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  return (b) => {
    const d = sha256(b);
    writeFileSync(join(blobs, d.slice(7)), b);
    return { digest: d, size: b.length };
  };
}

/** Writes the layout and returns the manifest digest and the diff IDs. */
export function writeLayout(dir: string, tag: string, tars: Buffer[]): { manifestDigest: string; diffIds: string[]; configDigest: string } {
  const put = blobWriter(dir);
  const diffIds = tars.map(sha256);
  const layers = tars.map((t) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...put(gzip(t)) }));
  const config = Buffer.from(JSON.stringify({ created: '2024-01-01T00:00:00Z', architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: diffIds } }));
  const cfg = put(config);
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg }, layers }));
  const m = put(manifest);
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, annotations: { 'org.opencontainers.image.ref.name': tag } }] }));
  return { manifestDigest: m.digest, diffIds, configDigest: cfg.digest };
}

/** One instance of {@link writeIndexLayout}: its layer tars, and the diff IDs its config claims (default: theirs). */
export interface LayoutInstance {
  architecture: string;
  tars: Buffer[];
  claimedDiffIds?: string[];
}

/**
 * Writes an OCI layout whose tag names an index of `instances` (gzip'd layers, one config each).
 * @returns the index digest and, per instance, its manifest digest, config digest and layer blob digests.
 */
export function writeIndexLayout(dir: string, tag: string, instances: LayoutInstance[]): { indexDigest: string; instances: Array<{ manifestDigest: string; configDigest: string; layers: string[] }> } {
  const put = blobWriter(dir);
  const out = instances.map((inst) => {
    const layers = inst.tars.map((t) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...put(gzip(t)) }));
    const diffIds = inst.claimedDiffIds ?? inst.tars.map(sha256);
    const config = Buffer.from(JSON.stringify({ created: '2024-01-01T00:00:00Z', architecture: inst.architecture, os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: diffIds } }));
    const cfg = put(config);
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg }, layers }));
    const m = put(manifest);
    return { desc: { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, platform: { os: 'linux', architecture: inst.architecture } }, configDigest: cfg.digest, layers: layers.map((l) => l.digest) };
  });
  const index = put(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: out.map((o) => o.desc) })));
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', ...index, annotations: { 'org.opencontainers.image.ref.name': tag } }] }));
  return { indexDigest: index.digest, instances: out.map((o) => ({ manifestDigest: o.desc.digest, configDigest: o.configDigest, layers: o.layers })) };
}
