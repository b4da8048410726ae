/**
 * The files beside an archive that ferry reads (a split archive's checksum list, the index beside an archive that
 * `--since` names) turned into FIFOs no writer will ever open: the real `bin/ferry` must fail at once naming the
 * file, never wait in an open().
 */
import { expect } from 'chai';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ferryProcess } from '../../harness/cli.js';
import { buildImage } from '../../harness/images.js';
import { runOk } from '../../harness/procs.js';
import { useCleanup } from '../../harness/tmp.js';

async function fifoAt(path: string): Promise<void> {
  await rm(path);
  await runOk('mkfifo', [path]);
}

describe('transports/oci-archive: FIFOs beside an archive (real bin/ferry)', function () {
  this.timeout(120_000);
  const cleanup = useCleanup();

  it("a split archive's checksum list as a FIFO: inspect fails at once", async () => {
    const dir = await cleanup.tempDir('sidecar-fifo-split');
    const img = await buildImage(join(dir, 'img'), { seed: 81, layers: 2, layerSize: 700 * 1024 });
    const base = join(dir, 's.tar');
    const c = await ferryProcess(['copy', '-q', '--split-size', '1M', `oci:${img.layoutDir}:${img.tag}`, `oci-archive:${base}:a:1`]);
    expect(c.code, c.stderr).to.equal(0);
    expect(await readdir(dir)).to.include.members(['s.tar.001', 's.tar.sha256']);
    await fifoAt(`${base}.sha256`);
    const r = await ferryProcess(['inspect', '--raw', `oci-archive:${base}.001:a:1`], { timeoutMs: 20_000 });
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stderr).to.contain(`${base}.sha256 is a FIFO, not a regular file`);
  });

  it('the index beside an archive --since names, as a FIFO: copy fails at once and writes nothing', async () => {
    const dir = await cleanup.tempDir('sidecar-fifo-since');
    const a = await buildImage(join(dir, 'a'), { seed: 82, layers: 1, layerSize: 1024 });
    const full = join(dir, 'full.tar');
    let r = await ferryProcess(['sync', '--src', 'oci', '--dest', 'oci-archive', '-q', a.layoutDir, full]);
    expect(r.code, r.stderr).to.equal(0);
    await fifoAt(`${full}.index.json`);
    const inc = join(dir, 'inc.tar');
    r = await ferryProcess(['copy', '-q', '--since', full, `oci:${a.layoutDir}:latest`, `oci-archive:${inc}:a:1`], { timeoutMs: 20_000 });
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stderr).to.contain(`${full}.index.json is a FIFO, not a regular file`);
    expect(await readdir(dir)).to.not.include('inc.tar');
  });
});
