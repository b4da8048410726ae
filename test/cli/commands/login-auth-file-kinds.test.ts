/**
 * login and logout edit the auth file only when it is a regular file (or missing): a symbolic link, a device node or a
 * FIFO at the path is refused in one line and left as it is, and nothing is written through it. Every path is a
 * bystander in a temporary directory (the device node is a copy of /dev/null's numbers made there).
 */
import { expect } from 'chai';
import path from 'node:path';
import { lstat, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { useRegistry } from '../../harness/registry.js';
import { useCleanup } from '../../harness/tmp.js';
import { ferryProcess } from '../../harness/cli.js';
import { run } from '../../harness/procs.js';

describe('cli/commands/login and logout: an auth file that is not a regular file (real registry, real bin/ferry)', function () {
  this.timeout(60_000);
  const cleanup = useCleanup('after');
  const reg = useRegistry('basic');

  const login = (authfile: string) =>
    ferryProcess(['login', '--authfile', authfile, '--cert-dir', reg().certDir!, '-u', reg().username!, '--password-stdin', reg().host], {
      stdin: reg().password + '\n',
      timeoutMs: 30_000,
    });
  const logout = (authfile: string, all = false) =>
    ferryProcess(['logout', '--authfile', authfile, ...(all ? ['--all'] : [reg().host])], { timeoutMs: 30_000 });

  it('a symbolic link is neither replaced nor written through (login, logout, logout --all)', async () => {
    const dir = await cleanup.tempDir('ferry-authkind-');
    const target = path.join(dir, 'real.json');
    const original = JSON.stringify({ auths: { [reg().host]: { auth: Buffer.from('someone:else').toString('base64') } } });
    await writeFile(target, original);
    const link = path.join(dir, 'auth.json');
    await symlink(target, link);
    for (const r of [await login(link), await logout(link), await logout(link, true)]) {
      expect(r.code, r.stderr).to.equal(1);
      expect(r.stderr.trim().split('\n')).to.have.length(1);
      expect(r.stderr).to.contain(`auth file ${link} is a symbolic link, not a regular file: refusing to replace it`);
      expect(r.stdout + r.stderr).not.to.contain(reg().password!);
      expect((await lstat(link)).isSymbolicLink()).to.equal(true);
      expect(await readlink(link)).to.equal(target);
      expect(await readFile(target, 'utf8')).to.equal(original);
    }
  });

  it('a character device and a FIFO are refused at once and stay what they are', async () => {
    const dir = await cleanup.tempDir('ferry-authkind-');
    const dev = path.join(dir, 'null');
    expect((await run('mknod', [dev, 'c', '1', '3'])).code).to.equal(0);
    const fifo = path.join(dir, 'fifo');
    expect((await run('mkfifo', [fifo])).code).to.equal(0);
    for (const [p, isKind, kind] of [[dev, 'isCharacterDevice', 'a character device'], [fifo, 'isFIFO', 'a FIFO']] as const) {
      for (const r of [await login(p), await logout(p)]) {
        expect(r.code, r.stderr).to.equal(1);
        expect(r.stderr).to.contain(`auth file ${p} is ${kind}, not a regular file: refusing to replace it`);
        expect((await lstat(p))[isKind]()).to.equal(true);
      }
    }
  });

  it('a regular file is still edited in place of itself (mode 0600)', async () => {
    const dir = await cleanup.tempDir('ferry-authkind-');
    const file = path.join(dir, 'auth.json');
    await writeFile(file, '{"auths":{}}');
    const r = await login(file);
    expect(r.code, r.stderr).to.equal(0);
    const st = await lstat(file);
    expect(st.isFile()).to.equal(true);
    expect(st.mode & 0o777).to.equal(0o600);
    expect((await logout(file)).code).to.equal(0);
  });
});
