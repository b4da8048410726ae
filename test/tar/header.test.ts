import { expect } from 'chai';
import { checksumOk, decodeHeader, encodeHeader, PendingExtensions } from '../../src/tar/header.js';
import { tarPathParts } from '../../src/tar/path.js';

const fail = (why: string) => new Error(why);

/** A ustar block with `fields` written raw at their offsets and a correct checksum. */
function block(fields: Array<[number, string | Buffer]>): Buffer {
  const b = Buffer.alloc(512);
  b.write('ustar\u000000', 257, 'latin1');
  for (const [off, v] of fields) (typeof v === 'string' ? Buffer.from(v, 'latin1') : v).copy(b, off);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of b) sum += x;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return b;
}

describe('tar/header', () => {
  it('reads back what it writes, long names through a PAX header', () => {
    const h = encodeHeader({ name: 'a/b.txt', mode: 0o444, size: 5, type: '0' });
    expect(h.length).to.equal(512);
    expect(checksumOk(h, fail)).to.equal(true);
    expect(decodeHeader(h, fail)).to.deep.include({ flag: '0', name: 'a/b.txt', mode: 0o444, size: 5, uid: 0, mtime: 0 });
    const long = 'd/'.repeat(150) + 'é';
    const withPax = encodeHeader({ name: long, mode: 0o444, size: 0, type: '0' });
    const pax = decodeHeader(withPax.subarray(0, 512), fail);
    expect(pax.flag).to.equal('x');
    const ext = new PendingExtensions();
    ext.add('x', withPax.subarray(512, 512 + pax.size), fail);
    expect(ext.name(decodeHeader(withPax.subarray(withPax.length - 512), fail))).to.equal(long);
  });

  it('joins the ustar prefix, reads GNU base-256 numbers (negative ones too) and refuses garbage', () => {
    const neg = Buffer.alloc(12, 0xff); // -1 in base-256
    const big = Buffer.concat([Buffer.from([0x80]), Buffer.alloc(7), Buffer.from([0, 0, 0x10, 0])]); // 4096
    const h = decodeHeader(block([[0, 'name'], [345, 'pre/fix'], [136, neg], [124, big], [156, '0']]), fail);
    expect(h).to.deep.include({ name: 'pre/fix/name', mtime: -1, size: 4096 });
    expect(() => decodeHeader(block([[124, '12x4']]), fail)).to.throw('bad size field "12x4"');
    expect(() => decodeHeader(block([[108, Buffer.alloc(8, 0xff)]]), fail)).to.throw('negative uid');
    const bad = block([[0, 'x']]);
    bad[0] = 0x79;
    expect(checksumOk(bad, fail)).to.equal(false);
  });

  it('gives PAX records precedence over GNU long names over the header', () => {
    const h = decodeHeader(block([[0, 'short'], [157, 'link'], [156, '2']]), fail);
    const ext = new PendingExtensions();
    expect([ext.name(h), ext.linkname(h)]).to.deep.equal(['short', 'link']);
    ext.add('L', Buffer.from('gnu-long\0'), fail);
    ext.add('K', Buffer.from('gnu-link\0'), fail);
    expect([ext.name(h), ext.linkname(h)]).to.deep.equal(['gnu-long', 'gnu-link']);
    ext.add('x', Buffer.from('14 path=paxed\n'), fail);
    expect(ext.name(h)).to.equal('paxed');
    expect(() => ext.add('x', Buffer.from('99 path=x\n'), fail)).to.throw('bad PAX record');
  });
});

describe('tar/path', () => {
  const refuse = (p: string) => new Error(p);
  it('cleans names and refuses absolute, `..` and NUL ones', () => {
    expect(tarPathParts('./a//b/./c/', refuse)).to.deep.equal(['a', 'b', 'c']);
    expect(tarPathParts('./', refuse)).to.deep.equal([]);
    expect(tarPathParts('a/..b/.wh..wh..opq', refuse)).to.deep.equal(['a', '..b', '.wh..wh..opq']);
    expect(() => tarPathParts('/etc/passwd', refuse)).to.throw('absolute');
    expect(() => tarPathParts('a/../../b', refuse)).to.throw('dotdot');
    expect(() => tarPathParts('a/b\0c', refuse)).to.throw('nul');
  });
});
