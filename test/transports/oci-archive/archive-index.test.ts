import { expect } from 'chai';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ferry } from '../../harness/cli.js';
import { buildImage } from '../../harness/images.js';
import { runOk } from '../../harness/procs.js';
import { tarBlobDigests } from '../../harness/tar-listing.js';
import { useCleanup } from '../../harness/tmp.js';


describe('transports/oci-archive: the index beside an archive (PATH.index.json)', function () {
  this.timeout(60_000);
  const cleanup = useCleanup();

  it('copy into an archive sync wrote keeps the index beside it current, so --since leaves out what the copy added', async () => {
    const dir = await cleanup.tempDir('oci-archive-side-index');
    const a = await buildImage(join(dir, 'a'), { seed: 71, layers: 1, layerSize: 1024 });
    const b = await buildImage(join(dir, 'b'), { seed: 72, layers: 2, layerSize: 1024 });
    const full = join(dir, 'full.tar');
    let r = await ferry(['sync', '--src', 'oci', '--dest', 'oci-archive', '-q', a.layoutDir, full]);
    expect(r.code, r.stderr).to.equal(0);
    await access(`${full}.index.json`);
    // `copy` adds b to the archive: the index beside it must now say so, as the one inside it does
    r = await ferry(['copy', '-q', `oci:${b.layoutDir}:latest`, `oci-archive:${full}:b:1`]);
    expect(r.code, r.stderr).to.equal(0);
    const inside = (await runOk('tar', ['-xOf', full, 'ferry-archive.json'])).stdout;
    expect(await readFile(`${full}.index.json`, 'utf8')).to.equal(inside);
    expect(JSON.parse(inside).images.map((i: { name: string }) => i.name)).to.include('b:1');
    // an incremental archive on top of it carries b's manifest only: its config and layers are in full.tar
    const inc = join(dir, 'inc.tar');
    r = await ferry(['copy', '-q', '--since', full, `oci:${b.layoutDir}:latest`, `oci-archive:${inc}:b:1`]);
    expect(r.code, r.stderr).to.equal(0);
    expect((await tarBlobDigests(inc)).sort()).to.deep.equal([b.digest]);
  });
});
