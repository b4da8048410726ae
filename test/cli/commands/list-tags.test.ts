import { expect } from 'chai';
import path from 'node:path';
import { useRegistry } from '../../harness/registry.js';
import { buildImage, pushImage } from '../../harness/images.js';
import { useCleanup } from '../../harness/tmp.js';
import { run } from '../../harness/procs.js';
import { ferry } from '../../harness/cli.js';

describe('cli/commands/list-tags (real registry)', function () {
  this.timeout(60_000);
  const cleanup = useCleanup('after');
  const reg = useRegistry('token');
  const tags = Array.from({ length: 12 }, (_, i) => `v${i}`);

  before(async () => {
    const image = await buildImage(path.join(await cleanup.tempDir('ferry-tags-'), 'l'), { seed: 31, layers: 1, layerSize: 256 });
    for (const t of tags) await pushImage(image, reg(), `team/tags:${t}`);
  });

  it('prints the same document as skopeo', async () => {
    const args = ['list-tags', '--cert-dir', reg().certDir!, `docker://${reg().host}/team/tags`];
    const f = await ferry(args);
    expect(f.code, f.stderr).to.equal(0);
    const s = await run('skopeo', args);
    expect(s.code, s.stderr).to.equal(0);
    expect(f.stdout).to.equal(s.stdout);
    expect([...JSON.parse(f.stdout).Tags].sort()).to.deep.equal([...tags].sort());
    expect(JSON.parse(f.stdout).Repository).to.equal(`${reg().host}/team/tags`);
  });

  it('lists the images of a docker-archive like skopeo', async () => {
    const dir = await cleanup.tempDir('ferry-tags-archive-');
    const image = await buildImage(path.join(dir, 'l'), { seed: 32, layers: 1, layerSize: 256, tag: 't' });
    const archive = path.join(dir, 'a.tar');
    const c = await run('skopeo', ['copy', '-q', `oci:${image.layoutDir}:t`, `docker-archive:${archive}:team/app:1`]);
    expect(c.code, c.stderr).to.equal(0);
    const f = await ferry(['list-tags', `docker-archive:${archive}`]);
    expect(f.code, f.stderr).to.equal(0);
    expect(f.stdout).to.equal((await run('skopeo', ['list-tags', `docker-archive:${archive}`])).stdout);
    expect(JSON.parse(f.stdout).Tags).to.deep.equal(['docker.io/team/app:1']);
  });

  it('exits 2 for a repository that does not exist, 1 for a reference with a tag', async () => {
    const missing = await ferry(['list-tags', '--cert-dir', reg().certDir!, `docker://${reg().host}/team/absent`]);
    expect(missing.code, missing.stderr).to.equal(2);
    const tagged = await ferry(['list-tags', '--cert-dir', reg().certDir!, `docker://${reg().host}/team/tags:v1`]);
    expect(tagged.code).to.equal(1);
    expect(tagged.stderr).to.contain('without a tag');
    const other = await ferry(['list-tags', 'oci:/tmp/x']);
    expect(other.code).to.equal(1);
  });
});
