import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ErrorCode, FerryError } from '../../src/errors.js';
import { digestOf } from '../../src/util/digest.js';
import { hashFile, hashFilePrefix, VerifyingStream } from '../../src/util/verify-stream.js';
import { useCleanup } from '../harness/tmp.js';
import { chunked, collector, seededRandom } from './fixtures.js';
import { rejection } from '../harness/expect.js';

describe('util/verify-stream', () => {
  const cleanup = useCleanup();
  const data = seededRandom(3 * 1024 * 1024 + 17, 7);
  const digest = digestOf(data);

  it('passes bytes through unchanged, counts them and computes the digest', async () => {
    const seen: number[] = [];
    const v = new VerifyingStream({ digest, size: data.length, what: 'blob x', onProgress: (n) => seen.push(n) });
    const out = collector();
    await pipeline(chunked(data), v, out);
    expect(out.result().equals(data)).to.equal(true);
    expect(v.bytes).to.equal(data.length);
    expect(v.digest).to.equal(digest);
    expect(seen.at(-1)).to.equal(data.length);
    expect(seen).to.deep.equal([...seen].sort((a, b) => a - b));
  });

  it('computes the digest when none is expected (size unknown)', async () => {
    const v = new VerifyingStream({ what: 'blob', size: -1, algorithm: 'sha512' });
    await pipeline(chunked(data), v, collector());
    expect(v.digest).to.equal(digestOf(data, 'sha512'));
  });

  it('fails with E_DIGEST_MISMATCH naming what', async () => {
    const wrong = digestOf(Buffer.from('other'));
    const v = new VerifyingStream({ digest: wrong, size: data.length, what: 'blob y' });
    const e = await rejection(pipeline(chunked(data), v, collector()));
    expect(e.code).to.equal(ErrorCode.DigestMismatch);
    expect(e.message).to.contain('blob y').and.contain(wrong).and.contain(digest);
  });

  it('fails with E_SIZE_MISMATCH on a truncated stream', async () => {
    const v = new VerifyingStream({ digest, size: data.length, what: 'blob t' });
    const e = await rejection(pipeline(chunked(data.subarray(0, 1000)), v, collector()));
    expect(e.code).to.equal(ErrorCode.SizeMismatch);
    expect(e.message).to.contain('blob t').and.contain(`expected ${data.length}`).and.contain('got 1000');
  });

  it('fails a too-long stream as soon as the size is exceeded, before the source ends', async () => {
    let produced = 0;
    const endless = new Readable({
      read() {
        produced += 65536;
        this.push(Buffer.alloc(65536));
      },
    });
    const v = new VerifyingStream({ size: 100_000, what: 'blob l' });
    const e = await rejection(pipeline(endless, v, collector()));
    expect(e.code).to.equal(ErrorCode.SizeMismatch);
    expect(e.message).to.contain('blob l');
    expect(endless.destroyed).to.equal(true);
    expect(produced).to.be.below(1 << 20);
  });

  it('resumes: re-hashes a partial file, then verifies the whole blob with only the rest streamed', async () => {
    const dir = await cleanup.tempDir('verify');
    const partial = join(dir, 'partial');
    const cut = 1_234_567;
    await writeFile(partial, data.subarray(0, cut));
    const v = await VerifyingStream.resume(partial, { digest, size: data.length, what: 'blob r' });
    expect(v.bytes).to.equal(cut);
    const out = collector();
    await pipeline(chunked(data.subarray(cut)), v, out);
    expect(v.digest).to.equal(digest);
    expect(v.bytes).to.equal(data.length);
    expect(out.result().length).to.equal(data.length - cut);

    const bad = await VerifyingStream.resume(partial, { digest, size: data.length, what: 'blob r' });
    const e = await rejection(pipeline(chunked(Buffer.alloc(data.length - cut)), bad, collector()));
    expect(e.code).to.equal(ErrorCode.DigestMismatch);
  });

  it('resume from a missing file starts at 0; from a file longer than the blob fails', async () => {
    const dir = await cleanup.tempDir('verify');
    const v = await VerifyingStream.resume(join(dir, 'none'), { digest, size: data.length, what: 'b' });
    expect(v.bytes).to.equal(0);
    await writeFile(join(dir, 'long'), Buffer.alloc(10));
    let err: unknown;
    try {
      await VerifyingStream.resume(join(dir, 'long'), { size: 5, what: 'b' });
    } catch (e) {
      err = e;
    }
    expect((err as FerryError).code).to.equal(ErrorCode.SizeMismatch);
  });

  it('hashFile and hashFilePrefix hash files; a missing file is E_NOT_FOUND', async () => {
    const dir = await cleanup.tempDir('verify');
    const f = join(dir, 'f');
    await writeFile(f, data);
    expect(await hashFile(f)).to.deep.equal({ digest, size: data.length });
    expect((await hashFile(f, 'sha384')).digest).to.equal(digestOf(data, 'sha384'));
    const p = await hashFilePrefix(f);
    expect(p.bytes).to.equal(data.length);
    expect(p.hash.digest('hex')).to.equal(createHash('sha256').update(data).digest('hex'));
    const e = await rejection(hashFile(join(dir, 'missing')));
    expect(e.code).to.equal(ErrorCode.NotFound);
  });

  it('rejects an unsupported algorithm', () => {
    expect(() => new VerifyingStream({ what: 'b', algorithm: 'md5' })).to.throw(FerryError);
  });
});
