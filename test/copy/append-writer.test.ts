import { expect } from 'chai';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { APPEND_WRITE_BYTES, AppendWriter } from '../../src/copy/append-writer.js';
import { useCleanup } from '../harness/tmp.js';
import { seededRandom } from '../util/fixtures.js';

describe('copy/append-writer', () => {
  const cleanup = useCleanup();

  it('appends every chunk in order, in batches; flush writes the rest', async () => {
    const dir = await cleanup.tempDir('append');
    const path = join(dir, 'f');
    const data = seededRandom(3 * APPEND_WRITE_BYTES + 12345, 9);
    const fh = await open(path, 'a');
    try {
      const w = new AppendWriter(fh, { path });
      for (let off = 0; off < data.length; off += 65536) {
        await w.write(data.subarray(off, off + 65536));
        // never more than one batch plus one chunk behind
        expect(off + 65536 - (await fh.stat()).size).to.be.at.most(2 * APPEND_WRITE_BYTES + 65536);
      }
      await w.flush();
    } finally {
      await fh.close();
    }
    expect((await readFile(path)).equals(data)).to.equal(true);
  });

  it('a failed write is reported by the next write or flush', async () => {
    const dir = await cleanup.tempDir('append');
    const path = join(dir, 'f');
    const fh = await open(path, 'a');
    await fh.close(); // writes now fail (EBADF)
    const w = new AppendWriter(fh, { path });
    await w.write(Buffer.alloc(APPEND_WRITE_BYTES));
    const e = await w.flush().catch((x: unknown) => x);
    expect(e).to.be.instanceOf(Error);
    expect((e as Error).message).to.include(`writing ${path}`);
    expect(await w.write(Buffer.alloc(1)).catch((x: unknown) => x)).to.equal(e);
  });
});
