/** Deleting images from OCI layouts: index.json entry removed, unreferenced blobs collected recursively. */
import { expect } from 'chai';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FerryError } from '../../../src/errors.js';
import { deleteOciImage } from '../../../src/transports/oci-layout/delete.js';
import { parseImageName } from '../../../src/transports/registry.js';
import type { OciReference } from '../../../src/transports/oci-layout/reference.js';
import { ferry } from '../../harness/cli.js';
import { buildImage, type BuiltImage } from '../../harness/images.js';
import { run } from '../../harness/procs.js';
import { useCleanup } from '../../harness/tmp.js';

const blobs = async (dir: string) => (await readdir(join(dir, 'blobs', 'sha256'))).filter((f) => !f.startsWith('.')).map((h) => `sha256:${h}`).sort();
const refNames = async (dir: string) =>
  (JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: { annotations?: Record<string, string> }[] }).manifests.map(
    (m) => m.annotations?.['org.opencontainers.image.ref.name'],
  );
const allBlobs = (img: BuiltImage) => {
  const s = new Set<string>([img.digest]);
  for (const m of img.manifests) [m.digest, m.configDigest, ...m.layers.map((l) => l.digest)].forEach((d) => s.add(d));
  return [...s].sort();
};
const oci = (s: string) => parseImageName(`oci:${s}`) as OciReference;

describe('transports/oci-layout/delete', function () {
  this.timeout(60_000);
  const cleanup = useCleanup('after');

  it('removes the entry and garbage-collects blobs nothing else references, recursively through the index', async () => {
    const dir = join(await cleanup.tempDir('oci-delete'), 'layout');
    const platforms = [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64' }];
    const a = await buildImage(dir, { seed: 71, tag: 'a', platforms, layers: 2, layerSize: 1000 });
    const b = await buildImage(dir, { seed: 71, tag: 'b', platforms: [platforms[0]!], layers: 2, layerSize: 1000 });
    const c = await buildImage(dir, { seed: 72, tag: 'c', layers: 1, layerSize: 1000 });
    // b's single manifest is a's amd64 instance: shared manifest, config and layers.
    expect(b.digest).to.equal(a.manifests[0]!.digest);
    const before = await blobs(dir);

    const r = await deleteOciImage(oci(`${dir}:a`));
    expect(r.removed.digest).to.equal(a.digest);
    expect(await refNames(dir)).to.deep.equal(['b', 'c']);
    const armOnly = [a.digest, a.manifests[1]!.digest, a.manifests[1]!.configDigest, ...a.manifests[1]!.layers.map((l) => l.digest)].sort();
    expect([...r.deletedBlobs].sort()).to.deep.equal(armOnly);
    expect(await blobs(dir)).to.deep.equal(before.filter((d) => !armOnly.includes(d)));

    const s = await run('skopeo', ['inspect', '--raw', `oci:${dir}:b`]);
    expect(s.code, s.stderr).to.equal(0);

    await deleteOciImage(oci(`${dir}:b`));
    expect(await blobs(dir)).to.deep.equal(allBlobs(c));

    const f = await ferry(['delete', `oci:${dir}:c`]);
    expect(f.code, f.stderr).to.equal(0);
    expect(await refNames(dir)).to.deep.equal([]);
    expect(await blobs(dir)).to.deep.equal([]);
  });

  it('fails with E_NOT_FOUND (exit 2) for an unknown name, and asks for a name when there are several images', async () => {
    const dir = join(await cleanup.tempDir('oci-delete-missing'), 'layout');
    await buildImage(dir, { seed: 73, tag: 'x', layers: 1, layerSize: 100 });
    await buildImage(dir, { seed: 74, tag: 'y', layers: 1, layerSize: 100 });
    try {
      await deleteOciImage(oci(`${dir}:nope`));
      expect.fail('should have thrown');
    } catch (e) {
      expect((e as FerryError).code).to.equal('E_NOT_FOUND');
    }
    expect((await ferry(['delete', `oci:${dir}:nope`])).code).to.equal(2);
    const several = await ferry(['delete', `oci:${dir}`]);
    expect(several.code).to.equal(1);
    expect(several.stderr).to.contain('"x"');
    // printed as written: the hint is not mistaken for credentials by the scrub of printed lines
    expect(several.stderr).to.contain('or by position from 0 (oci:PATH:@0): ').and.not.contain('***');
    expect(await refNames(dir)).to.deep.equal(['x', 'y']);
    // a layout directory that does not exist is named as such (as inspect names it), not as a non-layout
    const gone = await ferry(['delete', `oci:${dir}-gone:x`]);
    expect(gone.code).to.equal(2);
    expect(gone.stderr.trim()).to.equal(`Error: OCI layout: no such directory ${dir}-gone`);
  });

  it('dir: refuses to delete, like skopeo', async () => {
    const dir = await cleanup.tempDir('dir-delete');
    const f = await ferry(['delete', `dir:${dir}`]);
    expect(f.code).to.equal(1);
    expect(f.stderr).to.contain('not supported');
  });
});
