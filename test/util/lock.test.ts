import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { lstat, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, FerryError } from '../../src/errors.js';
import { acquireLock, withLock } from '../../src/util/lock.js';
import { run } from '../harness/procs.js';
import { useCleanup } from '../harness/tmp.js';

/** Compiled lock module, for child processes. */
const LOCK_MODULE = resolve('.build/src/util/lock.js');

/** A pid that is certainly dead: a child that already exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => child.on('exit', r));
  return child.pid!;
}

describe('util/lock', () => {
  const cleanup = useCleanup();

  it('withLock runs fn under the lock and removes it afterwards, even when fn throws', async () => {
    const dir = await cleanup.tempDir('lock');
    const lockPath = join(dir, 'index.json.lock');
    const r = await withLock(lockPath, async () => {
      const owner = JSON.parse(await readFile(lockPath, 'utf8'));
      expect(owner.pid).to.equal(process.pid);
      expect(owner.hostname).to.equal(hostname());
      return 42;
    });
    expect(r).to.equal(42);
    expect(await readdir(dir)).to.deep.equal([]);
    let err: unknown;
    await withLock(lockPath, async () => {
      throw new Error('inside');
    }).catch((e) => (err = e));
    expect((err as Error).message).to.equal('inside');
    expect(await readdir(dir)).to.deep.equal([]);
  });

  it('serialises holders in one process and times out while a live process holds it', async () => {
    const dir = await cleanup.tempDir('lock');
    const lockPath = join(dir, 'l');
    const held = await acquireLock(lockPath);
    let got = false;
    const waiter = withLock(lockPath, async () => {
      got = true;
    });
    await sleep(50);
    expect(got).to.equal(false);
    const t0 = Date.now();
    const e = (await acquireLock(lockPath, { timeoutMs: 100 }).catch((x) => x)) as FerryError;
    expect(e.code).to.equal(ErrorCode.Io);
    expect(e.message).to.contain(`pid ${process.pid}`);
    expect(Date.now() - t0).to.be.within(90, 1000);
    await held.release();
    await waiter;
    expect(got).to.equal(true);
  });

  it('a lock path that is a symbolic link (to a device, to a file) is not followed: no endless read, the target untouched', async () => {
    const dir = await cleanup.tempDir('lock-link');
    const bystander = join(dir, 'bystander');
    await writeFile(bystander, 'keep me\n');
    for (const target of ['/dev/zero', bystander]) {
      const lockPath = join(dir, `l-${target === bystander ? 'file' : 'zero'}`);
      await symlink(target, lockPath);
      // someone else's "lock": never ours to take, read or break; the wait ends at the timeout
      const e = (await acquireLock(lockPath, { timeoutMs: 200 }).catch((x) => x)) as FerryError;
      expect(e, target).to.be.instanceOf(FerryError);
      expect(e.code, target).to.equal(ErrorCode.Io);
      expect((await lstat(lockPath)).isSymbolicLink(), target).to.equal(true);
    }
    expect(await readFile(bystander, 'utf8')).to.equal('keep me\n');
  });

  it('stops waiting with E_ABORTED when the signal aborts', async () => {
    const dir = await cleanup.tempDir('lock');
    const lockPath = join(dir, 'l');
    const held = await acquireLock(lockPath);
    const ac = new AbortController();
    const p = acquireLock(lockPath, { signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    const e = (await p.catch((x) => x)) as FerryError;
    expect(e.code).to.equal(ErrorCode.Aborted);
    await held.release();
    expect(await readdir(dir)).to.deep.equal([]);
  });

  it('breaks a stale lock of a dead process on this host, not one of another host', async () => {
    const dir = await cleanup.tempDir('lock');
    const lockPath = join(dir, 'l');
    const pid = await deadPid();
    await writeFile(lockPath, JSON.stringify({ pid, hostname: hostname(), acquired: 0, token: 'dead' }));
    const lock = await acquireLock(lockPath, { timeoutMs: 2000 });
    expect(JSON.parse(await readFile(lockPath, 'utf8')).pid).to.equal(process.pid);
    await lock.release();

    await writeFile(lockPath, JSON.stringify({ pid, hostname: 'some-other-host.example', acquired: 0, token: 'remote' }));
    const e = (await acquireLock(lockPath, { timeoutMs: 100 }).catch((x) => x)) as FerryError;
    expect(e.code).to.equal(ErrorCode.Io);
    expect(e.message).to.contain('some-other-host.example');
  });

  it('treats a live pid with another start time (pid reuse) as stale', async function () {
    if (process.platform !== 'linux') this.skip();
    const dir = await cleanup.tempDir('lock');
    const lockPath = join(dir, 'l');
    await writeFile(lockPath, JSON.stringify({ pid: process.pid, hostname: hostname(), procStart: '1', acquired: 0, token: 'reused' }));
    const lock = await acquireLock(lockPath, { timeoutMs: 2000 });
    await lock.release();
    expect(await readdir(dir)).to.deep.equal([]);
  });

  it('several processes appending to one JSON file under the lock lose nothing', async function () {
    this.timeout(60_000);
    const dir = await cleanup.tempDir('lock');
    const file = join(dir, 'index.json');
    await writeFile(file, '[]');
    const workers = 6;
    const perWorker = 15;
    const script = `
      const { withLock } = await import(${JSON.stringify(LOCK_MODULE)});
      const { readFile, writeFile } = await import('node:fs/promises');
      const [file, id, n] = process.argv.slice(1);
      for (let i = 0; i < Number(n); i++) {
        await withLock(file + '.lock', async () => {
          const list = JSON.parse(await readFile(file, 'utf8'));
          await new Promise((r) => setImmediate(r));
          list.push(id + ':' + i);
          await writeFile(file, JSON.stringify(list));
        }, { timeoutMs: 30000 });
      }`;
    const results = await Promise.all(
      Array.from({ length: workers }, (_, w) => run(process.execPath, ['--input-type=module', '-e', script, file, `w${w}`, String(perWorker)], { timeoutMs: 50_000 })),
    );
    for (const r of results) expect(r.code, r.stderr).to.equal(0);
    const list = JSON.parse(await readFile(file, 'utf8')) as string[];
    expect(list).to.have.length(workers * perWorker);
    expect(new Set(list).size).to.equal(workers * perWorker);
    expect(await readdir(dir)).to.deep.equal(['index.json']);
  });

  it('a process killed while holding the lock does not block others', async function () {
    this.timeout(30_000);
    const dir = await cleanup.tempDir('lock');
    const lockPath = join(dir, 'l');
    const script = `
      const { acquireLock } = await import(${JSON.stringify(LOCK_MODULE)});
      await acquireLock(process.argv[1]);
      process.stdout.write('held\\n');
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, lockPath], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((r) => child.stdout!.once('data', () => r()));
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    const lock = await acquireLock(lockPath, { timeoutMs: 5000 });
    await lock.release();
    expect(await readdir(dir)).to.deep.equal([]);
  });

  it('a process exiting (or killed by SIGTERM) while holding the lock releases it', async function () {
    this.timeout(30_000);
    const dir = await cleanup.tempDir('lock');
    const lockPath = join(dir, 'l');
    for (const how of ['exit', 'SIGTERM']) {
      const script = `
        const { acquireLock } = await import(${JSON.stringify(LOCK_MODULE)});
        await acquireLock(process.argv[1]);
        if (process.argv[2] === 'exit') process.exit(3);
        process.stdout.write('held\\n');
        setInterval(() => {}, 1000);`;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script, lockPath, how], { stdio: ['ignore', 'pipe', 'inherit'] });
      if (how === 'SIGTERM') {
        await new Promise<void>((r) => child.stdout!.once('data', () => r()));
        child.kill('SIGTERM');
      }
      const [code, sig] = (await new Promise((r) => child.on('exit', (c, s) => r([c, s])))) as [number | null, string | null];
      if (how === 'exit') expect(code).to.equal(3);
      else expect(sig).to.equal('SIGTERM');
      expect(await readdir(dir), how).to.deep.equal([]);
    }
  });
});
