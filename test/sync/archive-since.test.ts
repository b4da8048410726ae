import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ferry } from '../harness/cli.js';
import { buildImage, pushImage, type BuiltImage } from '../harness/images.js';
import { runOk } from '../harness/procs.js';
import { tarBlobDigests } from '../harness/tar-listing.js';
import { type TestRegistry, useRegistry } from '../harness/registry.js';
import { useCleanup } from '../harness/tmp.js';

const ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

const TLS = ['--src-tls-verify=false', '--dest-tls-verify=false'];

async function remoteDigest(reg: TestRegistry, repo: string, tag: string): Promise<string | undefined> {
  const r = await fetch(`${reg.url}/v2/${repo}/manifests/${tag}`, { method: 'HEAD', headers: { Accept: ACCEPT } });
  if (r.status === 404) return undefined;
  expect(r.status, `${repo}:${tag}`).to.equal(200);
  return r.headers.get('docker-content-digest') ?? undefined;
}


/** Every blob of an image: its manifests (index and children), configs and layers. */
function blobsOfImage(img: BuiltImage): Map<string, number> {
  const m = new Map<string, number>([[img.digest, img.bytes.length]]);
  for (const x of img.manifests) {
    m.set(x.digest, x.bytes.length);
    m.set(x.configDigest, x.config.length);
    for (const l of x.layers) m.set(l.digest, l.size);
  }
  return m;
}

function sha256(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

describe('air-gapped archives: --since on import, copy --since / --split-size, 20-image round trip (real registry)', function () {
  this.timeout(300_000);
  const near = useRegistry('http');
  /** The registry beyond the air gap. */
  const far = useRegistry('http');
  const cleanup = useCleanup();
  let root: string;
  let skopeoEnv: Record<string, string>;

  before(async () => {
    root = await cleanup.tempDir('archive-since');
    await writeFile(join(root, 'empty.conf'), '');
    skopeoEnv = { HOME: root, CONTAINERS_REGISTRIES_CONF: join(root, 'empty.conf') };
  });

  it('sync --src oci-archive NEW --since OLD (split): blobs NEW leaves out come from OLD; only blobs in neither are refused, nothing pushed', async () => {
    const dir = join(root, 'import');
    await runOk('mkdir', ['-p', dir]);
    const [a, b, c, other] = await Promise.all([601, 602, 603, 609].map((seed) => buildImage(join(dir, `img${seed}`), { seed, layers: 2, layerSize: 600_000 })));
    for (const [tag, img] of [['a', a], ['b', b], ['c', c]] as const) await pushImage(img!, near(), `imp/app:${tag}`);
    await pushImage(other!, near(), 'imp/other:1');
    // The first trip, split into parts; an unrelated archive.
    const full = join(dir, 'full.tar');
    let r = await ferry(['sync', '--src', 'docker', '--dest', 'oci-archive', '-q', '--split-size', '1M', ...TLS, `${near().host}/imp/app`, full]);
    expect(r.code, r.stderr).to.equal(0);
    expect(await readdir(dir)).to.include.members(['full.tar.001', 'full.tar.002', 'full.tar.sha256']);
    const unrelated = join(dir, 'other.tar');
    r = await ferry(['sync', '--src', 'docker', '--dest', 'oci-archive', '-q', ...TLS, `${near().host}/imp/other`, unrelated]);
    expect(r.code, r.stderr).to.equal(0);
    // The second trip: b changed.
    const b2 = await buildImage(join(dir, 'b2'), { seed: 612, layers: 2, layerSize: 600_000 });
    await pushImage(b2, near(), 'imp/app:b');
    const inc = join(dir, 'inc.tar');
    r = await ferry(['sync', '--src', 'docker', '--dest', 'oci-archive', '-q', '--since', full, ...TLS, `${near().host}/imp/app`, inc]);
    expect(r.code, r.stderr).to.equal(0);

    // Given only an archive that does not carry them: refused before anything is pushed, naming blob and archive.
    r = await ferry(['sync', '--src', 'oci-archive', '--dest', 'docker', '--since', unrelated, ...TLS, inc, `${far().host}/imp`]);
    expect(r.code, r.stderr).to.equal(2);
    expect(r.stderr).to.include('not at the destination nor in the archives given with --since');
    expect(r.stderr).to.include(`${a!.manifests[0]!.layers[0]!.digest} (oci-archive:${inc}:app:a → docker://${far().host}/imp/app:a; carried by full.tar)`);
    for (const t of ['a', 'b', 'c']) expect(await remoteDigest(far(), 'imp/app', t)).to.equal(undefined);

    // copy of one image reads them from the earlier archive too; without it, it fails as before, nothing written.
    const one = await ferry(['copy', '-q', '--dest-tls-verify=false', `oci-archive:${inc}:app:c`, `docker://${far().host}/one/app:c`]);
    expect(one.code).to.equal(2);
    expect(one.stderr).to.include('carried by full.tar): import that archive first, or name it with --since');
    expect(await remoteDigest(far(), 'one/app', 'c')).to.equal(undefined);
    r = await ferry(['copy', '-q', '--dest-tls-verify=false', '--since', full, `oci-archive:${inc}:app:c`, `docker://${far().host}/one/app:c`]);
    expect(r.code, r.stderr).to.equal(0);
    expect(await remoteDigest(far(), 'one/app', 'c')).to.equal(c!.digest);
    // With the earlier (split) archive: the far registry gets every image, the left-out blobs read from it.
    r = await ferry(['sync', '--src', 'oci-archive', '--dest', 'docker', '-q', '--since', unrelated, '--since', full, ...TLS, inc, `${far().host}/imp`]);
    expect(r.code, r.stderr).to.equal(0);
    for (const [t, img] of [['a', a], ['b', b2], ['c', c]] as const) expect(await remoteDigest(far(), 'imp/app', t), t).to.equal(img!.digest);

    // --since names archives: with neither side one, it is a usage error.
    r = await ferry(['copy', '-q', '--since', full, `oci:${a!.layoutDir}:latest`, `dir:${join(dir, 'out')}`]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include('--since applies only to an oci-archive: source or destination');
  });

  it('copy into oci-archive: with --since (incremental) and --split-size (parts): the same index as sync, read back by ferry', async () => {
    const dir = join(root, 'copy-oci');
    await runOk('mkdir', ['-p', dir]);
    const [a, b] = await Promise.all([701, 702].map((seed) => buildImage(join(dir, `img${seed}`), { seed, layers: 2, layerSize: 700_000 })));
    const full = join(dir, 'full.tar');
    let r = await ferry(['copy', '-q', `oci:${a!.layoutDir}:latest`, `oci-archive:${full}:app:a`]);
    expect(r.code, r.stderr).to.equal(0);
    // The next trip: a new image b, and a again (all of its blobs left out), split in parts of 1 MiB.
    const inc = join(dir, 'inc.tar');
    for (const [img, name] of [[b, 'app:b'], [a, 'app:a']] as const) {
      r = await ferry(['copy', '-q', '--since', full, '--split-size', '1M', `oci:${img!.layoutDir}:latest`, `oci-archive:${inc}:${name}`]);
      expect(r.code, r.stderr).to.equal(0);
    }
    const names = (await readdir(dir)).sort();
    expect(names).to.include.members(['inc.tar.001', 'inc.tar.002', 'inc.tar.sha256', 'inc.tar.index.json']);
    expect(names).to.not.include('inc.tar');
    await runOk('sha256sum', ['-c', '--quiet', 'inc.tar.sha256'], { cwd: dir });
    const doc = JSON.parse(await readFile(join(dir, 'inc.tar.index.json'), 'utf8')) as {
      images: { name: string; digest: string }[];
      carries: { digest: string }[];
      expects: { digest: string; in: string }[];
      buildsOn: { name: string }[];
    };
    const aBlobs = blobsOfImage(a!);
    expect(doc.carries.map((x) => x.digest).sort()).to.deep.equal([...new Set([...blobsOfImage(b!).keys(), a!.digest])].sort());
    expect(doc.expects.map((x) => x.digest).sort()).to.deep.equal([...aBlobs.keys()].filter((d) => d !== a!.digest).sort());
    expect(doc.expects.every((x) => x.in === 'full.tar')).to.equal(true);
    expect(doc.buildsOn.map((x) => x.name)).to.deep.equal(['full.tar']);
    expect(doc.images.map((i) => i.name).sort()).to.deep.equal(['app:a', 'app:b']);
    const v = await ferry(['verify-archive', '--format', 'json', `${inc}.001`]);
    expect(v.code, v.stderr).to.equal(0);

    // Read back by ferry from the first part; a with the earlier archive named.
    r = await ferry(['copy', '-q', `oci-archive:${inc}.001:app:b`, `oci:${join(dir, 'out')}:b`]);
    expect(r.code, r.stderr).to.equal(0);
    const out = JSON.parse(await readFile(join(dir, 'out', 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    expect(out.manifests.map((m) => m.digest)).to.deep.equal([b!.digest]);
    r = await ferry(['copy', '-q', '--dest-tls-verify=false', '--since', full, `oci-archive:${inc}.001:app:a`, `docker://${far().host}/copied/app:a`]);
    expect(r.code, r.stderr).to.equal(0);
    expect(await remoteDigest(far(), 'copied/app', 'a')).to.equal(a!.digest);
  });

  it('copy into docker-archive: with --split-size: parts joined are the whole archive skopeo reads; ferry reads the parts', async () => {
    const dir = join(root, 'copy-docker');
    await runOk('mkdir', ['-p', dir]);
    const [a, b] = await Promise.all([801, 802].map((seed) => buildImage(join(dir, `img${seed}`), { seed, layers: 2, layerSize: 700_000 })));
    const whole = join(dir, 'whole.tar');
    const split = join(dir, 'split.tar');
    for (const [img, name] of [[a, 'team/a:1'], [b, 'team/b:1']] as const) {
      let r = await ferry(['copy', '-q', `oci:${img!.layoutDir}:latest`, `docker-archive:${whole}:${name}`]);
      expect(r.code, r.stderr).to.equal(0);
      r = await ferry(['copy', '-q', '--split-size', '1M', `oci:${img!.layoutDir}:latest`, `docker-archive:${split}:${name}`]);
      expect(r.code, r.stderr).to.equal(0);
    }
    const names = (await readdir(dir)).filter((n) => n.startsWith('split.tar')).sort();
    expect(names).to.not.include('split.tar');
    expect(names).to.include.members(['split.tar.001', 'split.tar.002', 'split.tar.sha256']);
    await runOk('sha256sum', ['-c', '--quiet', 'split.tar.sha256'], { cwd: dir });
    const parts = await Promise.all(names.filter((n) => /\.\d{3}$/.test(n)).map((n) => readFile(join(dir, n))));
    expect(sha256(Buffer.concat(parts))).to.equal(sha256(await readFile(whole)));
    for (const name of ['team/a:1', 'team/b:1']) {
      const theirs = (await runOk('skopeo', ['inspect', '--raw', `docker-archive:${whole}:${name}`], { env: skopeoEnv })).stdoutBytes;
      const ours = await ferry(['inspect', '--raw', `docker-archive:${split}.001:${name}`]);
      expect(ours.code, ours.stderr).to.equal(0);
      expect(sha256(Buffer.from(ours.stdout))).to.equal(sha256(theirs));
    }
    const v = await ferry(['verify-archive', `${split}.001`]);
    expect(v.code, v.stderr).to.equal(0);
    expect(v.stdout).to.include('docker.io/team/b:1');
    // docker archives carry every layer (docker load and podman load need them all): no --since there.
    const r = await ferry(['copy', '-q', '--since', whole, `oci:${a!.layoutDir}:latest`, `docker-archive:${join(dir, 'x.tar')}:team/a:1`]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include('--since applies only to an oci-archive: source or destination');
  });

  it('20 images (single and multi-platform) registry → archive → far registry, then an incremental archive after 2 change', async () => {
    const dir = join(root, 'twenty');
    await runOk('mkdir', ['-p', dir]);
    const multi = [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
    ];
    const build = (seed: number, platforms?: typeof multi) => buildImage(join(dir, `img${seed}`), { seed, layers: 3, layerSize: 3_000, platforms });
    // 16 distinct images (4 of them multi-platform) and 4 more tags of the first four (blobs and manifests shared).
    const images: BuiltImage[] = [];
    for (let i = 0; i < 16; i++) images.push(await build(1000 + i, i % 4 === 3 ? multi : undefined));
    for (let i = 16; i < 20; i++) images.push(images[i - 16]!);
    for (const [i, img] of images.entries()) await pushImage(img, near(), `rt/app:t${i}`);
    const tags = images.map((_, i) => `t${i}`);
    const nearDigests = async () => Promise.all(tags.map((t) => remoteDigest(near(), 'rt/app', t)));
    const farDigests = async () => Promise.all(tags.map((t) => remoteDigest(far(), 'rt/app', t)));

    const full = join(dir, 'full.tar');
    let r = await ferry(['sync', '--src', 'docker', '--dest', 'oci-archive', '--all', '-q', ...TLS, `${near().host}/rt/app`, full]);
    expect(r.code, r.stderr).to.equal(0);
    r = await ferry(['sync', '--src', 'oci-archive', '--dest', 'docker', '--all', '-q', ...TLS, full, `${far().host}/rt`]);
    expect(r.code, r.stderr).to.equal(0);
    expect(await farDigests()).to.deep.equal(await nearDigests());

    // Two images change: a single-platform one and a multi-platform one.
    const changed = [await build(1100), await build(1103, multi)];
    await pushImage(changed[0]!, near(), 'rt/app:t5');
    await pushImage(changed[1]!, near(), 'rt/app:t7');
    const inc = join(dir, 'inc.tar');
    r = await ferry(['sync', '--src', 'docker', '--dest', 'oci-archive', '--all', '-q', '--since', full, ...TLS, `${near().host}/rt/app`, inc]);
    expect(r.code, r.stderr).to.equal(0);
    // It carries the changed images' blobs and the manifests of the others (indexes and theirs), nothing more.
    const now = images.map((img, i) => (i === 5 ? changed[0]! : i === 7 ? changed[1]! : img));
    const expected = new Map<string, number>();
    for (const img of changed) for (const [d, s] of blobsOfImage(img)) expected.set(d, s);
    for (const img of now) for (const m of [img, ...(img.manifests.length > 1 ? img.manifests : [])]) expected.set(m.digest, m.bytes.length);
    const carried = (await tarBlobDigests(inc)).sort();
    expect(carried).to.deep.equal([...expected.keys()].sort());
    const doc = JSON.parse((await runOk('tar', ['-xOf', inc, 'ferry-archive.json'])).stdout) as { carries: { digest: string; size: number }[] };
    const total = [...expected.values()].reduce((n, s) => n + s, 0);
    expect(doc.carries.reduce((n, b) => n + b.size, 0)).to.equal(total);
    // The file: those blobs, their tar headers and the layout's small files (a header and padding per entry).
    const entries = (await runOk('tar', ['-tf', inc])).stdout.split('\n').filter((n) => n !== '').length;
    const size = (await stat(inc)).size;
    expect(size).to.be.at.least(total);
    expect(size - total).to.be.at.most(entries * 1024 + 64 * 1024);

    r = await ferry(['sync', '--src', 'oci-archive', '--dest', 'docker', '--all', '-q', ...TLS, inc, `${far().host}/rt`]);
    expect(r.code, r.stderr).to.equal(0);
    const nd = await nearDigests();
    expect(nd[5]).to.equal(changed[0]!.digest);
    expect(nd[7]).to.equal(changed[1]!.digest);
    expect(await farDigests()).to.deep.equal(nd);
  });
});
