import { expect } from 'chai';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ferry } from '../../harness/cli.js';
import { run } from '../../harness/procs.js';
import { buildImage, type BuiltImage } from '../../harness/images.js';
import { hasCommand, isRoot, podmanArgs, removeStore, tempStore } from '../../store/helpers.js';

describe('ferry store', function () {
  this.timeout(60000);
  let t: ReturnType<typeof tempStore>;
  let flags: string[];
  let img: BuiltImage;
  let img2: BuiltImage;
  before(async () => {
    t = tempStore('ferry-cli-store-');
    flags = ['--root', t.G, '--runroot', t.R];
    img = await buildImage(join(t.dir, 'layout'), { seed: 61, tag: 'a', layers: 2 });
    img2 = await buildImage(join(t.dir, 'layout'), { seed: 61, tag: 'b', layers: 2, labels: { second: 'yes' } });
  });
  after(() => removeStore(t.dir));

  it('lists an empty store, and refuses unknown subcommands', async () => {
    const r = await ferry(['store', 'images', ...flags]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.equal('REPOSITORY  TAG  IMAGE ID  CREATED  SIZE\n');
    const bad = await ferry(['store', 'frobnicate', ...flags]);
    expect(bad.code).to.equal(1);
    expect(bad.stderr).to.include('unknown store subcommand');
    const missing = await ferry(['store', 'inspect', 'nothere', ...flags]);
    expect(missing.code).to.equal(2);
    const rmi = await ferry(['store', 'rmi', 'nothere', ...flags]);
    expect(rmi.code).to.equal(2);
  });

  describe('with images (root)', () => {
    before(function () {
      if (!isRoot) this.skip();
    });

    it('pulls, lists, inspects; a second image reuses the shared layers', async () => {
      const c = await ferry(['copy', '--quiet', `oci:${img.layoutDir}:a`, `containers-storage:[overlay@${t.G}+${t.R}]example.com/cli:a`]);
      expect(c.code, c.stderr).to.equal(0);
      const again = await ferry(['copy', '--progress', 'json', `oci:${img2.layoutDir}:b`, `containers-storage:[overlay@${t.G}+${t.R}]example.com/cli:b`]);
      expect(again.code, again.stderr).to.equal(0);
      const events = again.stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { kind?: string; digest?: string });
      const skipped = events.filter((e) => e.kind === 'skipped').map((e) => e.digest);
      for (const l of img.manifests[0]!.layers) expect(skipped, again.stdout + again.stderr).to.include(l.digest);
      expect(readdirSync(join(t.G, 'overlay')).filter((d) => /^[0-9a-f]{64}$/.test(d))).to.have.length(2);
      const list = await ferry(['store', 'images', ...flags]);
      expect(list.stdout).to.match(/example\.com\/cli\s+a\s+[0-9a-f]{12}/);
      expect(list.stdout).to.match(/example\.com\/cli\s+b\s+[0-9a-f]{12}/);
      const insp = await ferry(['store', 'inspect', 'example.com/cli:a', ...flags]);
      expect(insp.code, insp.stderr).to.equal(0);
      const info = JSON.parse(insp.stdout) as { Id: string; Digest: string; Layers: Array<{ DiffDigest: string; CompressedDigest: string }> };
      expect(info.Id).to.equal(img.manifests[0]!.configDigest.slice(7));
      expect(info.Digest).to.equal(img.manifests[0]!.digest);
      expect(info.Layers.map((l) => l.DiffDigest)).to.deep.equal(img.manifests[0]!.layers.map((l) => l.diffId));
      expect(info.Layers.map((l) => l.CompressedDigest)).to.deep.equal(img.manifests[0]!.layers.map((l) => l.digest));
      const byPrefix = await ferry(['store', 'inspect', info.Id.slice(0, 8), ...flags]);
      expect(JSON.parse(byPrefix.stdout).Id).to.equal(info.Id);
      const layers = await ferry(['store', 'layers', '--json', ...flags]);
      expect((JSON.parse(layers.stdout) as unknown[]).length).to.equal(2);
      const df = await ferry(['store', 'df', '--json', ...flags]);
      const u = JSON.parse(df.stdout) as { images: Array<{ size: number; uniqueSize: number }>; totalLayerSize: number };
      expect(u.images).to.have.length(2);
      expect(u.images[0]!.uniqueSize).to.equal(0);
      expect(u.totalLayerSize).to.equal(u.images[0]!.size);
    });

    it('create / mount / unmount / rm / rmi / prune keep podman in agreement', async function () {
      if (!hasCommand('podman')) this.skip();
      const c = await ferry(['store', 'create', '--name', 'box', 'example.com/cli:a', ...flags]);
      expect(c.code, c.stderr).to.equal(0);
      const dup = await ferry(['store', 'create', '--name', 'box', 'example.com/cli:a', ...flags]);
      expect(dup.code).to.equal(1);
      const ps = await run('podman', podmanArgs(t.G, t.R, 'ps', '-a', '--external', '--format', '{{.Names}}'));
      expect(ps.stdout.split('\n')).to.include('box');
      const m1 = await ferry(['store', 'mount', 'box', ...flags]);
      const m2 = await ferry(['store', 'mount', 'box', ...flags]);
      expect(m1.stdout).to.equal(m2.stdout);
      const mp = JSON.parse(readFileSync(join(t.R, 'overlay-layers', 'mountpoints.json'), 'utf8')) as Array<{ count: number }>;
      expect(mp[0]!.count).to.equal(2);
      expect((await ferry(['store', 'unmount', 'box', ...flags])).code).to.equal(0);
      expect(readdirSync(m1.stdout.trim()).length).to.be.greaterThan(0);
      expect((await ferry(['store', 'unmount', 'box', ...flags])).code).to.equal(0);
      expect(readdirSync(m1.stdout.trim())).to.deep.equal([]);
      expect((await ferry(['store', 'rmi', 'example.com/cli:a', ...flags])).code).to.equal(1);
      expect((await ferry(['store', 'rm', 'box', ...flags])).code).to.equal(0);
      const rmi = await ferry(['store', 'rmi', 'example.com/cli:a', ...flags]);
      expect(rmi.code, rmi.stderr).to.equal(0);
      expect(rmi.stdout).to.include('Untagged: example.com/cli:a');
      // The layers stay: cli:b uses them.
      expect(JSON.parse((await ferry(['store', 'layers', '--json', ...flags])).stdout)).to.have.length(2);
      expect((await ferry(['store', 'rmi', 'example.com/cli:b', ...flags])).code).to.equal(0);
      expect(JSON.parse((await ferry(['store', 'layers', '--json', ...flags])).stdout)).to.have.length(0);
      expect((await ferry(['store', 'prune', ...flags])).code).to.equal(0);
      const pi = await run('podman', podmanArgs(t.G, t.R, 'images', '-q'));
      expect(pi.code, pi.stderr).to.equal(0);
      expect(pi.stdout.trim()).to.equal('');
    });
  });
});
