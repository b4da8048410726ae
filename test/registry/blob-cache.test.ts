import { expect } from 'chai';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  MAX_REPOS_PER_BLOB,
  REFRESH_AFTER_MS,
  blobCachePath,
  flushBlobLocations,
  GATHER_RECORDS,
  knownBlobLocations,
  recordBlobLocation,
} from '../../src/registry/blob-cache.js';
import { digestOf } from '../../src/util/digest.js';
import { run, runOk } from '../harness/procs.js';
import { useCleanup } from '../harness/tmp.js';

const D = (s: string) => digestOf(s);
/** Records a location and waits until it is written. */
async function recorded(...a: Parameters<typeof recordBlobLocation>): Promise<void> {
  void recordBlobLocation(...a);
  await flushBlobLocations();
}

describe('registry/blob-cache', function () {
  this.timeout(30_000);
  const cleanup = useCleanup('after');

  it('lives under <home>/.cache/ferry, or $XDG_CACHE_HOME/ferry without an explicit home', () => {
    expect(blobCachePath({ homeDir: '/h' })).to.equal('/h/.cache/ferry/blob-info-cache.json');
    const saved = process.env['XDG_CACHE_HOME'];
    process.env['XDG_CACHE_HOME'] = '/xdg';
    try {
      expect(blobCachePath({})).to.equal('/xdg/ferry/blob-info-cache.json');
    } finally {
      if (saved === undefined) delete process.env['XDG_CACHE_HOME'];
      else process.env['XDG_CACHE_HOME'] = saved;
    }
  });

  it('records locations per registry, newest first, capped per blob, and persists them', async () => {
    const ctx = { homeDir: await cleanup.tempDir('blob-cache') };
    for (let i = 0; i < MAX_REPOS_PER_BLOB + 2; i++) {
      await recorded('r.example', `repo${i}`, D('a'), ctx);
      await new Promise((r) => setTimeout(r, 2));
    }
    void recordBlobLocation('other.example', 'x', D('a'), ctx);
    await flushBlobLocations();
    const repos = await knownBlobLocations('r.example', D('a'), ctx);
    expect(repos).to.deep.equal(['repo6', 'repo5', 'repo4', 'repo3', 'repo2']);
    expect(await knownBlobLocations('r.example', D('a'), ctx, 'repo6')).to.deep.equal(['repo5', 'repo4', 'repo3', 'repo2']);
    expect(await knownBlobLocations('other.example', D('a'), ctx)).to.deep.equal(['x']);
    expect(await knownBlobLocations('r.example', D('b'), ctx)).to.deep.equal([]);
    const file = JSON.parse(await readFile(blobCachePath(ctx), 'utf8'));
    expect(file.version).to.equal(1);
    expect(file.registries['r.example'][D('a')]).to.have.length(MAX_REPOS_PER_BLOB);
  });

  it('writes without a flush once GATHER_RECORDS records wait, and not before', async () => {
    const ctx = { homeDir: await cleanup.tempDir('blob-cache-gather') };
    const writes: Promise<void>[] = [];
    for (let i = 0; i < GATHER_RECORDS - 1; i++) writes.push(recordBlobLocation('r.example', 'repo', digestOf(`blob ${i}`), ctx));
    // Nothing has been written yet: the records wait for a flush, the exit or the count.
    await new Promise((resolve) => setImmediate(resolve));
    await stat(blobCachePath(ctx)).then(
      () => expect.fail('the cache was written before GATHER_RECORDS records waited'),
      (e: NodeJS.ErrnoException) => expect(e.code).to.equal('ENOENT'),
    );
    writes.push(recordBlobLocation('r.example', 'repo', digestOf('the last'), ctx));
    await Promise.all(writes);
    const file = JSON.parse(await readFile(blobCachePath(ctx), 'utf8'));
    expect(JSON.stringify(file)).to.contain(digestOf('the last').slice('sha256:'.length));
  });

  it('ignores invalid input and survives a corrupt file (replacing it on the next write)', async () => {
    const ctx = { homeDir: await cleanup.tempDir('blob-cache-corrupt') };
    await recorded('r', 'x', 'not-a-digest', ctx);
    const path = blobCachePath(ctx);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, '{"version":1,"registries":{"r":{"sha256:zz":[1,2]');
    expect(await knownBlobLocations('r', D('a'), ctx)).to.deep.equal([]);
    await recorded('r', 'repo', D('a'), ctx);
    expect(await knownBlobLocations('r', D('a'), ctx)).to.deep.equal(['repo']);
    expect(JSON.parse(await readFile(path, 'utf8')).version).to.equal(1);
    await writeFile(path, JSON.stringify({ version: 1, registries: { r: { [D('a')]: [{ repo: 'ok', time: 5 }, { repo: 3 }, 'junk'], bad: 1 } } }));
    expect(await knownBlobLocations('r', D('a'), ctx)).to.deep.equal(['ok']);
  });

  it('does not rewrite the file for a location recorded less than a day ago, refreshes an older one', async () => {
    const ctx = { homeDir: await cleanup.tempDir('blob-cache-fresh') };
    const path = blobCachePath(ctx);
    await recorded('r', 'repo', D('a'), ctx);
    const first = await stat(path);
    const text = await readFile(path, 'utf8');
    await new Promise((r) => setTimeout(r, 5));
    await recorded('r', 'repo', D('a'), ctx);
    const second = await stat(path);
    expect([second.ino, second.mtimeMs]).to.deep.equal([first.ino, first.mtimeMs]);
    expect(await readFile(path, 'utf8')).to.equal(text);
    // A new repository for the same blob is written.
    await recorded('r', 'other', D('a'), ctx);
    expect(await knownBlobLocations('r', D('a'), ctx)).to.have.members(['repo', 'other']);
    // An entry older than REFRESH_AFTER_MS gets a new time.
    const old = Date.now() - REFRESH_AFTER_MS - 60_000;
    await writeFile(path, JSON.stringify({ version: 1, registries: { r: { [D('b')]: [{ repo: 'repo', time: old }] } } }));
    await recorded('r', 'repo', D('b'), ctx);
    const saved = JSON.parse(await readFile(path, 'utf8'));
    expect(saved.registries.r[D('b')][0].time).to.be.greaterThan(old + REFRESH_AFTER_MS);
  });

  it("does not read back its own write: while the file is as this process left it (inode, size, mtime), lookups answer from memory", async () => {
    const ctx = { homeDir: await cleanup.tempDir('blob-cache-own') };
    const path = blobCachePath(ctx);
    await recorded('r', 'repoA', D('a'), ctx);
    const mtime = (await runOk('stat', ['-c', '%.9Y', path])).stdout.trim();
    const ino = (await stat(path)).ino;
    // The same bytes but another repository name, written in place, and the mtime put back to the nanosecond:
    // only a process that reads the file again sees it.
    await writeFile(path, (await readFile(path, 'utf8')).replace('repoA', 'repoB'));
    await runOk('touch', ['-m', '-d', `@${mtime}`, path]);
    expect((await stat(path)).ino).to.equal(ino);
    expect(await knownBlobLocations('r', D('a'), ctx)).to.deep.equal(['repoA']);
    // Any change to the file is seen.
    await runOk('touch', ['-m', path]);
    expect(await knownBlobLocations('r', D('a'), ctx)).to.deep.equal(['repoB']);
  });

  it('a process that records locations and exits without flushing still writes every one of them', async () => {
    const home = await cleanup.tempDir('blob-cache-exit');
    const mod = join(dirname(fileURLToPath(import.meta.url)), '../../src/registry/blob-cache.js');
    // Records arrive while earlier ones are being written (the later writes wait): nothing awaits them.
    const script = `
      const m = await import(${JSON.stringify(mod)});
      const { createHash } = await import('node:crypto');
      for (let i = 0; i < 30; i++) {
        void m.recordBlobLocation('r', 'repo', 'sha256:' + createHash('sha256').update(String(i)).digest('hex'), { homeDir: ${JSON.stringify(home)} });
        await new Promise((r) => setImmediate(r));
      }
    `;
    const r = await run(process.execPath, ['--input-type=module', '-e', script]);
    expect(r.code, r.stderr).to.equal(0);
    const j = JSON.parse(await readFile(blobCachePath({ homeDir: home }), 'utf8'));
    expect(Object.keys(j.registries.r)).to.have.lengthOf(30);
  });

  it('concurrent writer processes never corrupt the file', async () => {
    const home = await cleanup.tempDir('blob-cache-procs');
    const mod = join(dirname(fileURLToPath(import.meta.url)), '../../src/registry/blob-cache.js');
    const script = `
      const m = await import(${JSON.stringify(mod)});
      const { createHash } = await import('node:crypto');
      const ps = [];
      for (let i = 0; i < 40; i++) {
        const d = 'sha256:' + createHash('sha256').update(process.argv[1] + i).digest('hex');
        ps.push(m.recordBlobLocation('r', 'repo-' + process.argv[1], d, { homeDir: ${JSON.stringify(home)} }));
        if (i % 5 === 0) await new Promise((r) => setTimeout(r, 1));
      }
      await m.flushBlobLocations();
      await Promise.all(ps);
    `;
    const runs = await Promise.all(['p1', 'p2', 'p3'].map((id) => run(process.execPath, ['--input-type=module', '-e', script, id])));
    for (const r of runs) expect(r.code, r.stderr).to.equal(0);
    const text = await readFile(blobCachePath({ homeDir: home }), 'utf8');
    const j = JSON.parse(text);
    expect(Object.keys(j.registries.r).length).to.be.greaterThan(0);
  });
});
