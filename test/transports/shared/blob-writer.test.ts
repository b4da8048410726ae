import { expect } from 'chai';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ErrorCode, FerryError } from '../../../src/errors.js';
import { putBlobFile } from '../../../src/transports/shared/blob-writer.js';
import { digestOf } from '../../../src/util/digest.js';
import { useCleanup } from '../../harness/tmp.js';
import { chunked, seededRandom } from '../../util/fixtures.js';

/** Every file under `dir`, relative, sorted. */
async function tree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath ?? (e as unknown as { path: string }).path, e.name).slice(dir.length + 1))
    .sort();
}

describe('transports/shared/blob-writer', () => {
  const cleanup = useCleanup();
  const data = seededRandom(3 * 1024 * 1024 + 1, 11);
  const digest = digestOf(data);
  const hexOf = (d: string) => d.slice(d.indexOf(':') + 1);

  async function layout() {
    const dir = await cleanup.tempDir('blobs');
    const blobs = join(dir, 'blobs');
    const pathFor = (d: string) => join(blobs, d.slice(0, d.indexOf(':')), hexOf(d));
    return { dir, blobs, pathFor };
  }

  async function failure(p: Promise<unknown>): Promise<FerryError> {
    try {
      await p;
    } catch (e) {
      expect(e).to.be.instanceOf(FerryError);
      return e as FerryError;
    }
    throw new Error('expected failure');
  }

  it('writes a verified blob at its path and reports progress', async () => {
    const { dir, blobs, pathFor } = await layout();
    let last = 0;
    const info = await putBlobFile(blobs, chunked(data), { digest, size: data.length, mediaType: 'x' }, { pathFor, onProgress: (n) => (last = n) });
    expect(info).to.deep.equal({ digest, size: data.length, mediaType: 'x' });
    expect(last).to.equal(data.length);
    expect((await readFile(pathFor(digest))).equals(data)).to.equal(true);
    expect(await tree(dir)).to.deep.equal([`blobs/sha256/${hexOf(digest)}`]);
  });

  it('computes digest and size when unknown and names the file by it', async () => {
    const { dir, blobs, pathFor } = await layout();
    const info = await putBlobFile(blobs, chunked(data), { digest: '', size: -1 }, { pathFor });
    expect(info.digest).to.equal(digest);
    expect(info.size).to.equal(data.length);
    expect(await tree(dir)).to.deep.equal([`blobs/sha256/${hexOf(digest)}`]);
  });

  it('skips a blob that already exists without reading the stream', async () => {
    const { blobs, pathFor } = await layout();
    await mkdir(join(blobs, 'sha256'), { recursive: true });
    await writeFile(pathFor(digest), data);
    let reads = 0;
    const src = new Readable({
      read() {
        reads++;
        this.push(null);
      },
    });
    const info = await putBlobFile(blobs, src, { digest, size: -1 }, { pathFor });
    expect(info.size).to.equal(data.length);
    expect(reads).to.equal(0);
    expect(src.destroyed).to.equal(true);
  });

  it('digest mismatch: E_DIGEST_MISMATCH, no file at the final path, no temp file', async () => {
    const { dir, blobs, pathFor } = await layout();
    const wrong = digestOf(Buffer.from('something else'));
    const e = await failure(putBlobFile(blobs, chunked(data), { digest: wrong, size: data.length }, { pathFor }));
    expect(e.code).to.equal(ErrorCode.DigestMismatch);
    expect(e.message).to.contain(wrong);
    expect(await tree(dir)).to.deep.equal([]);
  });

  it('truncated stream: E_SIZE_MISMATCH and nothing left', async () => {
    const { dir, blobs, pathFor } = await layout();
    const e = await failure(putBlobFile(blobs, chunked(data.subarray(0, 5000)), { digest, size: data.length }, { pathFor }));
    expect(e.code).to.equal(ErrorCode.SizeMismatch);
    expect(await tree(dir)).to.deep.equal([]);
  });

  it('too-long stream: E_SIZE_MISMATCH before the source ends, nothing left', async () => {
    const { dir, blobs, pathFor } = await layout();
    let produced = 0;
    const endless = new Readable({
      read() {
        produced += 65536;
        this.push(Buffer.alloc(65536));
      },
    });
    const e = await failure(putBlobFile(blobs, endless, { digest, size: 100_000 }, { pathFor }));
    expect(e.code).to.equal(ErrorCode.SizeMismatch);
    expect(produced).to.be.below(2 << 20);
    expect(await tree(dir)).to.deep.equal([]);
  });

  it('abort mid-stream: E_ABORTED, source destroyed, nothing left', async () => {
    const { dir, blobs, pathFor } = await layout();
    const ac = new AbortController();
    let sent = 0;
    const src = new Readable({
      read() {
        sent++;
        if (sent === 5) ac.abort();
        setTimeout(() => this.push(Buffer.alloc(65536)), 1);
      },
    });
    const e = await failure(putBlobFile(blobs, src, { digest, size: -1 }, { pathFor, signal: ac.signal }));
    expect(e.code).to.equal(ErrorCode.Aborted);
    expect(src.destroyed).to.equal(true);
    expect(await tree(dir)).to.deep.equal([]);
  });

  it('a source error fails the write with nothing left; an invalid digest is refused', async () => {
    const { dir, blobs, pathFor } = await layout();
    const src = new Readable({
      read() {
        this.destroy(new Error('connection reset'));
      },
    });
    const e = await failure(putBlobFile(blobs, src, { digest, size: -1 }, { pathFor }));
    expect(e.code).to.equal(ErrorCode.Io);
    expect(e.message).to.contain('connection reset');
    const e2 = await failure(putBlobFile(blobs, chunked(data), { digest: 'sha256:zz', size: -1 }, { pathFor }));
    expect(e2.code).to.equal(ErrorCode.InvalidReference);
    expect(await tree(dir)).to.deep.equal([]);
  });
});
