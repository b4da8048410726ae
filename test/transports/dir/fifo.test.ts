/**
 * A `dir:` image whose files are FIFOs (no writer will ever come): reading it must fail at once naming the file,
 * never wait in an open() no signal can interrupt. The real `bin/ferry` runs against a bystander directory.
 */
import { expect } from 'chai';
import path from 'node:path';
import { mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { buildImage } from '../../harness/images.js';
import { useCleanup } from '../../harness/tmp.js';
import { ferryProcess } from '../../harness/cli.js';
import { run } from '../../harness/procs.js';

describe('transports/dir: FIFOs in an image directory (real bin/ferry)', function () {
  this.timeout(120_000);
  const cleanup = useCleanup('after');

  /** A dir: copy of a generated image, the files `pick` chooses turned into FIFOs. */
  async function dirImage(pick: (names: string[]) => string[]): Promise<{ dir: string; fifos: string[] }> {
    const root = await cleanup.tempDir('dir-fifo');
    const img = await buildImage(path.join(root, 'oci'), { seed: 53, layers: 1, layerSize: 1500 });
    const dir = path.join(root, 'd');
    const c = await ferryProcess(['copy', `oci:${img.layoutDir}:${img.tag}`, `dir:${dir}`]);
    expect(c.code, c.stderr).to.equal(0);
    const fifos = pick(await readdir(dir));
    for (const f of fifos) {
      await rm(path.join(dir, f));
      expect((await run('mkfifo', [path.join(dir, f)])).code).to.equal(0);
    }
    return { dir, fifos };
  }

  it('manifest.json as a FIFO: inspect fails at once', async () => {
    const { dir } = await dirImage(() => ['manifest.json']);
    const r = await ferryProcess(['inspect', '--raw', `dir:${dir}`], { timeoutMs: 20_000 });
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stderr).to.contain(`(${path.join(dir, 'manifest.json')}) is a FIFO, not a regular file`);
  });

  it('the version file and every blob as FIFOs: copy fails at once', async () => {
    const { dir } = await dirImage((names) => names.filter((n) => n !== 'manifest.json'));
    const out = path.join(await cleanup.tempDir('dir-fifo-out'), 'o');
    const r = await ferryProcess(['copy', `dir:${dir}`, `oci:${out}:x`], { timeoutMs: 20_000 });
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stderr).to.contain(path.join(dir, 'version'));
  });

  it('a blob as a FIFO: copy fails at once', async () => {
    const { dir } = await dirImage((names) => names.filter((n) => /^[0-9a-f]{64}$/.test(n)).slice(0, 1));
    const out = path.join(await cleanup.tempDir('dir-fifo-out'), 'o');
    const r = await ferryProcess(['copy', `dir:${dir}`, `dir:${out}`], { timeoutMs: 20_000 });
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stderr).to.contain('is a FIFO, not a regular file');
  });
  it('a destination whose version file is a FIFO (or a link): copy fails at once, before anything is written, the directory as it was', async () => {
    for (const kind of ['fifo', 'link']) {
      const root = await cleanup.tempDir('dir-fifo-dest');
      const img = await buildImage(path.join(root, 'oci'), { seed: 54, layers: 1, layerSize: 1500 });
      const out = path.join(root, 'out');
      await mkdir(out);
      await writeFile(path.join(out, 'keep'), 'bystander\n');
      const version = path.join(out, 'version');
      if (kind === 'fifo') expect((await run('mkfifo', [version])).code).to.equal(0);
      else {
        await writeFile(path.join(root, 'elsewhere'), 'Directory Transport Version: 1.1\n');
        await symlink(path.join(root, 'elsewhere'), version);
      }
      const r = await ferryProcess(['copy', '--quiet', `oci:${img.layoutDir}:${img.tag}`, `dir:${out}`], { timeoutMs: 20_000 });
      expect(r.code, r.stderr).to.equal(1);
      expect(r.stderr).to.equal(`Error: version file ${version} is ${kind === 'fifo' ? 'a FIFO' : 'a symbolic link'}, not a regular file\n`);
      expect((await readdir(out)).sort()).to.deep.equal(['keep', 'version']);
      expect(await readFile(path.join(out, 'keep'), 'utf8')).to.equal('bystander\n');
    }
  });
});
