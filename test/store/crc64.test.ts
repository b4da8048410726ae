import { expect } from 'chai';
import { Crc64 } from '../../src/store/crc64.js';

describe('store: CRC-64/ISO', () => {
  it('matches the CRC-64/GO-ISO check value', () => {
    expect(new Crc64().update(Buffer.from('123456789')).digest().toString('hex')).to.equal('b90956c775a41001');
    expect(new Crc64(false).update(Buffer.from('123456789')).digest().toString('hex')).to.equal('b90956c775a41001');
  });
  it('is the same fed in pieces', () => {
    const data = Buffer.from('the quick brown fox jumps over the lazy dog'.repeat(100));
    const c = new Crc64();
    for (let i = 0; i < data.length; i += 7) c.update(data.subarray(i, i + 7));
    expect(c.digest().equals(new Crc64().update(data).digest())).to.equal(true);
  });
});

describe('store: CRC-64/ISO native and JavaScript agree', () => {
  it('on random data of many lengths', () => {
    for (const n of [0, 1, 7, 8, 9, 63, 64, 65, 1000, 65537]) {
      const data = Buffer.alloc(n);
      for (let i = 0; i < n; i++) data[i] = (i * 131 + 7) & 0xff;
      expect(new Crc64().update(data).digest().toString('hex'), `length ${n}`).to.equal(new Crc64(false).update(data).digest().toString('hex'));
    }
  });
});
