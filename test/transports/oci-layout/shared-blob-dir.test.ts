import { expect } from 'chai';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ferry } from '../../harness/cli.js';
import { buildImage, type BuiltImage } from '../../harness/images.js';
import { runOk } from '../../harness/procs.js';
import { useCleanup } from '../../harness/tmp.js';

const exists = (p: string) => readdir(p).then(() => true, () => false);

describe('transports/oci-layout: --src-shared-blob-dir / --dest-shared-blob-dir', function () {
  this.timeout(60_000);
  const cleanup = useCleanup();
  let root: string;
  let a: BuiltImage;
  let b: BuiltImage;

  before(async () => {
    root = await cleanup.tempDir('shared-blob-dir');
    a = await buildImage(join(root, 'a'), { seed: 601, tag: 'v1', layers: 2, layerSize: 3_000 });
    b = await buildImage(join(root, 'b'), { seed: 602, tag: 'v1', layers: 1, layerSize: 3_000 });
  });

  it('writes blobs into the shared directory, which skopeo reads, and reads them back from it', async () => {
    const shared = join(root, 'shared');
    for (const [img, layout] of [[a, 'one'], [b, 'two']] as const) {
      const r = await ferry(['copy', '-q', '--dest-shared-blob-dir', shared, `oci:${img.layoutDir}:v1`, `oci:${join(root, layout)}:x`]);
      expect(r.code, r.stderr).to.equal(0);
    }
    // The layouts hold only their index; every blob (manifests included) is in the shared directory, once.
    expect(await exists(join(root, 'one', 'blobs', 'sha256'))).to.equal(false);
    const blobs = await readdir(join(shared, 'sha256'));
    expect(blobs).to.include.members([a.digest.slice(7), b.digest.slice(7), ...a.manifests[0]!.layers.map((l) => l.digest.slice(7))]);
    const raw = await runOk('skopeo', ['inspect', '--raw', '--shared-blob-dir', shared, `oci:${join(root, 'one')}:x`]);
    expect(raw.stdoutBytes.equals(a.bytes)).to.equal(true);
    // Without the shared directory the layout has no blobs: the option is what makes it readable.
    expect((await ferry(['inspect', '--raw', `oci:${join(root, 'one')}:x`])).code).to.not.equal(0);
    const out = join(root, 'out');
    const r = await ferry(['copy', '-q', '--src-shared-blob-dir', shared, `oci:${join(root, 'two')}:x`, `oci:${out}:y`]);
    expect(r.code, r.stderr).to.equal(0);
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    expect(index.manifests[0]!.digest).to.equal(b.digest);
    expect(await exists(join(out, 'blobs', 'sha256'))).to.equal(true);
  });

  it('sync --dest oci --dest-shared-blob-dir and --src oci --src-shared-blob-dir', async () => {
    const shared = join(root, 'sync-shared');
    const src = join(root, 'sync-src');
    for (const [img, ref] of [[a, 'app:1'], [b, 'app:2']] as const) {
      expect((await ferry(['copy', '-q', `oci:${img.layoutDir}:v1`, `oci:${src}:${ref}`])).code).to.equal(0);
    }
    let r = await ferry(['sync', '--src', 'oci', '--dest', 'oci', '-q', '--dest-shared-blob-dir', shared, src, join(root, 'sync-dest')]);
    expect(r.code, r.stderr).to.equal(0);
    expect(await exists(join(root, 'sync-dest', 'blobs', 'sha256'))).to.equal(false);
    r = await ferry(['sync', '--src', 'oci', '--dest', 'oci-archive', '-q', '--src-shared-blob-dir', shared, join(root, 'sync-dest'), join(root, 'back.tar')]);
    expect(r.code, r.stderr).to.equal(0);
    const digest = async (ref: string) => `sha256:${(await runOk('sha256sum', [], { input: (await runOk('skopeo', ['inspect', '--raw', `oci-archive:${join(root, 'back.tar')}:${ref}`])).stdoutBytes })).stdout.slice(0, 64)}`;
    expect(await digest('app:1')).to.equal(a.digest);
    expect(await digest('app:2')).to.equal(b.digest);
  });
});
