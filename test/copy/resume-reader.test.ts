/**
 * ResumingBlobReader's partial-file policy, unit level, with a paced in-memory source (the registry-backed
 * behaviour is in resume.test.ts and kill.test.ts): `always` writes every byte, `late` writes nothing for a
 * fast blob and keeps a slow or failing one from the offset reached, recording that offset beside the file;
 * a later run fetches the bytes before the offset again, then reads the file, then continues after it.
 */
import { expect } from 'chai';
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PartialStore, partialFileName } from '../../src/copy/partial.js';
import { ResumingBlobReader, type PartialKeeping } from '../../src/copy/resume.js';
import type { BlobInfo } from '../../src/types/image.js';
import { readAll } from '../harness/expect.js';
import { CHUNK, blobOf, pacedSource } from '../harness/paced-source.js';
import { useCleanup } from '../harness/tmp.js';

describe('copy: ResumingBlobReader partial files (always / late)', function () {
  this.timeout(20_000);
  const cleanup = useCleanup();

  async function setup(seed: number, size = 2 * 1024 * 1024) {
    const dir = await cleanup.tempDir('resume-reader');
    const store = new PartialStore({ dir, keepUntilCommit: false });
    const { blob, info } = blobOf(size, seed);
    const path = join(dir, partialFileName(info.digest));
    return { dir, store, blob, info, path };
  }

  async function read(store: PartialStore, blob: Buffer, info: BlobInfo, keepPartial: PartialKeeping, o: { delayMs?: number; cutAfter?: number; keepAfterMs?: number } = {}) {
    const partial = (await store.claim(info.digest))!;
    const { source, offsets } = pacedSource(blob, o);
    const reader = new ResumingBlobReader({ source, info, size: blob.length, partial, signal: new AbortController().signal, keepPartial, keepAfterMs: o.keepAfterMs, retryDelayMs: 1 });
    await reader.prime();
    const got = await readAll(reader);
    return { got, offsets, partial, reader };
  }

  it('always: every byte goes to the partial file, which can be adopted whole', async () => {
    const { store, blob, info, path } = await setup(1);
    const { got, reader } = await read(store, blob, info, 'always');
    expect(got.equals(blob)).to.equal(true);
    expect(reader.keepsWholePartial).to.equal(true);
    expect((await readFile(path)).equals(blob)).to.equal(true);
  });

  it('late, fast blob: nothing is written; the empty partial goes at release', async () => {
    const { dir, store, blob, info, path } = await setup(2);
    const { got, reader, partial } = await read(store, blob, info, 'late', { keepAfterMs: 60_000 });
    expect(got.equals(blob)).to.equal(true);
    expect(reader.keepsWholePartial).to.equal(false);
    expect((await stat(path)).size).to.equal(0);
    await partial.release();
    expect((await readdir(dir)).filter((n) => !n.endsWith('.lock'))).to.deep.equal([]);
  });

  it('late, slow blob: kept from the offset reached once it had been arriving long enough; the offset is recorded', async () => {
    const { store, blob, info, path } = await setup(3);
    // 32 chunks, 10 ms apart: ~320 ms; kept after 50 ms (the rest still needs longer than that)
    const { got, reader, partial } = await read(store, blob, info, 'late', { delayMs: 10, keepAfterMs: 50 });
    expect(got.equals(blob)).to.equal(true);
    expect(reader.keepsWholePartial).to.equal(false);
    const start = Number((await readFile(`${path}.start`, 'utf8')).trim());
    expect(start).to.be.greaterThan(0).and.lessThan(blob.length / 2);
    expect(start % CHUNK).to.equal(0);
    expect((await readFile(path)).equals(blob.subarray(start))).to.equal(true);
    await partial.release(); // keeps the file (not empty) for a later run
    expect((await stat(path)).size).to.equal(blob.length - start);
  });

  it('late, failing stream: kept from the failure offset on; the retry continues there', async () => {
    const { store, blob, info, path } = await setup(4);
    const { got, offsets } = await read(store, blob, info, 'late', { cutAfter: 4 * CHUNK, keepAfterMs: 60_000 });
    expect(got.equals(blob)).to.equal(true);
    expect(offsets).to.deep.equal([0, 4 * CHUNK]);
    expect(Number((await readFile(`${path}.start`, 'utf8')).trim())).to.equal(4 * CHUNK);
    expect((await readFile(path)).equals(blob.subarray(4 * CHUNK))).to.equal(true);
  });

  it('a partial that starts at an offset: the bytes before it again from the source, then the file, then the rest', async () => {
    const { store, blob, info, path } = await setup(5);
    const start = 3 * CHUNK + 100;
    const end = 10 * CHUNK + 7;
    await writeFile(path, blob.subarray(start, end));
    await writeFile(`${path}.start`, `${start}\n`);
    const partial = (await store.claim(info.digest))!;
    expect([partial.start, partial.size]).to.deep.equal([start, end - start]);
    const { source, offsets } = pacedSource(blob);
    const reader = new ResumingBlobReader({ source, info, size: blob.length, partial, signal: new AbortController().signal, keepPartial: 'late' });
    expect(reader.resumedFrom).to.equal(end);
    expect(reader.keepsWholePartial).to.equal(false);
    await reader.prime();
    expect((await readAll(reader)).equals(blob)).to.equal(true);
    expect(offsets).to.deep.equal([0, end]);
    // The file grew with the rest (a resumed partial is always continued) and still starts at the same offset.
    expect((await readFile(path)).equals(blob.subarray(start))).to.equal(true);
  });

  it('reset forgets the start offset; a sidecar whose partial is gone is swept with stale entries', async () => {
    const { dir, store, blob, info, path } = await setup(6);
    await writeFile(path, blob.subarray(100, 200));
    await writeFile(`${path}.start`, '100\n');
    const partial = (await store.claim(info.digest))!;
    expect(partial.start).to.equal(100);
    await partial.reset();
    expect([partial.start, partial.size]).to.deep.equal([0, 0]);
    expect(await stat(`${path}.start`).then(() => true, () => false)).to.equal(false);
    await partial.remove();
    await writeFile(join(dir, 'sha256-0000.start'), '5\n');
    const old = new PartialStore({ dir, keepUntilCommit: false }, { maxAgeMs: -1 });
    await (await old.claim(info.digest))!.remove();
    expect((await readdir(dir)).filter((n) => n.endsWith('.start'))).to.deep.equal([]);
  });
});
