/**
 * A copy into containers-storage killed (SIGKILL) in the middle of committing a layer leaves no layer or image that
 * ferry, podman or skopeo take as complete. The real `bin/ferry copy` runs under strace, which kills it on entry to
 * its chmod of the bottom layer's directory: that layer's content has just been moved into place, the layer above
 * is not there yet. containers/storage's answer, which ferry follows: the new layers' records are in layers.json
 * marked `"flags":{"incomplete":true}` before any content is put in place; whoever next takes the layers lock for
 * writing (ferry or podman) removes them; readers never use them; the image record comes after its layers are
 * complete.
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FERRY_BIN, ferry, withTestPolicy } from '../../harness/cli.js';
import { run } from '../../harness/procs.js';
import { hasCommand, isRoot, removeStore, tempStore } from '../../store/helpers.js';
import { buildTar } from '../../store/tar-build.js';
import { writeLayout } from './layout.js';

type LayerRec = { id: string; parent?: string; flags?: Record<string, unknown> };
type ImageRec = { id: string; names?: string[]; layer?: string };

const tarOf = (dir: string, name: string, data: string) => buildTar([{ name: `${dir}/`, type: 'dir' }, { name: `${dir}/${name}`, data: data.repeat(3000) }]);
const NAME = 'example.com/crash/app:1';

describe('containers-storage: a commit killed in the middle of a layer (strace SIGKILL, real bin/ferry)', function () {
  this.timeout(180_000);

  for (const driver of ['vfs', 'overlay'] as const) {
    describe(driver, () => {
      let t: ReturnType<typeof tempStore>;
      let store: string;
      let src: string;
      let diffIds: string[];
      let configDigest: string;

      const podman = (...args: string[]) =>
        run('podman', ['--root', t.G, '--runroot', t.R, '--storage-driver', driver, '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', ...args], { timeoutMs: 60_000 });
      const layersJson = () => readFileSync(join(t.G, `${driver}-layers`, 'layers.json'), 'utf8');
      const layerRecords = () => JSON.parse(layersJson()) as LayerRec[];
      const imageRecords = (): ImageRec[] => {
        const p = join(t.G, `${driver}-images`, 'images.json');
        return existsSync(p) ? ((JSON.parse(readFileSync(p, 'utf8') || '[]') as ImageRec[] | null) ?? []) : [];
      };
      /** Where a layer's content is. */
      const contentDir = (id: string) => (driver === 'vfs' ? join(t.G, 'vfs', 'dir', id) : join(t.G, 'overlay', id));
      const tarSplit = (id: string) => join(t.G, `${driver}-layers`, `${id}.tar-split.gz`);

      before(function () {
        if (!isRoot || !hasCommand('strace') || !hasCommand('podman') || !hasCommand('skopeo')) this.skip();
      });

      beforeEach(() => {
        t = tempStore(`ferry-crash-${driver}-`);
        store = `[${driver}@${t.G}+${t.R}]`;
        src = join(t.dir, 'src');
        ({ diffIds, configDigest } = writeLayout(src, 'v', [tarOf('base', 'b', 'base'), tarOf('app', 'a', 'app')]));
      });
      afterEach(() => t && removeStore(t.dir));

      /** The bottom layer's ID (a lone layer's chain ID is its diff ID). */
      const bottom = () => diffIds[0]!.slice('sha256:'.length);

      /** The top layer's ID (its chain ID). */
      const top = () => createHash('sha256').update(`${bottom()}+${diffIds[1]!.slice('sha256:'.length)}`).digest('hex');

      /**
       * Copies the image under strace, SIGKILLed on entry to its first call of one of `calls` on `path` (by default,
       * its chmod of the bottom layer's directory, just moved into place).
       */
      async function killedCopy(path = contentDir(bottom()), calls = 'chmod,fchmodat'): Promise<void> {
        const log = join(t.dir, 'strace.log');
        const args = withTestPolicy(['copy', '--quiet', `oci:${src}:v`, `containers-storage:${store}${NAME}`]);
        const r = await run(
          'strace',
          ['-f', '-qq', '-o', log, '-P', path, '-e', `trace=${calls}`, '-e', `inject=${calls}:signal=SIGKILL`, process.execPath, FERRY_BIN, ...args],
          { timeoutMs: 60_000 },
        );
        expect(readFileSync(log, 'utf8'), `ferry was not killed: ${r.stderr}`).to.match(/killed by SIGKILL/);
        expect(r.code).to.not.equal(0);
      }

      /** The state a kill leaves: both layers recorded and marked incomplete, the bottom one's content in place, no image. */
      function expectKilledState(): void {
        expect(layersJson()).to.contain('"flags":{"incomplete":true}');
        const layers = layerRecords();
        expect(layers.map((l) => l.id)).to.have.lengthOf(2).and.include(bottom());
        for (const l of layers) expect(l.flags, l.id).to.deep.equal({ incomplete: true });
        expect(existsSync(contentDir(bottom())), 'the bottom layer content').to.equal(true);
        expect(imageRecords()).to.deep.equal([]);
      }

      it('leaves the layers marked incomplete; ferry\'s readers skip them, its next write removes them; the copy again completes', async () => {
        await killedCopy();
        expectKilledState();

        // a reader neither lists nor uses them, nor removes them
        const inspect = await ferry(['inspect', `containers-storage:${store}${NAME}`]);
        expect(inspect.code, inspect.stderr).to.equal(2);
        const list = await ferry(['store', 'layers', '--root', t.G, '--runroot', t.R, '--storage-driver', driver]);
        expect(list.code, list.stderr).to.equal(0);
        expect(list.stdout).to.not.contain(bottom().slice(0, 12));
        expectKilledState();

        // ferry's next write (of another image) removes them: records, content and tar-split
        const other = join(t.dir, 'other');
        writeLayout(other, 'v', [tarOf('other', 'o', 'other')]);
        const c = await ferry(['copy', '--quiet', `oci:${other}:v`, `containers-storage:${store}example.com/other:1`]);
        expect(c.code, c.stderr).to.equal(0);
        expect(layersJson()).to.not.contain('incomplete');
        expect(layerRecords().map((l) => l.id)).to.not.include(bottom());
        expect(existsSync(contentDir(bottom())), 'the bottom layer content').to.equal(false);
        expect(existsSync(tarSplit(bottom())), 'the bottom layer tar-split').to.equal(false);
        const images = await podman('images', '--format', '{{.Repository}}:{{.Tag}}');
        expect(images.code, images.stderr).to.equal(0);
        expect(images.stdout.trim().split('\n')).to.deep.equal(['example.com/other:1']);

        // the same copy again completes: no flag left, podman and skopeo read the image
        const again = await ferry(['copy', '--quiet', `oci:${src}:v`, `containers-storage:${store}${NAME}`]);
        expect(again.code, again.stderr).to.equal(0);
        expect(layersJson()).to.not.contain('"flags"');
        const after = await podman('images', '--format', '{{.Repository}}:{{.Tag}}');
        expect(after.code, after.stderr).to.equal(0);
        expect(after.stdout.split('\n')).to.include(NAME);
        const s = await run('skopeo', ['inspect', `containers-storage:${store}${NAME}`], { timeoutMs: 60_000 });
        expect(s.code, s.stderr).to.equal(0);
        expect((JSON.parse(s.stdout) as { Layers: string[] }).Layers).to.have.lengthOf(2);
      });

      it('podman and skopeo see no image in the store ferry left, do not fail, and podman removes the incomplete layers', async () => {
        await killedCopy();
        expectKilledState();
        const images = await podman('images', '--format', 'json');
        expect(images.code, images.stderr).to.equal(0);
        expect(JSON.parse(images.stdout || '[]')).to.deep.equal([]);
        // containers/storage removes them when it takes the layers lock for writing, which podman does on start
        expect(images.stderr).to.contain(`Found incomplete layer \\"${bottom()}\\", deleting it`);
        expect(layersJson()).to.not.contain('incomplete');
        expect(layerRecords()).to.deep.equal([]);
        expect(existsSync(contentDir(bottom())), 'the bottom layer content').to.equal(false);
        const inspect = await run('skopeo', ['inspect', `containers-storage:${store}${NAME}`], { timeoutMs: 60_000 });
        expect(inspect.code).to.not.equal(0);
        expect(inspect.stderr).to.match(/does not resolve to an image ID|not known|not found/i);
      });

      it('killed while undoing a failed commit: the layers it made are marked incomplete first, no image names them, the next write removes them', async () => {
        // In the way of the image's directory: writing its big data fails once its layers are complete.
        mkdirSync(join(t.G, `${driver}-images`), { recursive: true });
        const blocker = join(t.G, `${driver}-images`, configDigest.slice('sha256:'.length));
        writeFileSync(blocker, 'not a directory');
        // the undo removes the top layer's content first
        await killedCopy(contentDir(top()), 'rmdir,unlink,unlinkat');
        expectKilledState();
        expect(existsSync(contentDir(top())), 'the top layer content').to.equal(true);
        rmSync(blocker);
        const again = await ferry(['copy', '--quiet', `oci:${src}:v`, `containers-storage:${store}${NAME}`]);
        expect(again.code, again.stderr).to.equal(0);
        expect(layersJson()).to.not.contain('"flags"');
        expect(layerRecords().map((l) => l.id).sort()).to.deep.equal([bottom(), top()].sort());
        const images = await podman('images', '--format', '{{.Repository}}:{{.Tag}}');
        expect(images.code, images.stderr).to.equal(0);
        expect(images.stdout.trim().split('\n')).to.deep.equal([NAME]);
      });
    });
  }
});
