/**
 * A store someone else has tampered with (another user, a compromised container, a hand edit), read and cleaned by
 * the real `bin/ferry`: big data that is a symlink to a file outside the store or a FIFO, a layer's content with a
 * directory replaced by a symlink out of the store or a file replaced by a FIFO, layer parents that loop, and record
 * IDs like `../../x` given to `store rmi` and `store prune`. Each fails with one line, at once, reading and removing
 * nothing outside the store. Bystander files live in the test's temp directory only.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { ferryProcess } from '../../harness/cli.js';
import { isRoot, removeStore, tempStore, treeSnapshot } from '../../store/helpers.js';
import { buildTar } from '../../store/tar-build.js';
import { writeLayout } from './layout.js';

const SECRET = 'root:$6$bystander-secret-hash:19000:0:99999:7:::\n';
const A = 'a'.repeat(10_000);

describe('containers-storage: a tampered store', function () {
  this.timeout(120_000);

  for (const driver of ['vfs', 'overlay'] as const) {
    describe(driver, () => {
      let t: ReturnType<typeof tempStore>;
      let store: string;
      let flags: string[];
      let imageId: string;
      let base: string;
      let top: string;
      const ref = () => `containers-storage:${store}example.com/t:1`;
      const imagesJson = () => join(t.G, `${driver}-images`, 'images.json');
      const layersJson = () => join(t.G, `${driver}-layers`, 'layers.json');
      const content = (id: string) => (driver === 'vfs' ? join(t.G, 'vfs', 'dir', id) : join(t.G, 'overlay', id, 'diff'));
      const run = (args: string[]) => ferryProcess(args, { timeoutMs: 60_000 });

      function expectOneLine(r: { code: number; stderr: string; stdout: string }, code: number, why: RegExp) {
        expect(r.code, r.stderr).to.equal(code);
        const lines = r.stderr.trim().split('\n');
        expect(lines, r.stderr).to.have.length(1);
        expect(lines[0]).to.match(why);
        expect(r.stdout).to.not.include('bystander-secret');
      }

      beforeEach(async function () {
        if (!isRoot) this.skip();
        t = tempStore(`ferry-tampered-${driver}-`);
        store = `[${driver}@${t.G}+${t.R}]`;
        flags = ['--root', t.G, '--runroot', t.R, '--storage-driver', driver];
        const layout = join(t.dir, 'layout');
        writeLayout(layout, 'v', [
          buildTar([{ name: 'etc/', type: 'dir' }, { name: 'etc/a', data: A }]),
          buildTar([{ name: 'etc/', type: 'dir' }, { name: 'etc/b', data: 'b' }]),
        ]);
        const c = await run(['copy', '--quiet', `oci:${layout}:v`, ref()]);
        expect(c.code, c.stderr).to.equal(0);
        const images = JSON.parse(readFileSync(imagesJson(), 'utf8')) as Array<{ id: string; layer: string }>;
        imageId = images[0]!.id;
        top = images[0]!.layer;
        const layers = JSON.parse(readFileSync(layersJson(), 'utf8')) as Array<{ id: string; parent?: string }>;
        base = layers.find((l) => l.parent === undefined)!.id;
      });
      afterEach(() => t && removeStore(t.dir));

      it('a big-data file that is a symlink to a file outside the store is not read', async () => {
        // The bystander is a manifest carrying a secret: only following the link would print it.
        const secret = join(t.dir, 'bystander', 'shadow');
        mkdirSync(join(t.dir, 'bystander'));
        const manifest = join(t.G, `${driver}-images`, imageId, 'manifest');
        const m = JSON.parse(readFileSync(manifest, 'utf8')) as Record<string, unknown>;
        writeFileSync(secret, JSON.stringify({ ...m, annotations: { shadow: SECRET } }));
        rmSync(manifest);
        symlinkSync(secret, manifest);
        expectOneLine(await run(['inspect', '--raw', ref()]), 1, /manifest of image .*symbolic link/);
      });

      it('a big-data file replaced by a FIFO fails at once', async () => {
        const manifest = join(t.G, `${driver}-images`, imageId, 'manifest');
        rmSync(manifest);
        execFileSync('mkfifo', [manifest]);
        expectOneLine(await run(['inspect', '--raw', ref()]), 1, /manifest of image .*not a regular file/);
      });

      it("a directory of a layer's content replaced by a symlink out of the store is not followed", async () => {
        // The bystander holds what the layer had, so that only following the link would make the copy succeed.
        const outside = join(t.dir, 'bystander-etc');
        mkdirSync(outside);
        writeFileSync(join(outside, 'a'), A);
        renameSync(join(content(base), 'etc'), join(t.dir, 'moved-etc'));
        symlinkSync(outside, join(content(base), 'etc'));
        const r = await run(['copy', '--quiet', '--retry-times', '0', ref(), `dir:${join(t.dir, 'out')}`]);
        expectOneLine(r, 1, new RegExp(`layer ${base}: cannot read etc/a: .*is not a directory`));
      });

      it("a file of a layer's content replaced by a FIFO fails at once", async () => {
        rmSync(join(content(base), 'etc', 'a'));
        execFileSync('mkfifo', [join(content(base), 'etc', 'a')]);
        const r = await run(['copy', '--quiet', '--retry-times', '0', ref(), `dir:${join(t.dir, 'out')}`]);
        expectOneLine(r, 1, new RegExp(`layer ${base}: cannot read etc/a: not a regular file`));
      });

      it('tar-split data that lies about a file (no checksum, other content of the same size) fails the digest check', async () => {
        const split = join(t.G, `${driver}-layers`, `${base}.tar-split.gz`);
        const lines = gunzipSync(readFileSync(split)).toString('utf8').split('\n').filter(Boolean)
          .map((l) => JSON.parse(l) as { type: number; name?: string; payload?: string | null })
          .map((o) => (o.type === 1 ? { ...o, payload: null } : o));
        writeFileSync(split, gzipSync(lines.map((o) => JSON.stringify(o)).join('\n') + '\n'));
        writeFileSync(join(content(base), 'etc', 'a'), 'x'.repeat(A.length));
        const r = await run(['copy', '--quiet', '--retry-times', '0', ref(), `dir:${join(t.dir, 'out')}`]);
        expectOneLine(r, 1, /digest mismatch/i);
        expect(existsSync(join(t.dir, 'out', 'manifest.json'))).to.equal(false);
      });

      it('tar-split data replaced by a FIFO fails at once', async () => {
        const split = join(t.G, `${driver}-layers`, `${base}.tar-split.gz`);
        rmSync(split);
        execFileSync('mkfifo', [split]);
        const r = await run(['copy', '--quiet', '--retry-times', '0', ref(), `dir:${join(t.dir, 'out')}`]);
        expectOneLine(r, 1, new RegExp(`layer ${base}: its tar-split data .* is not a regular file`));
      });

      it('tar-split data naming a file outside the layer is refused', async () => {
        const split = join(t.G, `${driver}-layers`, `${base}.tar-split.gz`);
        const text = gunzipSync(readFileSync(split)).toString('utf8').replace('"name":"etc/a"', '"name":"../../../../bystander/a"');
        writeFileSync(split, gzipSync(text));
        const r = await run(['copy', '--quiet', '--retry-times', '0', ref(), `dir:${join(t.dir, 'out')}`]);
        expectOneLine(r, 1, /\.\./);
      });

      it('images.json replaced by a FIFO or a symlink fails at once', async () => {
        const elsewhere = join(t.dir, 'bystander-images.json');
        renameSync(imagesJson(), elsewhere);
        execFileSync('mkfifo', [imagesJson()]);
        expectOneLine(await run(['inspect', ref()]), 1, /images\.json is a FIFO, not a regular file/);
        rmSync(imagesJson());
        symlinkSync(elsewhere, imagesJson());
        expectOneLine(await run(['store', 'images', ...flags]), 1, /images\.json is a symbolic link, not a regular file/);
      });

      it('a lock file that is a symlink to a file outside the store is not written', async () => {
        const bystander = join(t.dir, 'bystander-file');
        writeFileSync(bystander, SECRET);
        const lock = join(t.G, `${driver}-layers`, 'layers.lock');
        rmSync(lock);
        symlinkSync(bystander, lock);
        const r = await run(['store', 'prune', ...flags]);
        expectOneLine(r, 1, /opening lock file .*layers\.lock: .*symbolic link/);
        expect(readFileSync(bystander, 'utf8')).to.equal(SECRET);
      });

      it("an image directory replaced by a symlink out of the store is not written through", async () => {
        // the next image's directory (named by its config digest) is there already, as a link to a bystander directory
        const next = join(t.dir, 'next');
        const built = writeLayout(next, 'v', [buildTar([{ name: 'opt/', type: 'dir' }, { name: 'opt/n', data: 'n' }])]);
        const outside = join(t.dir, 'bystander-dir');
        mkdirSync(outside);
        symlinkSync(outside, join(t.G, `${driver}-images`, built.configDigest.slice(7)));
        const r = await run(['copy', '--quiet', `oci:${next}:v`, `containers-storage:${store}example.com/next:1`]);
        expectOneLine(r, 1, /is not a directory: refusing to write the image's data through it/);
        expect(readdirSync(outside)).to.deep.equal([]);
      });

      if (driver === 'vfs') it("a vfs parent layer replaced by a symlink out of the store is not merged into", async function () {
        const outside = join(t.dir, 'bystander-dir');
        renameSync(content(top), outside);
        symlinkSync(outside, content(top));
        const before = readdirSync(outside).sort();
        // a container is an empty layer on top of `top`: vfs makes it from a copy of `top`
        const layout = join(t.dir, 'child');
        writeLayout(layout, 'v', [
          buildTar([{ name: 'etc/', type: 'dir' }, { name: 'etc/a', data: A }]),
          buildTar([{ name: 'etc/', type: 'dir' }, { name: 'etc/b', data: 'b' }]),
          buildTar([{ name: 'etc/', type: 'dir' }, { name: 'etc/c', data: 'c' }]),
        ]);
        const r = await run(['copy', '--quiet', `oci:${layout}:v`, `containers-storage:${store}example.com/child:1`]);
        expectOneLine(r, 1, new RegExp(`vfs layer ${top}: .* is not a directory`));
        expect(readdirSync(outside).sort()).to.deep.equal(before);
        expect(readdirSync(join(outside, 'etc')).sort()).to.deep.equal(['a', 'b']);
      });

      it('layers.json that is not a list is refused, not rewritten', async () => {
        writeFileSync(layersJson(), '{"not":"a list"}');
        const r = await run(['store', 'prune', ...flags]);
        expectOneLine(r, 1, /layers\.json is not a JSON list/);
        expect(readFileSync(layersJson(), 'utf8')).to.equal('{"not":"a list"}');
      });

      it('layer parents that loop: inspect and store df end', async () => {
        const layers = JSON.parse(readFileSync(layersJson(), 'utf8')) as Array<{ id: string; parent?: string }>;
        layers.find((l) => l.id === base)!.parent = top;
        writeFileSync(layersJson(), JSON.stringify(layers));
        expectOneLine(await run(['inspect', ref()]), 1, /is its own ancestor/);
        const df = await run(['store', 'df', ...flags]);
        expect(df.code, df.stderr).to.equal(0);
      });

      it('store rmi of an image whose ID is ../../x removes nothing outside the store', async () => {
        const bystander = join(t.dir, 'bystander-img');
        mkdirSync(bystander);
        writeFileSync(join(bystander, 'keep'), 'keep');
        const images = JSON.parse(readFileSync(imagesJson(), 'utf8')) as Array<{ id: string }>;
        images[0]!.id = '../../bystander-img';
        writeFileSync(imagesJson(), JSON.stringify(images));
        const r = await run(['store', 'rmi', 'example.com/t:1', ...flags]);
        expectOneLine(r, 1, /images\.json: record 0 has an invalid id "\.\.\/\.\.\/bystander-img"/);
        expect(readdirSync(bystander)).to.deep.equal(['keep']);
      });

      if (driver === 'overlay') it("store rmi of an image whose layer's overlay link file names ../../x removes nothing outside the store", async function () {
        const bystander = join(t.dir, 'bystander-file');
        writeFileSync(bystander, 'keep');
        writeFileSync(join(t.G, 'overlay', top, 'link'), '../../../bystander-file');
        const r = await run(['store', 'rmi', 'example.com/t:1', ...flags]);
        expect(r.code, r.stderr).to.equal(0);
        expect(readFileSync(bystander, 'utf8')).to.equal('keep');
        expect(existsSync(join(t.G, 'overlay', top))).to.equal(false);
      });

      if (driver === 'overlay') it("a layer's overlay lower file naming a directory outside the store is refused", async function () {
        mkdirSync(join(t.dir, 'bystander-dir'));
        writeFileSync(join(t.G, 'overlay', top, 'lower'), '../../bystander-dir');
        // a container on the image is a layer on top of `top`, whose lower dirs it inherits
        // (taking the containers lock creates its lock file: lock files are left out)
        const snapshot = () => [...treeSnapshot(t.G), ...treeSnapshot(t.R)].filter((l) => !/\.lock /.test(l));
        const before = snapshot();
        const r = await run(['store', 'create', 'example.com/t:1', ...flags]);
        expectOneLine(r, 1, new RegExp(`overlay layer ${top}: its lower layer "\\.\\./\\.\\./bystander-dir" is not a link to a layer of this store`));
        expect(snapshot()).to.deep.equal(before);
      });

      it('store prune of a layer whose ID is ../../x removes nothing outside the store', async () => {
        const bystander = join(t.dir, 'bystander-layer');
        mkdirSync(join(bystander, 'diff'), { recursive: true });
        writeFileSync(join(bystander, 'keep'), 'keep');
        const layers = JSON.parse(readFileSync(layersJson(), 'utf8')) as Array<{ id: string; parent?: string }>;
        layers.push({ id: driver === 'vfs' ? '../../../bystander-layer' : '../../bystander-layer' });
        writeFileSync(layersJson(), JSON.stringify(layers));
        const r = await run(['store', 'prune', ...flags]);
        expectOneLine(r, 1, /layers\.json: record 2 has an invalid id/);
        expect(existsSync(join(bystander, 'keep'))).to.equal(true);
      });
    });
  }
});
