/** The docker:// ImageSource and tag listing against a real registry. */
import { expect } from 'chai';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FerryError } from '../../../src/errors.js';
import { DockerReference } from '../../../src/transports/docker/reference.js';
import { openDockerSource } from '../../../src/transports/docker/source.js';
import { listDockerTags } from '../../../src/transports/docker/tags.js';
import type { SystemContext } from '../../../src/types/context.js';
import { buildImage, layoutBlobPath, pushImage, type BuiltImage } from '../../harness/images.js';
import { useRegistry } from '../../harness/registry.js';
import { useCleanup } from '../../harness/tmp.js';

describe('transports/docker/source (real registry)', function () {
  this.timeout(60_000);
  const registry = useRegistry('http');
  const cleanup = useCleanup('after');
  let multi: BuiltImage;
  let ctx: SystemContext;

  before(async () => {
    const dir = await cleanup.tempDir('docker-source');
    await writeFile(join(dir, 'empty.conf'), '');
    ctx = { registriesConf: join(dir, 'empty.conf'), homeDir: dir, noCreds: true, tlsVerify: false, retryDelayMs: 10 };
    multi = await buildImage(join(dir, 'multi'), {
      seed: 31, layers: 1, layerSize: 3000,
      platforms: [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64' }],
    });
    await pushImage(multi, registry(), 'lib/multi:v1');
    await pushImage(multi, registry(), 'lib/multi:v2');
  });

  const ref = (s: string) => DockerReference.fromName(`${registry().host}/${s}`);

  it('reads the index by tag, instances by digest, and blobs', async () => {
    const src = await openDockerSource(ref('lib/multi:v1'), ctx);
    cleanup.defer(() => src.close());
    expect(src.reference.toString()).to.equal(`docker://${registry().host}/lib/multi:v1`);
    const top = await src.getManifest();
    expect(top.bytes.equals(multi.bytes)).to.equal(true);
    expect(top.mediaType).to.equal('application/vnd.oci.image.index.v1+json');
    const arm = multi.manifests[1]!;
    const inst = await src.getManifest(arm.digest);
    expect(inst.bytes.equals(arm.bytes)).to.equal(true);
    expect(inst.mediaType).to.equal(arm.mediaType);
    const layer = arm.layers[0]!;
    const { stream, size } = await src.getBlob({ digest: layer.digest, size: layer.size }, { offset: 100 });
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    expect(size).to.equal(layer.size);
    expect(Buffer.concat(chunks).equals((await readFile(layoutBlobPath(multi.layoutDir, layer.digest))).subarray(100))).to.equal(true);
    expect(await src.getSignatures()).to.deep.equal([]);
  });

  it('opens by digest', async () => {
    const src = await openDockerSource(ref(`lib/multi@${multi.digest}`), ctx);
    cleanup.defer(() => src.close());
    expect((await src.getManifest()).bytes.equals(multi.bytes)).to.equal(true);
  });

  it('fails to open a missing image with E_NOT_FOUND', async () => {
    const e = await openDockerSource(ref('lib/multi:nope'), ctx).then(() => undefined, (x: unknown) => x);
    expect(e).to.be.instanceOf(FerryError).with.property('code', 'E_NOT_FOUND');
    expect((e as Error).message).to.equal(`reading manifest nope in ${registry().host}/lib/multi: manifest unknown`);
  });

  it('lists tags of a repository (and E_NOT_FOUND for a missing one)', async () => {
    expect((await listDockerTags(ref('lib/multi:v1'), ctx)).sort()).to.deep.equal(['v1', 'v2']);
    const e = await listDockerTags({ name: { domain: registry().host, path: 'no/repo' } }, ctx).then(() => undefined, (x: unknown) => x);
    expect(e).to.be.instanceOf(FerryError).with.property('code', 'E_NOT_FOUND');
  });
});
