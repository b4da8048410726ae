/**
 * The blob directory of an `oci:` layout is fsynced once per copy, not once per blob, and still before `index.json`
 * names its files: the real `bin/ferry copy` runs under strace (`-y` names each descriptor's path) with one libuv
 * worker thread, so the file-system calls of the run are logged in the order they happen.
 */
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FERRY_BIN } from '../../harness/cli.js';
import { buildImage, pushImage } from '../../harness/images.js';
import { run } from '../../harness/procs.js';
import { useRegistry } from '../../harness/registry.js';
import { useCleanup } from '../../harness/tmp.js';

describe('oci: destination directory fsyncs (strace, real bin/ferry)', function () {
  this.timeout(120_000);
  const registry = useRegistry('http');
  const cleanup = useCleanup();

  /** Copies the image into `layout` under `tag` with strace; the log's lines. */
  async function tracedCopy(home: string, layout: string, tag: string): Promise<string[]> {
    const log = join(home, `strace-${tag}.log`);
    const args = ['copy', '--quiet', '--src-tls-verify=false', `docker://${registry().host}/dirsync/img:v1`, `oci:${layout}:${tag}`];
    const r = await run('strace', ['-f', '-qq', '-y', '-o', log, '-e', 'trace=fsync,fdatasync,rename,link', process.execPath, FERRY_BIN, ...args], {
      env: { HOME: home, XDG_CACHE_HOME: join(home, 'cache'), UV_THREADPOOL_SIZE: '1' },
      timeoutMs: 60_000,
    });
    expect(r.code, r.stderr).to.equal(0);
    return (await readFile(log, 'utf8')).split('\n');
  }

  it('fsyncs blobs/sha256 once, after every blob entered it and before index.json is renamed into place; also when every blob was there', async () => {
    const home = await cleanup.tempDir('oci-dir-sync');
    const img = await buildImage(join(home, 'src'), { seed: 97, layers: 8, layerSize: 4096 });
    await pushImage(img, registry(), 'dirsync/img:v1');
    const layout = join(home, 'layout');
    const blobs = join(layout, 'blobs', 'sha256');
    for (const [tag, entering] of [['v1', 10], ['v2', 0]] as const) {
      const lines = await tracedCopy(home, layout, tag);
      const at = (pred: (l: string) => boolean) => lines.flatMap((l, i) => (pred(l) ? [i] : []));
      const intoBlobs = at((l) => /^\d+\s+(rename|link)\(/.test(l) && l.includes(`, "${blobs}/`));
      const dirSyncs = at((l) => /^\d+\s+f(data)?sync\(\d+<([^>]*)>/.exec(l)?.[2] === blobs);
      const indexRename = at((l) => /^\d+\s+rename\(/.test(l) && l.includes(`, "${join(layout, 'index.json')}"`));
      // v1: config, 8 layers and the manifest enter the layout; v2 reuses them all (their entries, written by another
      // process, are fsynced as well before index.json names them).
      expect(intoBlobs.length, `${tag}: blob files renamed or linked into blobs/sha256`).to.equal(entering);
      expect(dirSyncs, `${tag}: fsyncs of blobs/sha256`).to.have.length(1);
      expect(indexRename).to.have.length(1);
      expect(dirSyncs[0]!, `${tag}: blobs/sha256 fsynced after the last blob entered it`).to.be.greaterThan(Math.max(-1, ...intoBlobs));
      expect(dirSyncs[0]!, `${tag}: blobs/sha256 fsynced before index.json names its files`).to.be.lessThan(indexRename[0]!);
    }
  });
});
