import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { buildImage, layoutBlobPath, pushImage, REF_NAME_ANNOTATION, type BuiltImage } from './images.js';
import { run } from './procs.js';
import { useRegistry } from './registry.js';
import { useCleanup } from './tmp.js';

const sha256 = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

/** Names of the entries of an uncompressed tar (ustar, short names). */
function tarNames(tar: Buffer): { name: string; type: string; mtime: number; uid: number }[] {
  const out: { name: string; type: string; mtime: number; uid: number }[] = [];
  for (let off = 0; off + 512 <= tar.length; ) {
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const name = h.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(h.subarray(124, 136).toString('ascii'), 8);
    out.push({ name, type: String.fromCharCode(h[156]!), mtime: parseInt(h.subarray(136, 148).toString('ascii'), 8), uid: parseInt(h.subarray(108, 116).toString('ascii'), 8) });
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

const twoArch = [
  { os: 'linux', architecture: 'amd64' },
  { os: 'linux', architecture: 'arm64', variant: 'v8' },
];

describe('harness: test images', function () {
  this.timeout(60_000);
  const cleanup = useCleanup();

  it('is deterministic: the same seed gives byte-identical images, another seed does not', async () => {
    const opts = { seed: 7, platforms: twoArch, smallFiles: 20, labels: { a: 'b' } };
    const a = await buildImage(await cleanup.tempDir('img-a'), opts);
    const b = await buildImage(await cleanup.tempDir('img-b'), opts);
    expect(a.digest).to.equal(b.digest);
    expect(a.bytes.equals(b.bytes)).to.equal(true);
    expect(a.manifests.map((m) => m.layers.map((l) => l.digest))).to.deep.equal(b.manifests.map((m) => m.layers.map((l) => l.digest)));
    const c = await buildImage(await cleanup.tempDir('img-c'), { ...opts, seed: 8 });
    expect(c.digest).to.not.equal(a.digest);
    const aLayers = new Set(a.manifests.flatMap((m) => m.layers.map((l) => l.digest)));
    for (const l of c.manifests.flatMap((m) => m.layers)) expect(aLayers.has(l.digest)).to.equal(false);
    // platforms of one image have distinct layers
    expect(a.manifests[0]!.layers[0]!.digest).to.not.equal(a.manifests[1]!.layers[0]!.digest);
  });

  it('writes an OCI layout whose blobs match their digests, and a valid index and configs', async () => {
    const dir = await cleanup.tempDir('img-layout');
    const img = await buildImage(dir, { seed: 1, platforms: twoArch, layers: 2, layerSize: 100_000, smallFiles: 30, env: ['A=1'], tag: 'v1' });
    expect(JSON.parse(await readFile(join(dir, 'oci-layout'), 'utf8'))).to.deep.equal({ imageLayoutVersion: '1.0.0' });
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string; size: number; mediaType: string; annotations: Record<string, string> }[] };
    expect(index.manifests).to.have.length(1);
    expect(index.manifests[0]).to.deep.include({ digest: img.digest, size: img.bytes.length, mediaType: 'application/vnd.oci.image.index.v1+json' });
    expect(index.manifests[0]!.annotations[REF_NAME_ANNOTATION]).to.equal('v1');

    expect(img.mediaType).to.equal('application/vnd.oci.image.index.v1+json');
    const top = JSON.parse(img.bytes.toString('utf8')) as { manifests: { digest: string; platform: Record<string, string> }[] };
    expect(top.manifests.map((m) => m.platform)).to.deep.equal([
      { architecture: 'amd64', os: 'linux' },
      { architecture: 'arm64', os: 'linux', variant: 'v8' },
    ]);
    expect(top.manifests.map((m) => m.digest)).to.deep.equal(img.manifests.map((m) => m.digest));

    const files = await readdir(join(dir, 'blobs', 'sha256'));
    for (const f of files) expect(sha256(await readFile(join(dir, 'blobs', 'sha256', f)))).to.equal(`sha256:${f}`);
    const m = img.manifests[1]!;
    expect(m.layers).to.have.length(3); // 2 random + 1 small-files layer
    const config = JSON.parse(m.config.toString('utf8')) as { architecture: string; variant: string; os: string; created: string; config: { Env: string[] }; rootfs: { diff_ids: string[] }; history: unknown[] };
    expect(config).to.deep.include({ architecture: 'arm64', variant: 'v8', os: 'linux', created: '2024-01-01T00:00:00Z' });
    expect(config.config.Env).to.deep.equal(['A=1']);
    expect(config.rootfs.diff_ids).to.deep.equal(m.layers.map((l) => l.diffId));
    expect(config.history).to.have.length(3);
    for (const l of m.layers) {
      const blob = await readFile(layoutBlobPath(dir, l.digest));
      expect(blob.length).to.equal(l.size);
      expect(l.mediaType).to.equal('application/vnd.oci.image.layer.v1.tar+gzip');
      expect(sha256(gunzipSync(blob))).to.equal(l.diffId);
    }
    const first = tarNames(gunzipSync(await readFile(layoutBlobPath(dir, m.layers[0]!.digest))));
    expect(first.map((e) => e.name)).to.deep.equal(['layer0/', 'layer0/data.bin', 'layer0/info.txt']);
    expect(first.every((e) => e.mtime === 1704067200 && e.uid === 0)).to.equal(true);
    const small = tarNames(gunzipSync(await readFile(layoutBlobPath(dir, m.layers[2]!.digest))));
    const names = small.map((e) => e.name);
    expect(names).to.deep.equal([...names].sort());
    expect(small.filter((e) => e.type === '0')).to.have.length(30);
    expect(names).to.include('files/a1/b2/f00009.bin');
  });

  it('builds docker-format, uncompressed images and adds tags to an existing layout', async () => {
    const dir = await cleanup.tempDir('img-docker');
    const d = await buildImage(dir, { seed: 3, format: 'docker', tag: 'd', compression: 'none', layers: 1 });
    expect(d.mediaType).to.equal('application/vnd.docker.distribution.manifest.v2+json');
    const man = JSON.parse(d.bytes.toString('utf8')) as { config: { mediaType: string }; layers: { mediaType: string; digest: string }[] };
    expect(man.config.mediaType).to.equal('application/vnd.docker.container.image.v1+json');
    expect(man.layers[0]!.mediaType).to.equal('application/vnd.docker.image.rootfs.diff.tar');
    expect(man.layers[0]!.digest).to.equal(d.manifests[0]!.layers[0]!.diffId);
    expect(JSON.parse(d.manifests[0]!.config.toString('utf8'))).to.have.property('docker_version');
    const list = await buildImage(dir, { seed: 3, format: 'docker', tag: 'list', platforms: twoArch, layers: 1 });
    expect(list.mediaType).to.equal('application/vnd.docker.distribution.manifest.list.v2+json');
    await buildImage(dir, { seed: 4, tag: 'd' }); // replaces tag d
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: { annotations: Record<string, string> }[] };
    expect(index.manifests.map((x) => x.annotations[REF_NAME_ANNOTATION])).to.deep.equal(['list', 'd']);
  });

  describe('with skopeo and a registry', () => {
    const registry = useRegistry('http');
    let img: BuiltImage;
    let single: BuiltImage;
    let dir: string;
    before(async () => {
      dir = await cleanup.tempDir('img-skopeo');
      img = await buildImage(dir, { seed: 11, platforms: twoArch, tag: 'multi' });
      single = await buildImage(dir, { seed: 12, tag: 'single', smallFiles: 5 });
    });

    it('skopeo reads the layout byte for byte', async () => {
      for (const i of [img, single]) {
        const r = await run('skopeo', ['inspect', '--raw', `oci:${dir}:${i.tag}`]);
        expect(r.code, r.stderr).to.equal(0);
        expect(r.stdoutBytes.equals(i.bytes)).to.equal(true);
      }
      const cfg = await run('skopeo', ['inspect', '--config', '--raw', `oci:${dir}:single`]);
      expect(cfg.stdoutBytes.equals(single.manifests[0]!.config)).to.equal(true);
    });

    it('pushImage makes the image pullable with the same digests', async () => {
      const reg = registry();
      await pushImage(img, reg, 'harness/multi:v1');
      await pushImage(single, reg, 'harness/single'); // tag defaults to the image's
      const r = await run('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${reg.host}/harness/multi:v1`]);
      expect(r.code, r.stderr).to.equal(0);
      expect(sha256(r.stdoutBytes)).to.equal(img.digest);
      const s = await run('skopeo', ['inspect', '--tls-verify=false', `docker://${reg.host}/harness/single:single`]);
      expect(s.code, s.stderr).to.equal(0);
      const info = JSON.parse(s.stdout) as { Digest: string; Layers: string[] };
      expect(info.Digest).to.equal(single.digest);
      expect(info.Layers).to.deep.equal(single.manifests[0]!.layers.map((l) => l.digest));
      // a full copy verifies every blob
      const out = await cleanup.tempDir('img-copy');
      const c = await run('skopeo', ['copy', '--src-tls-verify=false', '--all', `docker://${reg.host}/harness/multi:v1`, `oci:${out}:x`]);
      expect(c.code, c.stderr).to.equal(0);
      const arm = await run('skopeo', ['inspect', '--raw', '--override-arch', 'arm64', `oci:${out}:x`]);
      expect(sha256(arm.stdoutBytes)).to.equal(img.digest);
    });
  });

  for (const mode of ['basic', 'token'] as const) {
    describe(`pushImage to a ${mode} registry`, () => {
      const registry = useRegistry(mode);
      it('authenticates, pushes, and is refused with a wrong password', async () => {
        const reg = registry();
        const img = await buildImage(await cleanup.tempDir(`img-${mode}`), { seed: 21, layers: 1, format: 'docker' });
        await pushImage(img, reg, 'auth/img:v1');
        const r = await run('skopeo', ['inspect', '--cert-dir', reg.certDir!, '--creds', `${reg.username}:${reg.password}`, `docker://${reg.host}/auth/img:v1`]);
        expect(r.code, r.stderr).to.equal(0);
        expect((JSON.parse(r.stdout) as { Digest: string }).Digest).to.equal(img.digest);
        let err: unknown;
        await pushImage(img, reg, 'auth/img:v2', { password: 'wrong' }).catch((e: unknown) => { err = e; });
        expect(err).to.be.instanceOf(Error);
        expect(String(err)).to.match(/401/).and.not.include(reg.password!);
        if (mode === 'token') expect(reg.tokenServer!.requests.some((q) => q.authorized && q.scope.includes('repository:auth/img:pull,push'))).to.equal(true);
      });
    });
  }
});
