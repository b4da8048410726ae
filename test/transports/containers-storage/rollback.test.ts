/**
 * A copy into containers-storage that fails while it commits leaves the store exactly as it was: no instance image
 * of a half-stored list, no layer without an image, no big data, names unchanged; what was there before (an image
 * sharing a base layer with the failed copy) keeps everything, and podman and skopeo still read the store. Failures:
 * a hostile instance (a whiteout through a symlink of the layer below, refused when that layer is committed), an
 * instance whose config names other diff IDs, image data that cannot be written after the layers were recorded, an
 * abort in-process and SIGINT to the real `bin/ferry` in the middle of the commit.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { readFileSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { FerryError, ErrorCode } from '../../../src/errors.js';
import { copyImage } from '../../../src/copy/index.js';
import { PolicyContext } from '../../../src/signature/policy/evaluate.js';
import { parseImageName } from '../../../src/transports/registry.js';
import { FERRY_BIN, ferry, withTestPolicy } from '../../harness/cli.js';
import { run } from '../../harness/procs.js';
import { hasCommand, isRoot, removeStore, tempStore, treeSnapshot } from '../../store/helpers.js';
import { buildTar, sha256 } from '../../store/tar-build.js';
import { writeIndexLayout, writeLayout, type LayoutInstance } from './layout.js';

type ImageRec = { id: string; names?: string[]; layer?: string };
type LayerRec = { id: string; parent?: string };

const BASE = buildTar([{ name: 'etc/', type: 'dir' }, { name: 'etc/base', data: 'base'.repeat(1000) }]);
const layer = (name: string, data: string) => buildTar([{ name: 'opt/', type: 'dir' }, { name: `opt/${name}`, data: data.repeat(2000) }]);

describe('containers-storage: a failed commit leaves the store as it was', function () {
  this.timeout(120_000);

  for (const driver of ['vfs', 'overlay'] as const) {
    describe(driver, () => {
      let t: ReturnType<typeof tempStore>;
      let store: string;
      let goodLayer: string;

      const podman = (...args: string[]) =>
        run('podman', ['--root', t.G, '--runroot', t.R, '--storage-driver', driver, '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', ...args], { timeoutMs: 60_000 });
      const snapshot = () => [...treeSnapshot(t.G), ...treeSnapshot(t.R)];
      const imagesDir = () => join(t.G, `${driver}-images`);

      beforeEach(async function () {
        if (!isRoot) this.skip();
        t = tempStore(`ferry-rollback-${driver}-`);
        store = `[${driver}@${t.G}+${t.R}]`;
        // An image already in the store, whose only layer is the base layer of every image below.
        const good = join(t.dir, 'good');
        writeLayout(good, 'v', [BASE]);
        const c = await ferry(['copy', '--quiet', `oci:${good}:v`, `containers-storage:${store}example.com/good:1`]);
        expect(c.code, c.stderr).to.equal(0);
        goodLayer = sha256(BASE).slice(7);
      });
      afterEach(() => t && removeStore(t.dir));

      /** The store still works for podman and skopeo, and the image that was there keeps its layer and name. */
      async function expectStoreIntact(names = ['example.com/good:1']): Promise<void> {
        const imgs = await ferry(['inspect', '--raw', `containers-storage:${store}example.com/good:1`]);
        expect(imgs.code, imgs.stderr).to.equal(0);
        const layers = await ferry(['inspect', `containers-storage:${store}example.com/good:1`]);
        expect(layers.code, layers.stderr).to.equal(0);
        expect((JSON.parse(layers.stdout) as { Layers: string[] }).Layers).to.have.length(1);
        if (hasCommand('skopeo')) {
          const s = await run('skopeo', ['inspect', `containers-storage:${store}example.com/good:1`], { timeoutMs: 60_000 });
          expect(s.code, s.stderr).to.equal(0);
        }
        if (hasCommand('podman')) {
          const p = await podman('images', '--format', '{{.Repository}}:{{.Tag}}');
          expect(p.code, p.stderr).to.equal(0);
          expect(p.stdout.trim().split('\n').sort()).to.deep.equal(names);
          const l = await podman('image', 'inspect', '--format', '{{range .RootFS.Layers}}{{.}}{{end}}', 'example.com/good:1');
          expect(l.code, l.stderr).to.equal(0);
          expect(l.stdout.trim()).to.equal(sha256(BASE));
        }
      }

      /** A list of `instances` in an OCI layout; the first instance is fine: base + its own layer. */
      function listLayout(second: LayoutInstance): string {
        const dir = join(t.dir, 'list');
        writeIndexLayout(dir, 'm', [{ architecture: 'amd64', tars: [BASE, layer('amd64', 'a')] }, second]);
        return `oci:${dir}:m`;
      }

      it('copy --all: a later instance with a whiteout through a symlink of its layer below — the first instance\'s image and layers are removed again', async () => {
        const src = listLayout({
          architecture: 'arm64',
          tars: [BASE, buildTar([{ name: 'opt/', type: 'dir' }, { name: 'opt/link', type: 'symlink', linkname: 'elsewhere' }]), buildTar([{ name: 'opt/link/.wh.x', data: '' }])],
        });
        const before = snapshot();
        const r = await ferry(['copy', '--all', '--quiet', src, `containers-storage:${store}example.com/list:1`]);
        expect(r.code, r.stderr).to.not.equal(0);
        expect(r.stderr.trim().split('\n'), r.stderr).to.have.length(1);
        expect(r.stderr).to.match(/symlink/);
        expect(snapshot()).to.deep.equal(before);
        await expectStoreIntact();
      });

      it('copy --all of a list whose first instance is an image already there (stored from another manifest): that image is left as it was', async () => {
        // The first instance of the list below, stored before as a Docker schema2 image: the same config, so the same
        // image ID; the list's commit would give it its OCI manifest (under `manifest`) and keys of its own.
        const single = join(t.dir, 'single');
        writeLayout(single, 'v', [BASE, layer('amd64', 'a')]);
        const c = await ferry(['copy', '--quiet', '--format', 'v2s2', `oci:${single}:v`, `containers-storage:${store}example.com/inst:1`]);
        expect(c.code, c.stderr).to.equal(0);
        const src = listLayout({
          architecture: 'arm64',
          tars: [BASE, buildTar([{ name: 'opt/', type: 'dir' }, { name: 'opt/link', type: 'symlink', linkname: 'elsewhere' }]), buildTar([{ name: 'opt/link/.wh.x', data: '' }])],
        });
        const before = snapshot();
        const r = await ferry(['copy', '--all', '--quiet', src, `containers-storage:${store}example.com/inst:1`]);
        expect(r.code, r.stderr).to.not.equal(0);
        expect(snapshot()).to.deep.equal(before);
        await expectStoreIntact(['example.com/good:1', 'example.com/inst:1']);
        const raw = await ferry(['inspect', '--raw', `containers-storage:${store}example.com/inst:1`]);
        expect(raw.code, raw.stderr).to.equal(0);
        expect((JSON.parse(raw.stdout) as { mediaType: string }).mediaType).to.equal('application/vnd.docker.distribution.manifest.v2+json');
      });

      it('copy --all: a later instance whose config names other diff IDs — nothing is written', async () => {
        const tars = [BASE, layer('arm64', 'b')];
        const src = listLayout({ architecture: 'arm64', tars, claimedDiffIds: [sha256(BASE), sha256(layer('other', 'c'))] });
        const before = snapshot();
        const r = await ferry(['copy', '--all', '--quiet', src, `containers-storage:${store}example.com/list:1`]);
        expect(r.code, r.stderr).to.not.equal(0);
        expect(r.stderr).to.match(/does not match the config/);
        expect(snapshot()).to.deep.equal(before);
        await expectStoreIntact();
      });

      it('a single image whose data cannot be written once its layers are in place: the layers are removed again', async () => {
        const dir = join(t.dir, 'single');
        const { configDigest } = writeLayout(dir, 'v', [BASE, layer('single', 's')]);
        // In the way of the image's directory: writing its big data fails after layers.json names its new layer.
        writeFileSync(join(imagesDir(), configDigest.slice(7)), 'not a directory');
        const before = snapshot();
        const r = await ferry(['copy', '--quiet', `oci:${dir}:v`, `containers-storage:${store}example.com/single:1`]);
        expect(r.code, r.stderr).to.not.equal(0);
        expect(snapshot()).to.deep.equal(before);
        await expectStoreIntact();
      });

      it('an abort in the middle of the commit of copy --all (in-process): the store as before, E_ABORTED', async () => {
        const layout = join(t.dir, 'list');
        const built = writeIndexLayout(layout, 'm', [
          { architecture: 'amd64', tars: [BASE, layer('amd64', 'a')] },
          { architecture: 'arm64', tars: [BASE, layer('arm64', 'b')] },
        ]);
        const firstImage = built.instances[0]!.configDigest.slice(7);
        const before = snapshot();
        const ac = new AbortController();
        // The abort comes as the first instance's image directory is made: its layers are in layers.json by then.
        const watcher: FSWatcher = watch(imagesDir(), (_event, name) => {
          if (name === firstImage) ac.abort(new Error('test abort'));
        });
        let err: unknown;
        try {
          await copyImage(parseImageName(`oci:${layout}:m`), parseImageName(`containers-storage:${store}example.com/list:1`), {
            policy: PolicyContext.acceptAnything(),
            multiArch: 'all',
            signal: ac.signal,
          });
        } catch (e) {
          err = e;
        } finally {
          watcher.close();
        }
        expect(ac.signal.aborted, 'the commit made the first instance\'s image directory').to.equal(true);
        expect(err).to.be.instanceOf(FerryError);
        expect((err as FerryError).code).to.equal(ErrorCode.Aborted);
        expect(snapshot()).to.deep.equal(before);
        await expectStoreIntact();
      });

      it('SIGINT to bin/ferry copy --all during the commit: exit 130 and the store as before, or the whole list stored', async () => {
        const layout = join(t.dir, 'list');
        const instances = ['amd64', 'arm64', 'ppc64le', 's390x', '386', 'riscv64'].map((a) => ({ architecture: a, tars: [BASE, layer(a, a)] }));
        const built = writeIndexLayout(layout, 'm', instances);
        const firstImage = built.instances[0]!.configDigest.slice(7);
        const before = snapshot();
        const child = spawn(process.execPath, [FERRY_BIN, ...withTestPolicy(['copy', '--all', '--quiet', `oci:${layout}:m`, `containers-storage:${store}example.com/list:1`])], {
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        let signalled = false;
        const watcher = watch(imagesDir(), (_event, name) => {
          if (name === firstImage && !signalled) {
            signalled = true;
            child.kill('SIGINT');
          }
        });
        const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
        watcher.close();
        expect(signalled, 'the commit made the first instance\'s image directory').to.equal(true);
        if (code === 0) {
          // the signal came after the commit: then everything is there
          const images = (await ferry(['inspect', '--raw', `containers-storage:${store}example.com/list:1`]));
          expect(images.code, images.stderr).to.equal(0);
          expect((JSON.parse(images.stdout) as { manifests: unknown[] }).manifests).to.have.length(instances.length);
        } else {
          expect(code, stderr).to.equal(130);
          expect(stderr.trim()).to.equal('Error: interrupted');
          expect(snapshot()).to.deep.equal(before);
        }
        await expectStoreIntact();
      });

      it('what a failed copy shared with an image already there stays: the base layer and its image', async () => {
        const src = listLayout({
          architecture: 'arm64',
          tars: [BASE, buildTar([{ name: 'opt/', type: 'dir' }, { name: 'opt/link', type: 'symlink', linkname: 'elsewhere' }]), buildTar([{ name: 'opt/link/.wh.x', data: '' }])],
        });
        const r = await ferry(['copy', '--all', '--quiet', src, `containers-storage:${store}example.com/list:1`]);
        expect(r.code, r.stderr).to.not.equal(0);
        const layers = (await ferry(['inspect', `containers-storage:${store}example.com/good:1`]));
        expect(layers.code, layers.stderr).to.equal(0);
        const recs = JSON.parse(readFileSync(join(t.G, `${driver}-layers`, 'layers.json'), 'utf8')) as LayerRec[];
        expect(recs.map((l) => l.id)).to.deep.equal([goodLayer]);
        const imgs = JSON.parse(readFileSync(join(imagesDir(), 'images.json'), 'utf8')) as ImageRec[];
        expect(imgs.map((i) => [i.names, i.layer])).to.deep.equal([[['example.com/good:1'], goodLayer]]);
      });
    });
  }
});
