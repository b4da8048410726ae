/**
 * Hostile extension headers, through both readers (the seekable index of archives and the streaming reader of
 * layers): a chain of PAX headers without end is refused once it passes the bound instead of being gathered in
 * memory, and PAX numbers are read as Go's archive/tar reads them (decimal only; an empty record is no record).
 */
import { expect } from 'chai';
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import { encodeHeader, MAX_PENDING_EXTENSIONS } from '../../src/tar/header.js';
import { indexTar } from '../../src/tar/file-index.js';
import { TarReader } from '../../src/tar/stream-reader.js';
import { ByteReader } from '../../src/tar/byte-reader.js';
import { FerryError } from '../../src/errors.js';
import { rejection } from '../harness/expect.js';
import { useCleanup } from '../harness/tmp.js';

/** A header block of type `flag` for a body of `size` bytes, with a correct checksum. */
function rawHeader(name: string, flag: string, size: number): Buffer {
  const b = Buffer.alloc(512);
  b.write(name, 0, 100, 'utf8');
  b.write('0000644\0', 100, 'latin1');
  b.write('0000000\0', 108, 'latin1');
  b.write('0000000\0', 116, 'latin1');
  b.write(size.toString(8).padStart(11, '0') + '\0', 124, 'latin1');
  b.write('00000000000\0', 136, 'latin1');
  b.write(flag, 156, 'latin1');
  b.write('ustar\u000000', 257, 'latin1');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of b) sum += x;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return b;
}

const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);

/** One PAX record `LEN key=value\n`. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return `${len}${body}`;
}

/** A PAX `x` header (and body) holding `records`. */
function paxHeader(records: string): Buffer {
  const body = Buffer.from(records, 'utf8');
  return Buffer.concat([rawHeader('PaxHeaders/x', 'x', body.length), pad(body)]);
}

/** A PAX header of about `size` bytes of distinct xattr records (`n` names them apart). */
function bulkyPax(n: number, size: number): Buffer {
  const value = 'v'.repeat(1000);
  let records = '';
  for (let i = 0; records.length < size - 1100; i++) records += paxRecord(`SCHILY.xattr.user.k${n}_${i}`, value);
  return paxHeader(records);
}

function file(name: string, content: string): Buffer {
  const c = Buffer.from(content);
  return Buffer.concat([encodeHeader({ name, mode: 0o644, size: c.length, type: '0' }), pad(c)]);
}

const END = Buffer.alloc(1024);

async function readStream(tar: Buffer): Promise<Array<{ name: string; uid: number; size: number }>> {
  const r = new TarReader(new ByteReader((async function* () { yield tar; })()));
  const out: Array<{ name: string; uid: number; size: number }> = [];
  let previous = 0;
  for (;;) {
    const { entry } = await r.next(previous);
    if (!entry) return out;
    out.push({ name: entry.name, uid: entry.uid, size: entry.size });
    await r.bytes.forEachChunk(entry.size, () => undefined);
    previous = entry.size;
  }
}

describe('tar: hostile extension headers (seekable index and stream reader)', function () {
  this.timeout(60_000);
  const cleanup = useCleanup('after');

  it('refuses a chain of PAX headers longer than the bound before one entry, in both readers', async () => {
    const chain: Buffer[] = [];
    let total = 0;
    for (let i = 0; total <= MAX_PENDING_EXTENSIONS; i++) {
      const h = bulkyPax(i, 1 << 20); // each under the index's own 1 MiB bound for one header
      chain.push(h);
      total += h.length - 512;
    }
    const tar = Buffer.concat([...chain, file('a.txt', 'hello'), END]);
    const p = path.join(await cleanup.tempDir('tar-hostile-'), 'chain.tar');
    await writeFile(p, tar);
    const err = await rejection(indexTar(p, 'test archive'));
    expect(err).to.be.instanceOf(FerryError);
    expect(err.message).to.contain('extension headers of more than');
    const streamErr = await rejection(readStream(tar));
    expect(streamErr).to.be.instanceOf(FerryError);
    expect(streamErr.message).to.contain('extension headers of more than');
  });

  it('still reads a few PAX headers before one entry', async () => {
    const tar = Buffer.concat([bulkyPax(1, 1 << 20), paxHeader(paxRecord('path', 'named/by/pax.txt')), file('a.txt', 'hello'), END]);
    const p = path.join(await cleanup.tempDir('tar-hostile-'), 'ok.tar');
    await writeFile(p, tar);
    const idx = await indexTar(p, 'test archive');
    expect(idx.list.map((e) => e.name)).to.deep.equal(['named/by/pax.txt']);
    expect(await readStream(tar)).to.deep.equal([{ name: 'named/by/pax.txt', uid: 0, size: 5 }]);
  });

  it('reads PAX numbers as decimal only, as Go does: `0x10`, `1e1` and ` 5` are malformed', async () => {
    const dir = await cleanup.tempDir('tar-hostile-');
    for (const size of ['0x5', '5e0', ' 5']) {
      const tar = Buffer.concat([paxHeader(paxRecord('size', size)), file('a.txt', 'hello'), END]);
      const p = path.join(dir, 'num.tar');
      await writeFile(p, tar);
      const err = await rejection(indexTar(p, 'test archive'));
      expect(err.message, `size=${JSON.stringify(size)}`).to.contain('invalid entry size');
      const streamErr = await rejection(readStream(tar));
      expect(streamErr.message, `size=${JSON.stringify(size)}`).to.contain('bad size');
    }
    const badUid = Buffer.concat([paxHeader(paxRecord('uid', '0x10')), file('a.txt', 'hello'), END]);
    const uidErr = await rejection(readStream(badUid));
    expect(uidErr.message).to.contain('bad owner');
  });

  it('names a hostile entry in a message of bounded length, however long its PAX name', async () => {
    const long = `${'a/'.repeat(50_000)}../../escape`;
    const tar = Buffer.concat([paxHeader(paxRecord('path', long)), file('x.txt', 'hello'), END]);
    const p = path.join(await cleanup.tempDir('tar-hostile-'), 'long.tar');
    await writeFile(p, tar);
    const err = await rejection(indexTar(p, 'test archive'));
    expect(err.message).to.contain('contains a ".." component');
    expect(err.message.length).to.be.below(1000);
  });

  it('refuses a PAX (GNU 1.0) sparse file in a layer instead of taking its sparse map for its content', async () => {
    const records = paxRecord('GNU.sparse.major', '1') + paxRecord('GNU.sparse.minor', '0') + paxRecord('GNU.sparse.name', 'big.img') + paxRecord('GNU.sparse.realsize', '1048576');
    const tar = Buffer.concat([paxHeader(records), file('GNUSparseFile.0/big.img', '1\n0\n5\nhello'), END]);
    const err = await rejection(readStream(tar));
    expect(err.message).to.contain('is a GNU sparse file (PAX), which is not supported');
  });

  it('takes an empty PAX record as no record (the header field stands), as Go does', async () => {
    const header = rawHeader('owned.txt', '0', 5);
    header.write('0001750\0', 108, 'latin1'); // uid 1000
    header.fill(0x20, 148, 156);
    let sum = 0;
    for (const x of header) sum += x;
    header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
    const tar = Buffer.concat([paxHeader(paxRecord('uid', '') + paxRecord('path', '')), header, pad(Buffer.from('hello')), END]);
    expect(await readStream(tar)).to.deep.equal([{ name: 'owned.txt', uid: 1000, size: 5 }]);
  });
});
