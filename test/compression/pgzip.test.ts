import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { gunzipSync } from 'node:zlib';
import { gzipStream } from '../../src/compression/gzip.js';
import { ParallelGzip } from '../../src/compression/pgzip.js';
import { runOk } from '../harness/procs.js';
import { useCleanup } from '../harness/tmp.js';
import { chunked, collector, compressible, seededRandom } from '../util/fixtures.js';

async function pgzip(data: Buffer, opts: { level: number; jobs?: number; blockSize?: number }, chunk = 100_000): Promise<Buffer> {
  const out = collector();
  await pipeline(chunked(data, chunk), new ParallelGzip(opts), out);
  return out.result();
}

describe('compression/pgzip', () => {
  const cleanup = useCleanup();
  const data = Buffer.concat([compressible(2_500_000), seededRandom(700_000, 8), compressible(1_000_000)]);

  it('produces one gzip member that gunzip reads back, compressing about as well as plain zlib', async () => {
    const gz = await pgzip(data, { level: 6, jobs: 3 });
    expect(gz.subarray(0, 3).equals(Buffer.from([0x1f, 0x8b, 8]))).to.equal(true);
    expect(gunzipSync(gz).equals(data)).to.equal(true);
    const plain = collector();
    await pipeline(chunked(data), gzipStream(6, { parallel: false }), plain);
    expect(gz.length).to.be.below(plain.result().length * 1.05);
  });

  it('is deterministic whatever the number of jobs and the input chunking', async () => {
    const a = await pgzip(data, { level: 6, jobs: 1 }, 1 << 20);
    const b = await pgzip(data, { level: 6, jobs: 4 }, 12_345);
    expect(a.equals(b)).to.equal(true);
  });

  it('handles empty input, input shorter than a block and exact multiples of the block size', async () => {
    for (const d of [Buffer.alloc(0), Buffer.from('x'), seededRandom(3 * 64 * 1024, 2)]) {
      const gz = await pgzip(d, { level: 1, blockSize: 64 * 1024 });
      expect(gunzipSync(gz).equals(d)).to.equal(true);
    }
  });

  it('small blocks carry the previous block as dictionary (repeated data compresses across blocks)', async () => {
    const block = seededRandom(16 * 1024, 4);
    const repeated = Buffer.concat(Array.from({ length: 16 }, () => block));
    const gz = await pgzip(repeated, { level: 6, blockSize: 32 * 1024 });
    expect(gunzipSync(gz).equals(repeated)).to.equal(true);
    expect(gz.length).to.be.below(block.length * 1.5);
  });

  it('the gzip CLI accepts the output', async function () {
    if (spawnSync('gzip', ['--version']).status !== 0) this.skip();
    const dir = await cleanup.tempDir('pgzip');
    const f = join(dir, 'x.gz');
    await writeFile(f, await pgzip(data, { level: 6 }));
    const r = await runOk('gzip', ['-dc', f]);
    expect(r.stdoutBytes.equals(data)).to.equal(true);
  });
});
