import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ferry } from '../harness/cli.js';
import { buildImage, pushImage, type BuiltImage } from '../harness/images.js';
import { runOk } from '../harness/procs.js';
import { tarBlobDigests } from '../harness/tar-listing.js';
import { useRegistry } from '../harness/registry.js';
import { useCleanup } from '../harness/tmp.js';

const ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');


describe('sync: OCI archives and layouts (real registry)', function () {
  this.timeout(120_000);
  const registry = useRegistry('http');
  /** The registry beyond the air gap (another one: a registry can mount blobs it holds for another repository). */
  const far = useRegistry('http');
  const cleanup = useCleanup();
  const host = () => registry().host;
  const tls = ['--src-tls-verify=false', '--dest-tls-verify=false'];
  /** repo:tag → image pushed there. */
  const pushed = new Map<string, BuiltImage>();
  let root: string;
  let skopeoEnv: Record<string, string>;

  async function remoteDigest(repo: string, tag: string, reg = registry()): Promise<string | undefined> {
    const r = await fetch(`${reg.url}/v2/${repo}/manifests/${tag}`, { method: 'HEAD', headers: { Accept: ACCEPT } });
    if (r.status === 404) return undefined;
    expect(r.status).to.equal(200);
    return r.headers.get('docker-content-digest') ?? undefined;
  }

  /** The digest of the manifest skopeo reads as `oci-archive:ARCHIVE:REF`. */
  async function archivedDigest(archive: string, ref: string): Promise<string> {
    const raw = await runOk('skopeo', ['inspect', '--raw', `oci-archive:${archive}:${ref}`], { env: skopeoEnv });
    return `sha256:${createHash('sha256').update(raw.stdoutBytes).digest('hex')}`;
  }

  before(async () => {
    root = await cleanup.tempDir('sync-archive');
    await writeFile(join(root, 'empty.conf'), '');
    skopeoEnv = { HOME: root, CONTAINERS_REGISTRIES_CONF: join(root, 'empty.conf') };
    const one = await buildImage(join(root, 'one'), { seed: 301, layers: 3, layerSize: 3_000 });
    const two = await buildImage(join(root, 'two'), { seed: 302, layers: 2, layerSize: 3_000, format: 'docker' });
    const multi = await buildImage(join(root, 'multi'), {
      seed: 303,
      layers: 2,
      layerSize: 2_000,
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64', variant: 'v8' },
      ],
    });
    // The same image under two tags: its blobs must be stored once.
    for (const [rt, img] of [['team/app:v1', one], ['team/app:v1-again', one], ['team/app:v2', two], ['team/multi:1', multi]] as const) {
      await pushImage(img, registry(), rt);
      pushed.set(rt, img);
    }
  });

  it('--dest oci-archive then --src oci-archive: every image in one archive, blobs once; the far side gets the same digests', async () => {
    const archive = join(root, 'export.tar');
    let r = await ferry(['sync', '--src', 'docker', '--dest', 'oci-archive', '--all', '-q', ...tls, `${host()}/team/app`, archive]);
    expect(r.code, r.stderr).to.equal(0);
    r = await ferry(['sync', '--src', 'docker', '--dest', 'oci-archive', '--all', '-q', ...tls, `${host()}/team/multi`, archive]);
    expect(r.code, r.stderr).to.equal(0);
    // skopeo reads each image by its ref name (REPO:TAG).
    for (const [ref, rt] of [['app:v1', 'team/app:v1'], ['app:v1-again', 'team/app:v1'], ['multi:1', 'team/multi:1']]) {
      expect(await archivedDigest(archive, ref), ref).to.equal(pushed.get(rt)!.digest);
    }
    const names = await tarBlobDigests(archive);
    expect(new Set(names).size).to.equal(names.length);
    // Only the staged archive is left: no staging directory, no lock.
    expect((await readdir(root)).filter((n) => n.startsWith('.'))).to.deep.equal([]);

    r = await ferry(['sync', '--src', 'oci-archive', '--dest', 'docker', '--all', ...tls, archive, `${far().host}/far`]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.include('Synced 4 images from 1 sources');
    expect(r.stderr).to.include(`oci-archive:${archive}:app:v1`);
    expect(r.stderr).to.include(`docker://${far().host}/far/app:v1`);
    for (const [rt, img] of pushed) {
      const [, name] = rt.split('/');
      const [repo, tag] = name!.split(':');
      // An OCI layout holds OCI manifests: the Docker-format image was converted on the way in, and arrives as such.
      const expected = img.mediaType.includes('docker') ? await archivedDigest(archive, `${repo}:${tag}`) : img.digest;
      expect(await remoteDigest(`far/${repo}`, tag!, far()), rt).to.equal(expected);
    }
    // The unpacked copy of the archive is gone.
    expect((await readdir(root)).filter((n) => n.startsWith('ferry-oci-archive-'))).to.deep.equal([]);
  });

  it('--scoped names images by their full source name; --dest oci and --src oci round-trip a layout', async () => {
    const archive = join(root, 'scoped.tar');
    let r = await ferry(['sync', '--src', 'docker', '--dest', 'oci-archive', '--scoped', '-q', ...tls, `${host()}/team/app:v2`, archive]);
    expect(r.code, r.stderr).to.equal(0);
    const index = JSON.parse((await runOk('tar', ['-xOf', archive, 'index.json'])).stdout) as { manifests: { annotations: Record<string, string> }[] };
    expect(index.manifests.map((d) => d.annotations['org.opencontainers.image.ref.name'])).to.deep.equal([`${host()}/team/app:v2`]);

    const layout = join(root, 'layout');
    r = await ferry(['sync', '--src', 'docker', '--dest', 'oci', '-q', ...tls, `${host()}/team/app`, layout]);
    expect(r.code, r.stderr).to.equal(0);
    const raw = await runOk('skopeo', ['inspect', '--raw', `oci:${layout}:app:v1`], { env: skopeoEnv });
    expect(raw.stdout.length).to.be.greaterThan(0);
    r = await ferry(['sync', '--src', 'oci', '--dest', 'docker', ...tls, layout, `${host()}/fromlayout`]);
    expect(r.code, r.stderr).to.equal(0);
    expect(await remoteDigest('fromlayout/app', 'v1')).to.equal(pushed.get('team/app:v1')!.digest);
  });

  it('a sync that fails leaves the archive as it was, and nothing beside it', async () => {
    const dir = join(root, 'fail');
    await runOk('mkdir', ['-p', dir]);
    const archive = join(dir, 'a.tar');
    const r = await ferry(['sync', '--src', 'docker', '--dest', 'oci-archive', '-q', ...tls, `${host()}/team/nope`, archive]);
    expect(r.code).to.equal(2);
    expect(await readdir(dir)).to.deep.equal([]);
    const dry = await ferry(['sync', '--src', 'docker', '--dest', 'oci-archive', '--dry-run', ...tls, `${host()}/team/app`, archive]);
    expect(dry.code, dry.stderr).to.equal(0);
    expect(dry.stderr).to.include(`to="oci-archive:${archive}:app:v2"`);
    expect(await readdir(dir)).to.deep.equal([]);
  });

  it('--since: an incremental archive carries only what changed; importing it checks the far side first', async () => {
    const dir = join(root, 'inc');
    await runOk('mkdir', ['-p', dir]);
    const v = [0, 1, 2].map((i) => buildImage(join(dir, `img${i}`), { seed: 400 + i, layers: 2, layerSize: 4_000 }));
    const [a, b, c] = await Promise.all(v);
    for (const [tag, img] of [['a', a], ['b', b], ['c', c]] as const) await pushImage(img!, registry(), `inc/app:${tag}`);
    const full = join(dir, 'full.tar');
    let r = await ferry(['sync', '--src', 'docker', '--dest', 'oci-archive', '-q', ...tls, `${host()}/inc/app`, full]);
    expect(r.code, r.stderr).to.equal(0);
    expect((await readdir(dir)).sort()).to.include.members(['full.tar', 'full.tar.index.json']);

    // One image changes; the archive of that trip carries its blobs and the manifests of every image, nothing else.
    const b2 = await buildImage(join(dir, 'b2'), { seed: 410, layers: 2, layerSize: 4_000 });
    await pushImage(b2, registry(), 'inc/app:b');
    const inc = join(dir, 'inc.tar');
    r = await ferry(['sync', '--src', 'docker', '--dest', 'oci-archive', '-q', '--since', full, ...tls, `${host()}/inc/app`, inc]);
    expect(r.code, r.stderr).to.equal(0);
    const m = b2.manifests[0]!;
    const changed = [b2.digest, m.configDigest, ...m.layers.map((l) => l.digest)];
    const carried = (await tarBlobDigests(inc)).sort();
    expect(carried).to.deep.equal([...new Set([...changed, a!.digest, c!.digest])].sort());
    const doc = JSON.parse((await runOk('tar', ['-xOf', inc, 'ferry-archive.json'])).stdout) as {
      carries: { digest: string; size: number }[];
      expects: { digest: string; in: string }[];
      buildsOn: { name: string; id: string }[];
    };
    const changedBytes = m.layers.reduce((n, l) => n + l.size, 0) + m.config.length + b2.bytes.length + a!.bytes.length + c!.bytes.length;
    expect(doc.carries.reduce((n, x) => n + x.size, 0)).to.equal(changedBytes);
    expect(doc.expects.map((e) => e.digest)).to.include(a!.manifests[0]!.layers[0]!.digest);
    expect(doc.expects.every((e) => e.in === 'full.tar')).to.equal(true);
    expect(doc.buildsOn.map((x) => x.name)).to.deep.equal(['full.tar']);
    const verify = await ferry(['verify-archive', '--format', 'json', inc]);
    expect(verify.code, verify.stderr).to.equal(0);
    expect((JSON.parse(verify.stdout) as { expects: string[] }).expects).to.have.length(doc.expects.length);

    // Imported alone, into a registry that never saw full.tar: refused before anything is pushed, naming what is missing.
    r = await ferry(['sync', '--src', 'oci-archive', '--dest', 'docker', ...tls, inc, `${far().host}/far-inc`]);
    expect(r.code).to.equal(2);
    expect(r.stderr, r.stderr).to.include(`${a!.manifests[0]!.layers[0]!.digest} (oci-archive:${inc}:app:a → docker://${far().host}/far-inc/app:a; carried by full.tar)`);
    for (const t of ['a', 'b', 'c']) expect(await remoteDigest('far-inc/app', t, far())).to.equal(undefined);
    // copy of one image names the earlier archive too.
    const one = await ferry(['copy', '-q', '--dest-tls-verify=false', `oci-archive:${inc}:app:a`, `docker://${far().host}/far-inc/app:a`]);
    expect(one.code).to.equal(2);
    expect(one.stderr).to.include(`is not in OCI archive ${inc}, which expects it at the destination (carried by full.tar): import that archive first`);
    expect(await remoteDigest('far-inc/app', 'a', far())).to.equal(undefined);

    // After full.tar, it goes in, and the far side ends as the near side.
    r = await ferry(['sync', '--src', 'oci-archive', '--dest', 'docker', '-q', ...tls, full, `${far().host}/far-inc`]);
    expect(r.code, r.stderr).to.equal(0);
    r = await ferry(['sync', '--src', 'oci-archive', '--dest', 'docker', '-q', ...tls, inc, `${far().host}/far-inc`]);
    expect(r.code, r.stderr).to.equal(0);
    for (const [t, img] of [['a', a], ['b', b2], ['c', c]] as const) expect(await remoteDigest('far-inc/app', t, far()), t).to.equal(img!.digest);

    // An earlier archive can be gone: its index beside it is enough.
    await runOk('rm', [full]);
    const inc2 = join(dir, 'inc2.tar');
    r = await ferry(['sync', '--src', 'docker', '--dest', 'oci-archive', '-q', '--since', full, '--since', inc, ...tls, `${host()}/inc/app`, inc2]);
    expect(r.code, r.stderr).to.equal(0);
    expect((await tarBlobDigests(inc2)).sort()).to.deep.equal([a!.digest, b2.digest, c!.digest].sort());
  });

  it('--split-size: parts and a checksum list sha256sum accepts; read from the first part; a bad part is named, nothing pushed', async () => {
    const dir = join(root, 'split');
    await runOk('mkdir', ['-p', dir]);
    const big = await buildImage(join(dir, 'img'), { seed: 450, layers: 2, layerSize: 1_300_000 });
    await pushImage(big, registry(), 'split/app:1');
    const base = join(dir, 'media', 'mirror.tar');
    await runOk('mkdir', ['-p', join(dir, 'media')]);
    let r = await ferry(['sync', '--src', 'docker', '--dest', 'oci-archive', '-q', '--split-size', '1M', ...tls, `${host()}/split/app`, base]);
    expect(r.code, r.stderr).to.equal(0);
    const names = (await readdir(join(dir, 'media'))).sort();
    const parts = names.filter((n) => /^mirror\.tar\.\d{3}$/.test(n));
    expect(parts.length).to.be.at.least(3);
    expect(names).to.include('mirror.tar.sha256');
    expect(names).to.not.include('mirror.tar');
    await runOk('sha256sum', ['-c', '--quiet', 'mirror.tar.sha256'], { cwd: join(dir, 'media') });
    const first = `${base}.001`;
    expect((await ferry(['verify-archive', first])).code).to.equal(0);
    r = await ferry(['sync', '--src', 'oci-archive', '--dest', 'docker', '-q', ...tls, first, `${far().host}/split-ok`]);
    expect(r.code, r.stderr).to.equal(0);
    expect(await remoteDigest('split-ok/app', '1', far())).to.equal(big.digest);

    const damaged = async (name: string, harm: (d: string) => Promise<void>, code: number, says: string) => {
      const d = join(dir, name);
      await runOk('cp', ['-r', join(dir, 'media'), d]);
      await harm(d);
      const out = await ferry(['sync', '--src', 'oci-archive', '--dest', 'docker', ...tls, join(d, 'mirror.tar.001'), `${far().host}/${name}`]);
      expect(out.code, out.stderr).to.equal(code);
      expect(out.stderr, out.stderr).to.include(says.replace('DIR', d));
      expect(await remoteDigest(`${name}/app`, '1', far())).to.equal(undefined);
      const v = await ferry(['verify-archive', join(d, 'mirror.tar.001')]);
      expect(v.stderr, v.stderr).to.include(says.replace('DIR', d));
    };
    await damaged('missing', (d) => runOk('rm', [join(d, 'mirror.tar.002')]).then(() => {}), 2, 'part DIR/mirror.tar.002 is missing');
    await damaged('truncated', (d) => runOk('truncate', ['-s', '-100', join(d, 'mirror.tar.002')]).then(() => {}), 1, 'part DIR/mirror.tar.002 (');
    await damaged(
      'flipped',
      async (d) => {
        const f = join(d, 'mirror.tar.003');
        const b = await readFile(f);
        b[10] = b[10]! ^ 1;
        await writeFile(f, b);
      },
      1,
      'part DIR/mirror.tar.003 (',
    );
  });

  it('signatures travel: signed at the near side, through an incremental split archive, accepted by policy at the far side', async () => {
    const dir = join(root, 'signed');
    await runOk('mkdir', ['-p', dir]);
    const regd = join(dir, 'registries.d');
    await runOk('mkdir', ['-p', regd]);
    await writeFile(join(regd, 'sig.yaml'), `docker:\n  ${host()}:\n    use-sigstore-attachments: true\n  ${far().host}:\n    use-sigstore-attachments: true\n`);
    await writeFile(join(dir, 'pass'), 'secret\n');
    const key = join(dir, 'key');
    expect((await ferry(['generate-sigstore-key', '--output-prefix', key, '--passphrase-file', join(dir, 'pass')])).code).to.equal(0);
    const [a, b] = await Promise.all([501, 502].map((seed) => buildImage(join(dir, `img${seed}`), { seed, tag: 't', layers: 1, layerSize: 3_000 })));
    await pushImage(a!, registry(), 'signed/app:a');
    const full = join(dir, 'full.tar');
    let r = await ferry(['sync', '--src', 'docker', '--dest', 'oci-archive', '-q', ...tls, `${host()}/signed/app`, full]);
    expect(r.code, r.stderr).to.equal(0);
    // The second trip: a new image, signed (a sigstore attachment, tag sha256-….sig) for its name at the far side.
    r = await ferry(['--registries.d', regd, 'copy', '-q', '--dest-tls-verify=false', '--sign-by-sigstore-private-key', `${key}.private`, '--sign-passphrase-file', join(dir, 'pass'),
      '--sign-identity', `${far().host}/signed/app:b`, `oci:${b!.layoutDir}:t`, `docker://${host()}/signed/app:b`]);
    expect(r.code, r.stderr).to.equal(0);
    const inc = join(dir, 'inc.tar');
    r = await ferry(['sync', '--src', 'docker', '--dest', 'oci-archive', '-q', '--since', full, '--split-size', '1M', ...tls, `${host()}/signed/app`, inc]);
    expect(r.code, r.stderr).to.equal(0);
    const sigTag = `sha256-${b!.digest.slice(7)}.sig`;
    const verify = await ferry(['verify-archive', '--format', 'json', `${inc}.001`]);
    expect(verify.code, verify.stderr).to.equal(0);
    expect((JSON.parse(verify.stdout) as { images: { name: string }[] }).images.map((i) => i.name)).to.include(`app:${sigTag}`);
    for (const trip of [full, `${inc}.001`]) {
      r = await ferry(['sync', '--src', 'oci-archive', '--dest', 'docker', '-q', ...tls, trip, `${far().host}/signed`]);
      expect(r.code, r.stderr).to.equal(0);
    }
    const policy = join(dir, 'policy.json');
    await writeFile(policy, JSON.stringify({
      default: [{ type: 'reject' }],
      transports: { docker: { [`${far().host}/signed`]: [{ type: 'sigstoreSigned', keyPath: `${key}.pub`, signedIdentity: { type: 'matchRepoDigestOrExact' } }] } },
    }));
    const pull = (tag: string) => ferry(['--registries.d', regd, '--policy', policy, 'copy', '-q', '--src-tls-verify=false', `docker://${far().host}/signed/app:${tag}`, `dir:${join(dir, `out-${tag}`)}`]);
    r = await pull('b');
    expect(r.code, r.stderr).to.equal(0);
    r = await pull('a');
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include('Source image rejected');
  });
});
