import { expect } from 'chai';
import { Readable } from 'node:stream';
import { Rechunker } from '../../src/util/rechunk.js';

/** The chunks as pushed (an async iterator would join what is buffered). */
function chunksOf(parts: Buffer[], r: Rechunker): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    Readable.from(parts).pipe(r).on('data', (c: Buffer) => out.push(c)).on('end', () => resolve(out)).on('error', reject);
  });
}
import { seededRandom } from './fixtures.js';

describe('util/rechunk', () => {
  it('passes the same bytes on in chunks of at least the size (the last may be shorter)', async () => {
    const data = seededRandom(10 * 1000 + 7, 3);
    const parts: Buffer[] = [];
    for (let off = 0; off < data.length; off += 300) parts.push(data.subarray(off, off + 300));
    const out = await chunksOf(parts, new Rechunker(4000));
    expect(Buffer.concat(out).equals(data)).to.equal(true);
    expect(out.slice(0, -1).every((c) => c.length >= 4000)).to.equal(true);
    expect(out.length).to.equal(3);
  });

  it('a chunk already large enough passes through uncopied', async () => {
    const big = Buffer.alloc(5000, 1);
    const out = await chunksOf([big], new Rechunker(4000));
    expect(out).to.have.length(1);
    expect(out[0]!.buffer).to.equal(big.buffer);
  });
});
