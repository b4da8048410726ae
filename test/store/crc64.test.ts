import { expect } from 'chai';
import { Crc64 } from '../../src/store/crc64.js';

describe('store: CRC-64/ISO', () => {
  it('matches the CRC-64/GO-ISO check value', () => {
    expect(new Crc64().update(Buffer.from('123456789')).digest().toString('hex')).to.equal('b90956c775a41001');
  });
  it('is the same fed in pieces', () => {
    const data = Buffer.from('the quick brown fox jumps over the lazy dog'.repeat(100));
    const c = new Crc64();
    for (let i = 0; i < data.length; i += 7) c.update(data.subarray(i, i + 7));
    expect(c.digest().equals(new Crc64().update(data).digest())).to.equal(true);
  });
});
