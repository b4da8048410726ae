/**
 * The air-gap import, `sync --src oci-archive --dest docker`, as the registry sees it (its access log): each blob of
 * the archive is looked for once and uploaded once, however many images use it; an image whose blobs the job already
 * pushed into the repository asks nothing about them.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { ferry, ferryProcess } from '../../harness/cli.js';
import { buildImage, pushImage, type BuiltImage } from '../../harness/images.js';
import { logMark, loggedRequests, useRegistry, type LoggedRequest } from '../../harness/registry.js';
import { useCleanup } from '../../harness/tmp.js';

describe('transports/oci-archive: sync --src oci-archive into a registry (access log)', function () {
  this.timeout(120_000);
  const registry = useRegistry('http');
  const cleanup = useCleanup();
  const tls = ['--src-tls-verify=false', '--dest-tls-verify=false'];
  let archive: string;
  let blobs: Set<string>;
  /** `bin/ferry sync ARGS` with a blob-location cache of its own (empty: nothing to mount from). */
  const importRun = async (name: string, args: string[]) =>
    ferryProcess(['sync', '-q', '--src', 'oci-archive', '--dest', 'docker', ...args, ...tls, archive, `${registry().host}/${name}`], { env: { XDG_CACHE_HOME: await cleanup.tempDir(`cache-${name}`) } });

  const logged = (from: number) => loggedRequests(registry(), from);
  const logSize = () => logMark(registry());
  const blobHeads = (reqs: LoggedRequest[], repo: string) => reqs.filter((q) => q.method === 'HEAD' && q.path.startsWith(`/v2/${repo}/`) && q.path.includes('/blobs/sha256:'));
  const uploadStarts = (reqs: LoggedRequest[], repo: string) => reqs.filter((q) => q.method === 'POST' && q.path.startsWith(`/v2/${repo}/`) && q.path.includes('/blobs/uploads/'));

  before(async () => {
    const root = await cleanup.tempDir('oci-archive-import');
    const one = await buildImage(join(root, 'one'), { seed: 611, layers: 3, layerSize: 3_000 });
    const two = await buildImage(join(root, 'two'), { seed: 612, layers: 2, layerSize: 3_000 });
    // two tags of one image and a third of another: 4 + 3 distinct blobs (layers and configs), 3 manifests
    const images: Array<[string, BuiltImage]> = [['air/app:v1', one], ['air/app:v2', two], ['air/app:v3', one]];
    for (const [rt, img] of images) await pushImage(img, registry(), rt);
    blobs = new Set(images.flatMap(([, img]) => [img.manifests[0]!.configDigest, ...img.manifests[0]!.layers.map((l) => l.digest)]));
    expect(blobs.size).to.equal(7);
    archive = join(root, 'air.tar');
    const r = await ferry(['sync', '-q', '--src', 'docker', '--dest', 'oci-archive', ...tls, `${registry().host}/air/app`, archive]);
    expect(r.code, r.stderr).to.equal(0);
  });

  it('one image at a time: each blob looked for once (missing) and uploaded once; the shared image asks nothing about its blobs', async () => {
    const from = await logSize();
    const r = await importRun('one', ['--parallel-images', '1']);
    expect(r.code, r.stderr).to.equal(0);
    const reqs = await logged(from);
    const shown = reqs.map((q) => `${q.method} ${q.path} ${q.status}`).join('\n');
    const heads = blobHeads(reqs, 'one/app');
    expect(heads.map((q) => q.status), shown).to.deep.equal([...blobs].map(() => 404));
    expect(new Set(heads.map((q) => q.path.split('/blobs/')[1])), shown).to.deep.equal(blobs);
    expect(uploadStarts(reqs, 'one/app'), shown).to.have.length(blobs.size);
    expect(reqs.filter((q) => q.method === 'PUT' && q.path.startsWith('/v2/one/app/manifests/')), shown).to.have.length(3);
  });

  it('images in parallel: no blob is looked for after the job pushed it, and each is uploaded once', async () => {
    const from = await logSize();
    const r = await importRun('par', ['--parallel-images', '3']);
    expect(r.code, r.stderr).to.equal(0);
    const reqs = await logged(from);
    const shown = reqs.map((q) => `${q.method} ${q.path} ${q.status}`).join('\n');
    expect(blobHeads(reqs, 'par/app').filter((q) => q.status !== 404), shown).to.deep.equal([]);
    expect(uploadStarts(reqs, 'par/app'), shown).to.have.length(blobs.size);
    expect(reqs.filter((q) => q.method === 'PUT' && q.path.startsWith('/v2/par/app/manifests/')), shown).to.have.length(3);
  });
});
