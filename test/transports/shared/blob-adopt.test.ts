import { expect } from 'chai';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ErrorCode, FerryError } from '../../../src/errors.js';
import { adoptFileAt } from '../../../src/transports/shared/blob-adopt.js';
import { putBlobFile } from '../../../src/transports/shared/blob-writer.js';
import { digestOf } from '../../../src/util/digest.js';
import { VerifyingStream } from '../../../src/util/verify-stream.js';
import { useCleanup } from '../../harness/tmp.js';
import { seededRandom } from '../../util/fixtures.js';

describe('transports/shared/blob-adopt', () => {
  const cleanup = useCleanup();
  const data = seededRandom(200_000, 5);
  const digest = digestOf(data);
  const info = { digest, size: data.length };

  it('moves the file to the blob path (mode 0644 minus umask), or links it keeping the source', async () => {
    const dir = await cleanup.tempDir('adopt');
    const src = join(dir, 'partial');
    await writeFile(src, data, { mode: 0o600 });
    const moved = join(dir, 'blobs', 'sha256', 'a');
    expect(await adoptFileAt(src, moved, info, { keepSource: false })).to.deep.equal(info);
    expect((await readFile(moved)).equals(data)).to.equal(true);
    expect((await stat(moved)).mode & 0o777).to.equal(0o644 & ~process.umask());
    expect(await stat(src).catch(() => undefined)).to.equal(undefined);

    await writeFile(src, data, { mode: 0o600 });
    const linked = join(dir, 'staging', 'b');
    expect(await adoptFileAt(src, linked, info, { keepSource: true })).to.deep.equal(info);
    expect((await stat(linked)).ino).to.equal((await stat(src)).ino);
  });

  it('reuses a blob already there; a file of another size is not taken (undefined: the caller copies)', async () => {
    const dir = await cleanup.tempDir('adopt');
    const src = join(dir, 'partial');
    const final = join(dir, 'blob');
    await writeFile(src, data);
    await writeFile(final, data);
    expect(await adoptFileAt(src, final, info, { keepSource: false })).to.deep.equal(info);
    expect(await stat(src).catch(() => undefined), 'the moved-away source is gone').to.equal(undefined);
    await writeFile(src, data.subarray(1));
    expect(await adoptFileAt(src, join(dir, 'other'), info, { keepSource: false })).to.equal(undefined);
    expect(await stat(join(dir, 'other')).catch(() => undefined)).to.equal(undefined);
  });

  it('aborted: E_ABORTED, nothing moved', async () => {
    const dir = await cleanup.tempDir('adopt');
    const src = join(dir, 'partial');
    await writeFile(src, data);
    const e = await adoptFileAt(src, join(dir, 'x'), info, { keepSource: false, signal: AbortSignal.abort() }).catch((x: unknown) => x);
    expect(e).to.be.instanceOf(FerryError);
    expect((e as FerryError).code).to.equal(ErrorCode.Aborted);
    expect((await stat(src)).size).to.equal(data.length);
  });
});

describe('putBlobFile with a stream verified upstream', () => {
  const cleanup = useCleanup();
  const data = seededRandom(300_000, 6);
  const digest = digestOf(data);

  /** A stream as the copy engine hands it over: bytes → VerifyingStream(expected) → out (`verifiedUpstream` says so). */
  function verifiedStream(bytes: Buffer, expected: string): PassThrough {
    const out = new PassThrough();
    void pipeline(Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)]), new VerifyingStream({ digest: expected, size: bytes.length, what: 'blob' }), out).catch(() => {});
    return out;
  }

  it('writes the blob; an upstream digest mismatch fails the write and leaves nothing', async () => {
    const dir = await cleanup.tempDir('trusted');
    const pathFor = (d: string) => join(dir, d.slice(7));
    const ok = await putBlobFile(dir, verifiedStream(data, digest), { digest, size: data.length }, { pathFor, verifiedUpstream: { digest, size: data.length } });
    expect(ok).to.deep.equal({ digest, size: data.length });
    expect((await readFile(pathFor(digest))).equals(data)).to.equal(true);

    const bad = Buffer.from(data);
    bad[5] ^= 1;
    const other = digestOf(Buffer.from('x'));
    const e = await putBlobFile(dir, verifiedStream(bad, other), { digest: other, size: bad.length }, { pathFor, verifiedUpstream: { digest: other, size: bad.length } }).catch((x: unknown) => x);
    expect((e as FerryError).code).to.equal(ErrorCode.DigestMismatch);
    expect(await stat(pathFor(other)).catch(() => undefined)).to.equal(undefined);
  });
});
