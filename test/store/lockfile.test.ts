import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LockFile } from '../../src/store/lockfile.js';
import { spawn } from 'node:child_process';
import { run } from '../harness/procs.js';

/** Asks another process (python's fcntl.lockf, the same record locks) whether it can take the lock now. */
async function otherProcessCanLock(path: string, exclusive: boolean): Promise<boolean> {
  const code = `import fcntl,sys\nf=open(sys.argv[1],'r+')\ntry:\n fcntl.lockf(f, (fcntl.LOCK_EX if sys.argv[2]=='1' else fcntl.LOCK_SH)|fcntl.LOCK_NB)\n print('yes')\nexcept OSError:\n print('no')\n`;
  const r = await run('python3', ['-c', code, path, exclusive ? '1' : '0']);
  return r.stdout.trim() === 'yes';
}

describe('store: lock files (fcntl, containers/storage compatible)', function () {
  this.timeout(10000);
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'ferry-lock-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('excludes other processes while held for writing, shares with readers while held for reading', async () => {
    const path = join(dir, 'layers.lock');
    const lock = new LockFile(path);
    const release = await lock.lock('write');
    expect(await otherProcessCanLock(path, false)).to.equal(false);
    release();
    const r = await lock.lock('read');
    expect(await otherProcessCanLock(path, false)).to.equal(true);
    expect(await otherProcessCanLock(path, true)).to.equal(false);
    r();
    expect(await otherProcessCanLock(path, true)).to.equal(true);
    lock.closeIfIdle();
  });

  it('writes a new 64-byte last-write token when a writer releases', async () => {
    const path = join(dir, 'images.lock');
    const lock = new LockFile(path);
    (await lock.lock('write'))();
    const first = readFileSync(path);
    expect(first.length).to.equal(64);
    expect(first.readUInt32LE(16)).to.equal(process.pid);
    (await lock.lock('write'))();
    expect(readFileSync(path).equals(first)).to.equal(false);
    (await lock.lock('write'))({ modified: false });
    (await lock.lock('read'))();
    lock.closeIfIdle();
  });

  it('serializes writers and shares readers inside the process', async () => {
    const lock = new LockFile(join(dir, 'x.lock'));
    const events: string[] = [];
    const w1 = await lock.lock('write');
    const p2 = lock.lock('write').then((rel) => { events.push('w2'); rel(); });
    const p3 = lock.lock('read').then((rel) => { events.push('r3'); return rel; });
    const p4 = lock.lock('read').then((rel) => { events.push('r4'); return rel; });
    await new Promise((r) => setTimeout(r, 20));
    expect(events).to.deep.equal([]);
    w1();
    await p2;
    const [r3, r4] = await Promise.all([p3, p4]);
    expect(events[0]).to.equal('w2');
    expect([...events].sort()).to.deep.equal(['r3', 'r4', 'w2']);
    r3();
    r4();
    lock.closeIfIdle();
  });

  it('waits for another process to release, and gives up when aborted', async () => {
    const path = join(dir, 'wait.lock');
    const lock = new LockFile(path);
    (await lock.lock('write'))();
    const holder = spawn('python3', ['-c', `import fcntl,sys,time\nf=open(sys.argv[1],'r+')\nfcntl.lockf(f, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(0.5)\n`, path], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((r) => holder.once('exit', r));
    await new Promise<void>((resolve) => holder.stdout!.on('data', (d: Buffer) => d.toString().includes('held') && resolve()));
    const heldAt = Date.now();
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    let aborted = false;
    try {
      (await lock.lock('write', { signal: ac.signal }))();
    } catch {
      aborted = true;
    }
    expect(aborted).to.equal(true);
    (await lock.lock('write'))();
    expect(Date.now() - heldAt, 'the lock was taken while the other process still held it').to.be.greaterThan(400);
    await exited;
    lock.closeIfIdle();
  });
});
