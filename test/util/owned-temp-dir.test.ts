import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdir, readdir, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OWNER_LOCK, makeOwnedTempDir, removeAbandonedTempDirs } from '../../src/util/owned-temp-dir.js';
import { useCleanup } from '../harness/tmp.js';

const MODULE = fileURLToPath(new URL('../../src/util/owned-temp-dir.js', import.meta.url));

/** A real process that creates an owned temp dir in `parent`, reports it, and waits to be killed. */
async function ownerProcess(parent: string): Promise<{ dir: string; kill: () => Promise<void> }> {
  const code = `const { makeOwnedTempDir } = await import(${JSON.stringify(MODULE)});
    const d = await makeOwnedTempDir(${JSON.stringify(parent)}, '.stage-');
    process.stdout.write(d.path + '\\n');
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const dir = await new Promise<string>((resolve, reject) => {
    child.stdout.once('data', (b: Buffer) => resolve(b.toString().trim()));
    child.once('exit', () => reject(new Error('owner process exited early')));
  });
  return {
    dir,
    kill: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

describe('util/owned-temp-dir: staging directories a later run cleans up after a killed one', function () {
  this.timeout(20_000);
  const cleanup = useCleanup();

  it("keeps a live owner's directory, removes it once its owner was killed, and our own stays ours", async () => {
    const parent = await cleanup.tempDir('owned');
    const live = await ownerProcess(parent);
    const mine = await makeOwnedTempDir(parent, '.stage-');
    const name = (p: string) => p.slice(parent.length + 1);
    expect(await removeAbandonedTempDirs(parent, '.stage-')).to.deep.equal([]);
    await live.kill();
    expect(await removeAbandonedTempDirs(parent, '.stage-')).to.deep.equal([name(live.dir)]);
    expect((await readdir(parent)).sort()).to.deep.equal([name(mine.path)]);
    expect(await readdir(mine.path)).to.include(OWNER_LOCK);
    await mine.remove();
    expect(await readdir(parent)).to.deep.equal([]);
  });

  it('an unlocked directory counts as abandoned only once it is old; other names are never touched', async () => {
    const parent = await cleanup.tempDir('owned-old');
    await mkdir(join(parent, '.stage-fresh'));
    await mkdir(join(parent, '.stage-old'));
    await mkdir(join(parent, 'other-old'));
    const old = new Date(Date.now() - 3600_000);
    await utimes(join(parent, '.stage-old'), old, old);
    await utimes(join(parent, 'other-old'), old, old);
    expect(await removeAbandonedTempDirs(parent, '.stage-')).to.deep.equal(['.stage-old']);
    expect((await readdir(parent)).sort()).to.deep.equal(['.stage-fresh', 'other-old']);
  });
});
