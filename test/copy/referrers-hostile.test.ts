/**
 * `copy --include-referrers` from a source that lies about its referrers: a fallback index giving a referrer the
 * wrong size, or listing an index as an image manifest. Either would be written into the destination as the source
 * has it (a referrers index whose descriptor cannot be fetched, an index stored without the manifests it names):
 * the copy fails instead, with one line naming the referrer.
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ferry } from '../harness/cli.js';
import { expectOneLineError } from '../harness/expect.js';
import { buildArtifact, buildImage, pushImage, type BuiltImage } from '../harness/images.js';
import { pushRaw } from '../harness/push.js';
import { useRegistry } from '../harness/registry.js';
import { useCleanup } from '../harness/tmp.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const tagOf = (digest: string) => `sha256-${digest.slice('sha256:'.length)}`;
const index = (manifests: object[]) => Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }));

describe('copy --include-referrers from a source lying about its referrers', function () {
  this.timeout(120_000);
  const cleanup = useCleanup('after');
  const registry = useRegistry('http');
  let dir: string;
  let img: BuiltImage;

  before(async () => {
    dir = await cleanup.tempDir('referrers-hostile');
    img = await buildImage(path.join(dir, 'img'), { seed: 641, tag: 'v1', layers: 1, layerSize: 2_000 });
  });

  /** The ref names of the oci: layout at `layout` (none when it was not written). */
  async function refNames(layout: string): Promise<string[]> {
    if (!existsSync(path.join(layout, 'index.json'))) return [];
    const j = JSON.parse(await readFile(path.join(layout, 'index.json'), 'utf8')) as { manifests: { annotations?: Record<string, string> }[] };
    return j.manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name'] ?? '');
  }

  it('a referrer listed with a size that is not its manifest’s: refused, naming it', async () => {
    await pushImage(img, registry(), 'size/app:v1');
    const sbom = buildArtifact({ digest: img.digest, size: img.bytes.length, mediaType: img.mediaType });
    await pushRaw(registry(), 'size/app', sbom.blobs.values(), [
      { ref: sbom.digest, mediaType: sbom.mediaType, bytes: sbom.bytes },
      { ref: tagOf(img.digest), mediaType: OCI_INDEX, bytes: index([{ mediaType: sbom.mediaType, digest: sbom.digest, size: sbom.size + 100, artifactType: sbom.artifactType }]) },
    ]);
    const layout = path.join(dir, 'size');
    const r = await ferry(['copy', '-q', '--include-referrers', '--src-tls-verify=false', `docker://${registry().host}/size/app:v1`, `oci:${layout}:app:v1`]);
    expectOneLineError(r, new RegExp(`copying referrer ${sbom.digest} of .*: the source lists it with ${sbom.size + 100} bytes, its manifest has ${sbom.size}`));
    expect(await refNames(layout)).to.deep.equal([]);
  });

  it('an index listed as an image manifest: refused, naming it', async () => {
    await pushImage(img, registry(), 'type/app:v1');
    const sbom = buildArtifact({ digest: img.digest, size: img.bytes.length, mediaType: img.mediaType });
    // an index (it names the SBOM) that refers to the image, listed in the fallback index as an image manifest
    const nested = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [{ mediaType: sbom.mediaType, digest: sbom.digest, size: sbom.size }],
      subject: { mediaType: img.mediaType, digest: img.digest, size: img.bytes.length },
    }));
    await pushRaw(registry(), 'type/app', sbom.blobs.values(), [
      { ref: sbom.digest, mediaType: sbom.mediaType, bytes: sbom.bytes },
      { ref: sha(nested), mediaType: OCI_INDEX, bytes: nested },
      { ref: tagOf(img.digest), mediaType: OCI_INDEX, bytes: index([{ mediaType: OCI_MANIFEST, digest: sha(nested), size: nested.length }]) },
    ]);
    const layout = path.join(dir, 'type');
    const r = await ferry(['copy', '-q', '--include-referrers', '--src-tls-verify=false', `docker://${registry().host}/type/app:v1`, `oci:${layout}:app:v1`]);
    expectOneLineError(r, new RegExp(`copying referrer ${sha(nested)} of .*: it is listed as application/vnd\\.oci\\.image\\.manifest\\.v1\\+json but its manifest says application/vnd\\.oci\\.image\\.index\\.v1\\+json`));
    expect(await refNames(layout)).to.deep.equal([]);
  });
});
