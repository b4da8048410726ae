import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { access, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { makeTempDir } from '../../src/util/temp.js';
import { run } from '../harness/procs.js';
import { useCleanup } from '../harness/tmp.js';

const TEMP_MODULE = resolve('.build/src/util/temp.js');

async function exists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  );
}

describe('util/temp', () => {
  const cleanup = useCleanup();

  it('makeTempDir creates a fresh directory under `under` (created if missing); remove deletes it', async () => {
    const base = await cleanup.tempDir('temp');
    const t = await makeTempDir(join(base, 'sub'), 'copy-');
    expect(t.path.startsWith(join(base, 'sub', 'copy-'))).to.equal(true);
    await writeFile(join(t.path, 'x'), 'x');
    const t2 = await makeTempDir(join(base, 'sub'), 'copy-');
    expect(t2.path).to.not.equal(t.path);
    await t.remove();
    await t2.remove();
    expect(await exists(t.path)).to.equal(false);
  });

  it('a child process removes uncommitted temp dirs on exit and on SIGINT, keeps committed ones', async function () {
    this.timeout(30_000);
    const base = await cleanup.tempDir('temp');
    const script = `
      const { makeTempDir } = await import(${JSON.stringify(TEMP_MODULE)});
      const [base, how] = process.argv.slice(1);
      const a = await makeTempDir(base, 'drop-');
      const b = await makeTempDir(base, 'keep-');
      b.commit();
      process.stdout.write(a.path + '\\n' + b.path + '\\n');
      if (how === 'exit') process.exit(0);
      setInterval(() => {}, 1000);`;
    const r = await run(process.execPath, ['--input-type=module', '-e', script, base, 'exit']);
    expect(r.code, r.stderr).to.equal(0);
    const [dropped, kept] = r.stdout.trim().split('\n');
    expect(await exists(dropped!)).to.equal(false);
    expect(await exists(kept!)).to.equal(true);

    const child = spawn(process.execPath, ['--input-type=module', '-e', script, base, 'signal'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    await new Promise<void>((r2) =>
      child.stdout!.on('data', (b: Buffer) => {
        out += b.toString();
        if (out.split('\n').length > 2) r2();
      }),
    );
    child.kill('SIGINT');
    const sig = await new Promise((r2) => child.on('exit', (_c, s) => r2(s)));
    expect(sig).to.equal('SIGINT');
    const [d2, k2] = out.trim().split('\n');
    expect(await exists(d2!)).to.equal(false);
    expect(await exists(k2!)).to.equal(true);
  });
});
