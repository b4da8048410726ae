/**
 * Deferred claims (copies that keep a download only once it proves slow or fails, such as `sync --dest oci-archive`)
 * and the once-per-process sweep of stale partials: a fast blob leaves nothing on disk — no file, no lock, not even
 * the directory; a slow one is still kept from the offset reached, under the lock; a partial of an earlier run is
 * still continued; a partial another process is writing is left alone. Stale partials are still removed, by the first
 * store of the process that opens their directory (a store with a shorter age limit sweeps again).
 */
import { expect } from 'chai';
import { mkdir, readFile, readdir, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PartialStore, partialFileName } from '../../src/copy/partial.js';
import { ResumingBlobReader } from '../../src/copy/resume.js';
import type { BlobInfo } from '../../src/types/image.js';
import { readAll } from '../harness/expect.js';
import { CHUNK, blobOf, pacedSource } from '../harness/paced-source.js';
import { useCleanup } from '../harness/tmp.js';

const exists = (p: string) => stat(p).then(() => true, () => false);

describe('copy: deferred partial claims and the stale sweep', function () {
  this.timeout(20_000);
  const cleanup = useCleanup();

  async function setup(seed: number, size = 2 * 1024 * 1024) {
    const dir = join(await cleanup.tempDir('partial-deferred'), 'partial', 'oci-archive');
    const store = new PartialStore({ dir, keepUntilCommit: true });
    const { blob, info } = blobOf(size, seed);
    return { dir, store, blob, info, path: join(dir, partialFileName(info.digest)) };
  }

  function reader(blob: Buffer, info: BlobInfo, partial: Awaited<ReturnType<PartialStore['claim']>>, o: { delayMs?: number; keepAfterMs?: number } = {}) {
    const { source, offsets } = pacedSource(blob, { delayMs: o.delayMs });
    const r = new ResumingBlobReader({ source, info, size: blob.length, partial, signal: new AbortController().signal, keepPartial: 'late', keepAfterMs: o.keepAfterMs });
    return { r, offsets };
  }

  it('a fast blob: no partial file, no lock, not even the directory; commit and close leave nothing', async () => {
    const { dir, store, blob, info } = await setup(11);
    const partial = (await store.claim(info.digest, { deferred: true }))!;
    expect(partial.held).to.equal(false);
    expect(await exists(dir), 'the claim creates nothing').to.equal(false);
    const { r } = reader(blob, info, partial, { keepAfterMs: 60_000 });
    await r.prime();
    expect((await readAll(r)).equals(blob)).to.equal(true);
    expect(await exists(dir)).to.equal(false);
    await store.blobWritten(partial);
    await store.committed();
    await store.close();
    expect(await exists(dir)).to.equal(false);
  });

  it('a slow blob: the claim is acquired when keeping starts; kept from the offset reached, under the lock; a later run continues it', async () => {
    const { dir, store, blob, info, path } = await setup(12);
    const partial = (await store.claim(info.digest, { deferred: true }))!;
    const { r } = reader(blob, info, partial, { delayMs: 10, keepAfterMs: 50 });
    await r.prime();
    expect((await readAll(r)).equals(blob)).to.equal(true);
    expect(partial.held).to.equal(true);
    expect(await exists(`${path}.lock`), 'locked while the copy runs').to.equal(true);
    const start = Number((await readFile(`${path}.start`, 'utf8')).trim());
    expect(start).to.be.greaterThan(0).and.lessThan(blob.length / 2);
    expect(start % CHUNK).to.equal(0);
    expect((await readFile(path)).equals(blob.subarray(start))).to.equal(true);
    // the copy failed after all (not committed): the partial stays for the next run, unlocked
    await store.close(new Error('a later failure'));
    expect((await readdir(dir)).sort()).to.deep.equal([partialFileName(info.digest), `${partialFileName(info.digest)}.start`]);
    // the next run: a deferred claim of an existing partial is a real one, and the blob is continued
    const next = new PartialStore({ dir, keepUntilCommit: true });
    const again = (await next.claim(info.digest, { deferred: true }))!;
    expect([again.held, again.start, again.size]).to.deep.equal([true, start, blob.length - start]);
    const { r: r2, offsets } = reader(blob, info, again);
    expect(r2.resumedFrom).to.equal(blob.length);
    await r2.prime();
    expect((await readAll(r2)).equals(blob)).to.equal(true);
    expect(offsets, 'only the bytes before the kept ones are fetched again').to.deep.equal([0]);
    await next.blobWritten(again);
    await next.committed();
    await next.close();
    expect(await exists(dir)).to.equal(false);
  });

  it('a partial another claim is writing: nothing is kept, the other file is untouched, the blob still arrives whole', async () => {
    const { dir, store, blob, info, path } = await setup(13);
    const deferred = (await store.claim(info.digest, { deferred: true }))!;
    // meanwhile another copy (here: another store; another process alike) claims the same blob and writes to it
    const other = new PartialStore({ dir, keepUntilCommit: true });
    const theirs = (await other.claim(info.digest))!;
    await writeFile(path, blob.subarray(0, 1000));
    const { r } = reader(blob, info, deferred, { delayMs: 10, keepAfterMs: 20 });
    await r.prime();
    expect((await readAll(r)).equals(blob)).to.equal(true);
    expect(deferred.held).to.equal(false);
    expect((await readFile(path)).equals(blob.subarray(0, 1000))).to.equal(true);
    await store.close();
    expect((await readFile(path)).equals(blob.subarray(0, 1000)), 'a claim never held removes nothing').to.equal(true);
    await theirs.remove();
    await other.close();
  });

  it('stale partials are still removed, once per process and directory; a store with a shorter age limit sweeps again', async () => {
    const dir = join(await cleanup.tempDir('partial-sweep'), 'partial', 'oci-archive');
    await mkdir(dir, { recursive: true });
    const old = new Date(Date.now() - 8 * 24 * 3600 * 1000);
    const stale = async (hex: string) => {
      const p = join(dir, `sha256-${hex.repeat(32)}`);
      await writeFile(p, 'old');
      await writeFile(`${p}.start`, '5\n');
      await utimes(p, old, old);
      await utimes(`${p}.start`, old, old);
      return p;
    };
    const first = await stale('ab');
    const fresh = join(dir, `sha256-${'cd'.repeat(32)}`);
    await writeFile(fresh, 'recent');
    const { info } = blobOf(4096, 14);
    const a = new PartialStore({ dir, keepUntilCommit: true });
    await (await a.claim(info.digest, { deferred: true }))!.remove();
    expect(await exists(first), 'swept by the first (deferred) claim').to.equal(false);
    expect(await exists(`${first}.start`)).to.equal(false);
    expect(await exists(fresh)).to.equal(true);
    // a partial that goes stale later is left to the next process
    const second = await stale('ef');
    const b = new PartialStore({ dir, keepUntilCommit: true });
    await (await b.claim(info.digest, { deferred: true }))!.remove();
    expect(await exists(second), 'swept once per process').to.equal(true);
    const strict = new PartialStore({ dir, keepUntilCommit: true }, { maxAgeMs: 24 * 3600 * 1000 });
    await (await strict.claim(info.digest, { deferred: true }))!.remove();
    expect(await exists(second), 'a shorter age limit sweeps again').to.equal(false);
    expect(await exists(fresh)).to.equal(true);
    for (const s of [a, b, strict]) await s.close();
  });
});
