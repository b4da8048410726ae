/**
 * The files `ferry sync` writes besides its destination (`--report`, `--digestfile`), with the real bin/ferry: a
 * stream (a FIFO, as `/dev/stdout` is) gets the lines; a symlink (to a bystander file) is never written through.
 */
import { expect } from 'chai';
import { lstat, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ferryProcess } from '../../harness/cli.js';
import { buildImage, type BuiltImage } from '../../harness/images.js';
import { runOk } from '../../harness/procs.js';
import { useCleanup } from '../../harness/tmp.js';

describe('cli: files ferry sync writes (--report, --digestfile)', function () {
  this.timeout(60_000);
  const cleanup = useCleanup();
  let img: BuiltImage;

  before(async () => {
    img = await buildImage(join(await cleanup.tempDir('sync-files-img'), 'img'), { seed: 977, tag: 'v1', layers: 1, layerSize: 500 });
  });

  it('--report and --digestfile into FIFOs: the lines arrive, the FIFOs stay FIFOs', async () => {
    const dir = await cleanup.tempDir('sync-files');
    const report = join(dir, 'report.fifo');
    const digests = join(dir, 'digests.fifo');
    await runOk('mkfifo', [report, digests]);
    const reading = Promise.all([readFile(report, 'utf8'), readFile(digests, 'utf8')]);
    const r = await ferryProcess(['sync', '-q', '--src', 'oci', '--dest', 'dir', '--report', report, '--digestfile', digests, img.layoutDir, join(dir, 'out')]);
    expect(r.code, r.stderr).to.equal(0);
    const [reportText, digestText] = await reading;
    const lines = reportText.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).to.have.length(1);
    expect(lines[0]).to.deep.include({ action: 'copied', digest: img.digest });
    expect(digestText).to.match(new RegExp(`^${img.digest} dir:`));
    for (const f of [report, digests]) expect((await lstat(f)).isFIFO()).to.equal(true);
  });

  it('--digestfile and --report never write through a symlink (to a bystander file): one line, exit 1, the bystander kept', async () => {
    const dir = await cleanup.tempDir('sync-files');
    const bystander = join(dir, 'bystander');
    await writeFile(bystander, 'keep\n');
    const link = join(dir, 'digests');
    await symlink(bystander, link);
    const r = await ferryProcess(['sync', '-q', '--src', 'oci', '--dest', 'dir', '--digestfile', link, img.layoutDir, join(dir, 'out')]);
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stderr.trim()).to.equal(`Error: digest file ${link} exists and is not a regular file`);
    expect(await readFile(bystander, 'utf8')).to.equal('keep\n');
    expect((await lstat(link)).isSymbolicLink()).to.equal(true);

    const rep = await ferryProcess(['sync', '-q', '--src', 'oci', '--dest', 'dir', '--report', link, img.layoutDir, join(dir, 'out2')]);
    expect(rep.code, rep.stderr).to.equal(1);
    expect(rep.stderr.trim()).to.equal(`Error: report file ${link} exists and is not a regular file`);
    expect(await readFile(bystander, 'utf8')).to.equal('keep\n');
    expect((await readdir(dir)).sort()).to.deep.equal(['bystander', 'digests', 'out']);
  });
});
