/**
 * A source failing in the middle of a copy into containers-storage (a corrupt config, a cut layer blob): the real
 * `bin/ferry` exits 1 with one line naming the blob (it used to hang on the config and exit 13 with nothing said),
 * and the store is left exactly as it was, with nothing staged.
 */
import { expect } from 'chai';
import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ferry, ferryProcess } from '../../harness/cli.js';
import { isRoot, removeStore, tempStore, treeSnapshot } from '../../store/helpers.js';
import { buildTar } from '../../store/tar-build.js';
import { writeLayout } from './layout.js';

describe('containers-storage: a failing source leaves the store as it was', function () {
  this.timeout(120_000);

  for (const driver of ['vfs', 'overlay'] as const) {
    describe(driver, () => {
      let t: ReturnType<typeof tempStore>;
      let store: string;
      let dirImage: string;
      let manifest: { config: { digest: string; size: number }; layers: Array<{ digest: string; size: number }> };

      beforeEach(async function () {
        if (!isRoot) this.skip();
        t = tempStore(`ferry-srcfail-${driver}-`);
        store = `[${driver}@${t.G}+${t.R}]`;
        const layout = join(t.dir, 'layout');
        writeLayout(layout, 'v', [
          buildTar([{ name: 'etc/', type: 'dir' }, { name: 'etc/a', data: 'a'.repeat(100_000) }]),
          buildTar([{ name: 'etc/', type: 'dir' }, { name: 'etc/b', data: 'b'.repeat(100_000) }]),
        ]);
        dirImage = join(t.dir, 'dir');
        const d = await ferry(['copy', '--quiet', `oci:${layout}:v`, `dir:${dirImage}`]);
        expect(d.code, d.stderr).to.equal(0);
        manifest = JSON.parse(readFileSync(join(dirImage, 'manifest.json'), 'utf8')) as typeof manifest;
        // Another image is in the store already.
        const good = join(t.dir, 'good');
        writeLayout(good, 'v', [buildTar([{ name: 'etc/', type: 'dir' }, { name: 'etc/hosts', data: 'h' }])]);
        const c = await ferry(['copy', '--quiet', `oci:${good}:v`, `containers-storage:${store}example.com/good:1`]);
        expect(c.code, c.stderr).to.equal(0);
      });
      afterEach(() => t && removeStore(t.dir));

      const blob = (digest: string) => join(dirImage, digest.slice('sha256:'.length));

      async function expectFailure(digest: string, why: RegExp) {
        const before = [...treeSnapshot(t.G), ...treeSnapshot(t.R)];
        const r = await ferryProcess(['copy', '--quiet', '--retry-times', '0', `dir:${dirImage}`, `containers-storage:${store}example.com/broken:1`], { timeoutMs: 60_000 });
        expect(r.code, r.stderr).to.equal(1);
        const lines = r.stderr.trim().split('\n');
        expect(lines, r.stderr).to.have.length(1);
        expect(lines[0]).to.include(digest).and.match(why);
        expect([...treeSnapshot(t.G), ...treeSnapshot(t.R)]).to.deep.equal(before);
      }

      it('a corrupt config (same size): exit 1, one line, the store as before', async () => {
        const cfg = manifest.config;
        writeFileSync(blob(cfg.digest), 'x'.repeat(cfg.size));
        await expectFailure(cfg.digest, /digest mismatch/);
      });

      it('a cut layer blob: exit 1, one line, the store as before', async () => {
        const layer = manifest.layers[1]!;
        truncateSync(blob(layer.digest), Math.floor(layer.size / 2));
        await expectFailure(layer.digest, /ended after|truncated|size/);
      });
    });
  }
});
