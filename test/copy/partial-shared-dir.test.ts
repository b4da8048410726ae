/**
 * The partial-download directory is shared by every copy of a process into one registry or layout (the images of a
 * sync copy at once) and by other processes: a copy that ends never removes it while another one of this process has
 * it open, and a copy whose directory another process removed creates it again.
 */
import { expect } from 'chai';
import { readdir, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PartialStore } from '../../src/copy/partial.js';
import { useCleanup } from '../harness/tmp.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const D3 = `sha256:${'3'.repeat(64)}`;

const isDir = (p: string) => stat(p).then((s) => s.isDirectory(), () => false);

describe('copy: the shared partial-download directory', () => {
  const cleanup = useCleanup();

  it('a copy ending (committed, then closed) leaves the directory to another copy of this process; the last one removes it', async () => {
    const dir = join(await cleanup.tempDir('partial-shared'), 'partial', '127.0.0.1_5000');
    const a = new PartialStore({ dir, keepUntilCommit: false });
    const b = new PartialStore({ dir, keepUntilCommit: false });
    // both copies have claimed and finished a blob: the directory is open in both, and empty
    await (await a.claim(D1))!.remove();
    await (await b.claim(D2))!.remove();
    expect(await readdir(dir)).to.deep.equal([]);
    await a.committed();
    await a.close();
    expect(await isDir(dir), 'still open in the other copy').to.equal(true);
    // the other copy goes on using it
    const p = await b.claim(D3);
    expect(p, 'claimed').to.not.equal(undefined);
    await p!.remove();
    await b.committed();
    await b.close();
    expect(await isDir(dir), 'removed by the last copy, empty').to.equal(false);
  });

  it('a copy whose directory another process removed (empty) creates it again, as often as that happens', async () => {
    const dir = join(await cleanup.tempDir('partial-gone'), 'partial', 'host');
    const a = new PartialStore({ dir, keepUntilCommit: false });
    for (const d of [D1, D2, D3]) {
      const p = await a.claim(d);
      expect(p, d).to.not.equal(undefined);
      await p!.remove();
      await rmdir(dir); // what another ferry process's close does to the empty directory
    }
    await a.close();
  });

  it('a store never opened removes nothing at the end, not even an empty directory another process uses', async () => {
    const dir = join(await cleanup.tempDir('partial-unused'), 'partial', 'host');
    const other = new PartialStore({ dir, keepUntilCommit: false });
    await (await other.claim(D1))!.remove();
    // a copy in which every blob was already at the destination: it claims nothing
    const idle = new PartialStore({ dir, keepUntilCommit: false });
    await idle.committed();
    await idle.close();
    expect(await isDir(dir)).to.equal(true);
    await other.close();
  });
});
