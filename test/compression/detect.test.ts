import { expect } from 'chai';
import { createReadStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { detectCompression, detectStreamCompression, peekBytes } from '../../src/compression/detect.js';
import { ErrorCode, FerryError } from '../../src/errors.js';
import { useCleanup } from '../harness/tmp.js';
import { chunked, collector, seededRandom } from '../util/fixtures.js';

describe('compression/detect', () => {
  const cleanup = useCleanup();

  it('detects each magic number', () => {
    expect(detectCompression(gzipSync(Buffer.from('x')))).to.equal('gzip');
    expect(detectCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x24, 0x00]))).to.equal('zstd');
    expect(detectCompression(Buffer.from('BZh91AY&SY'))).to.equal('bzip2');
    expect(detectCompression(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00]))).to.equal('xz');
    expect(detectCompression(Buffer.from('ustar\0 some tar'))).to.equal('none');
    expect(detectCompression(Buffer.alloc(0))).to.equal('none');
    expect(detectCompression(Buffer.from([0x1f]))).to.equal('none');
    expect(detectCompression(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a]))).to.equal('none');
  });

  it('peeks without losing bytes, even across small chunks, then pipes everything', async () => {
    const data = Buffer.concat([gzipSync(Buffer.from('hello')), seededRandom(300_000, 5)]);
    const { compression, stream } = await detectStreamCompression(chunked(data, 3));
    expect(compression).to.equal('gzip');
    const out = collector();
    await pipeline(stream, out);
    expect(out.result().equals(data)).to.equal(true);
  });

  it('peeks a file stream and a stream shorter than the magic', async () => {
    const dir = await cleanup.tempDir('detect');
    const f = join(dir, 'f');
    const data = seededRandom(2_500_000, 9);
    data[0] = 0x28;
    data.set([0xb5, 0x2f, 0xfd], 1);
    await writeFile(f, data);
    const r = await detectStreamCompression(createReadStream(f, { highWaterMark: 1 << 20 }));
    expect(r.compression).to.equal('zstd');
    const out = collector();
    await pipeline(r.stream, out);
    expect(out.result().equals(data)).to.equal(true);

    const short = await peekBytes(Readable.from([Buffer.from('ab')]), 6);
    expect(short.head.toString()).to.equal('ab');
    const out2 = collector();
    await pipeline(short.stream, out2);
    expect(out2.result().toString()).to.equal('ab');

    const empty = await detectStreamCompression(Readable.from([]));
    expect(empty.compression).to.equal('none');
  });

  it('peeking propagates a stream error and honours abort', async () => {
    const broken = new Readable({
      read() {
        this.destroy(new Error('boom'));
      },
    });
    let err: unknown;
    await peekBytes(broken, 6).catch((e) => (err = e));
    expect((err as Error).message).to.equal('boom');
    const ac = new AbortController();
    const never = new Readable({ read() {} });
    const p = peekBytes(never, 6, { signal: ac.signal });
    ac.abort();
    err = undefined;
    await p.catch((e) => (err = e));
    expect((err as FerryError).code).to.equal(ErrorCode.Aborted);
  });
});
