/**
 * Hostile layers against both drivers: symlinks in a lower layer pointing out of the store (absolute, relative
 * with `..`, to `/`), and whiteouts, opaque whiteouts, hard links and whiteouts of `..`/`.` that would reach
 * through them. Nothing outside the store may change (a bystander tree is compared entry by entry), the copy
 * fails naming the layer, and the store is left exactly as it was (no layer record, nothing staged).
 */
import { expect } from 'chai';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '../../src/store/store.js';
import { ferry } from '../harness/cli.js';
import { isRoot, removeStore, tempStore, treeSnapshot } from './helpers.js';
import { buildTar, gzip, sha256, type Entry } from './tar-build.js';
import { writeLayout } from '../transports/containers-storage/layout.js';

describe('store: hostile layers stay inside the store (vfs and overlay)', function () {
  this.timeout(120_000);

  for (const driver of ['vfs', 'overlay'] as const) {
    describe(driver, () => {
      let t: ReturnType<typeof tempStore>;
      let bystander: string;
      let store: string;
      let n = 0;

      beforeEach(async function () {
        if (!isRoot) this.skip();
        t = tempStore(`ferry-hostile-${driver}-`);
        bystander = join(t.dir, 'bystander');
        mkdirSync(join(bystander, 'd', 'sub'), { recursive: true });
        writeFileSync(join(bystander, 'd', 'keep'), 'keep');
        writeFileSync(join(bystander, 'd', 'other'), 'other');
        writeFileSync(join(bystander, 'd', 'sub', 'x'), 'x');
        store = `[${driver}@${t.G}+${t.R}]`;
        // Another image is in the store already: it must survive every attempt below.
        const good = join(t.dir, 'good');
        writeLayout(good, 'v', [buildTar([{ name: 'etc/', type: 'dir' }, { name: 'etc/hosts', data: 'h' }])]);
        const c = await ferry(['copy', '--quiet', `oci:${good}:v`, `containers-storage:${store}example.com/good:1`]);
        expect(c.code, c.stderr).to.equal(0);
      });
      afterEach(() => t && removeStore(t.dir));

      /** Copies an image of `layers` into the store; returns the result and the digest of the last layer's blob. */
      async function copyLayers(layers: Entry[][]) {
        const layout = join(t.dir, `layout-${++n}`);
        const tars = layers.map((l) => buildTar(l));
        writeLayout(layout, 'v', tars);
        const r = await ferry(['copy', '--quiet', `oci:${layout}:v`, `containers-storage:${store}example.com/hostile:${n}`]);
        return { ...r, top: sha256(gzip(tars[tars.length - 1]!)) };
      }

      /** Runs `layers` expecting a refusal naming the top layer, with the store and the bystander unchanged. */
      async function expectRefused(layers: Entry[][], why: RegExp) {
        const storeBefore = [...treeSnapshot(t.G), ...treeSnapshot(t.R)];
        const outsideBefore = treeSnapshot(bystander);
        const r = await copyLayers(layers);
        expect(treeSnapshot(bystander), 'outside the store').to.deep.equal(outsideBefore);
        expect(r.code, r.stderr).to.equal(1);
        expect(r.stderr).to.include(r.top).and.match(why);
        expect(r.stderr.trim().split('\n'), r.stderr).to.have.length(1);
        expect([...treeSnapshot(t.G), ...treeSnapshot(t.R)], 'the store').to.deep.equal(storeBefore);
        const images = await ferry(['store', 'images', '--root', t.G, '--runroot', t.R, '--storage-driver', driver]);
        expect(images.stdout).to.include('example.com/good').and.not.include('hostile');
      }

      const targets = {
        absolute: () => join(bystander, 'd'),
        'relative (../../..)': () => '../'.repeat(40) + join(bystander, 'd').slice(1),
      };
      for (const [kind, target] of Object.entries(targets)) {
        it(`${kind} symlink in a lower layer, whiteout under it: refused`, async () => {
          await expectRefused([[{ name: 'lnk', type: 'symlink', linkname: target() }], [{ name: 'lnk/.wh.keep' }]], /whiteout of "lnk\/keep" goes through "lnk"/);
        });

        it(`${kind} symlink in a lower layer, opaque whiteout under it: refused`, async () => {
          await expectRefused([[{ name: 'lnk', type: 'symlink', linkname: target() }], [{ name: 'lnk/.wh..wh..opq' }, { name: 'lnk/new', data: 'n' }]], /opaque directory "lnk" goes through "lnk"/);
        });

        it(`${kind} symlink in a lower layer, whiteout of a directory deeper under it: refused`, async () => {
          await expectRefused([[{ name: 'a/', type: 'dir' }, { name: 'a/lnk', type: 'symlink', linkname: target() }], [{ name: 'a/lnk/sub/.wh.x' }]], /goes through "a\/lnk"/);
        });

        it(`${kind} symlink in a lower layer, hard link through it: refused`, async () => {
          await expectRefused([[{ name: 'lnk', type: 'symlink', linkname: target() }], [{ name: 'h', type: 'hardlink', linkname: 'lnk/keep' }]], /hardlink to "lnk\/keep"/);
        });

        it(`${kind} symlink and a hard link through it in the same layer: refused`, async () => {
          await expectRefused([[{ name: 'lnk', type: 'symlink', linkname: target() }, { name: 'h', type: 'hardlink', linkname: 'lnk/keep' }]], /hardlink to "lnk\/keep"/);
        });
      }

      it('a symlink to / in a lower layer reaches any path: refused', async () => {
        const inside = join(bystander, 'd').slice(1);
        await expectRefused([[{ name: 'root', type: 'symlink', linkname: '/' }], [{ name: `root/${inside}/.wh.keep` }]], /goes through "root"/);
        await expectRefused([[{ name: 'root', type: 'symlink', linkname: '/' }], [{ name: `root/${inside}/.wh..wh..opq` }]], /goes through "root"/);
      });

      for (const name of ['.wh...', 'a/.wh...', '.wh..', 'a/.wh..', '.wh.']) {
        it(`a whiteout of "${name.slice(name.lastIndexOf('.wh.') + 4)}" ("${name}"): refused, other images intact`, async () => {
          await expectRefused([[{ name: 'a/', type: 'dir' }, { name: 'a/f', data: 'f' }], [{ name }]], /a whiteout of "\.{0,2}"/);
        });
      }

      it('an entry refused after hundreds of files were written, beside a layer staged whole: nothing staged stays', async () => {
        const many: Entry[] = [{ name: 'opt/', type: 'dir' }];
        for (let i = 0; i < 300; i++) many.push({ name: `opt/f${i}`, data: String(i).repeat(3000) });
        many.push({ name: 'opt/f', data: 'file' }, { name: 'opt/f/x', data: 'through a file' });
        await expectRefused([[{ name: 'etc/', type: 'dir' }, { name: 'etc/hosts', data: 'other' }], many], /"opt\/f" is not a directory/);
      });

      it('a file replaced by a symlink in the same layer: reading the layer back never follows it', async () => {
        const size = 4 << 20;
        writeFileSync(join(bystander, 'secret'), 'SECRET-OF-THE-HOST'.padEnd(size, '!'));
        const r = await copyLayers([[{ name: 'f', data: 'x'.repeat(size) }, { name: 'f', type: 'symlink', linkname: join(bystander, 'secret') }]]);
        expect(r.code, r.stderr).to.equal(0);
        const s = new Store({ graphRoot: t.G, runRoot: t.R, driver });
        const layer = (await s.layers()).find((l) => l['compressed-diff-digest'] === r.top)!;
        const chunks: Buffer[] = [];
        let failure: Error | undefined;
        try {
          for await (const c of s.layerDiff(layer.id)) chunks.push(c as Buffer);
        } catch (e) {
          failure = e as Error;
        }
        expect(Buffer.concat(chunks).toString('latin1')).to.not.include('SECRET-OF-THE-HOST');
        expect(failure?.message).to.match(/cannot read f/);
      });

      it('regular entries under a lower symlink replace it by a directory; an opaque directory entry replacing a symlink is accepted', async () => {
        const outsideBefore = treeSnapshot(bystander);
        const link = { name: 'lnk', type: 'symlink' as const, linkname: join(bystander, 'd') };
        const a = await copyLayers([[link], [{ name: 'lnk/keep', data: 'mine' }]]);
        expect(a.code, a.stderr).to.equal(0);
        // `rm lnk; mkdir lnk` in a container: the directory comes with an opaque whiteout.
        const b = await copyLayers([[link], [{ name: 'lnk/', type: 'dir' }, { name: 'lnk/.wh..wh..opq' }, { name: 'lnk/new', data: 'n' }]]);
        expect(b.code, b.stderr).to.equal(0);
        expect(treeSnapshot(bystander)).to.deep.equal(outsideBefore);
        if (driver === 'vfs') {
          const layers = JSON.parse(readFileSync(join(t.G, 'vfs-layers', 'layers.json'), 'utf8')) as Array<{ id: string; parent?: string; 'diff-digest': string }>;
          const tops = layers.filter((l) => l.parent !== undefined && !layers.some((x) => x.parent === l.id));
          const contents = tops.map((l) => readdirSync(join(t.G, 'vfs', 'dir', l.id, 'lnk')).sort());
          expect(contents).to.have.deep.members([['keep'], ['new']]);
        }
      });
    });
  }
});
