import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ferry, ferryProcess, ROOT } from '../harness/cli.js';
import { VERSION } from '../../src/version.js';

describe('cli/main', () => {
  it('prints the version from package.json', async () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    expect(VERSION).to.equal(pkg.version);
    const r = await ferry(['--version']);
    expect(r.code).to.equal(0);
    expect(r.stdout.trim()).to.equal(VERSION);
  });

  it('lists every command in --help', async () => {
    const r = await ferry(['--help']);
    expect(r.code).to.equal(0);
    for (const c of ['inspect', 'list-tags', 'manifest-digest', 'login', 'logout']) expect(r.stdout).to.contain(c);
  });

  it('prints command help with its flags', async () => {
    const r = await ferry(['inspect', '--help']);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.contain('--raw').and.contain('--tls-verify').and.contain('--override-arch');
  });

  it('fails with one line and status 1 on an unknown command', async () => {
    const r = await ferry(['frobnicate']);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/^Error: .*frobnicate/);
    expect(r.stdout).to.equal('');
  });

  it('does not run a command whose arguments failed validation', async () => {
    const { mkdtemp, readdir, rm, writeFile } = await import('node:fs/promises');
    const os = await import('node:os');
    const { openpgp } = await import('../../src/signature/openpgp.js');
    const pgp = await openpgp();
    const { privateKey } = await pgp.generateKey({ type: 'ecc', userIDs: [{ name: 't', email: 't@example.com' }], format: 'armored' });
    const fingerprint = (await pgp.readPrivateKey({ armoredKey: privateKey })).getFingerprint().toUpperCase();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-cwd-'));
    const cwd = process.cwd();
    try {
      await writeFile(path.join(dir, 'key.asc'), privateKey);
      await writeFile(path.join(dir, 'manifest.json'), '{"schemaVersion":2}');
      process.chdir(dir);
      // everything a signature needs except the required --output: the handler must not run (it once wrote "undefined")
      const r = await ferry(['standalone-sign', '--key', 'key.asc', 'manifest.json', 'example.com/a:1', fingerprint]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.contain('output');
      expect((await readdir(dir)).sort()).to.deep.equal(['key.asc', 'manifest.json']);
    } finally {
      process.chdir(cwd);
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('fails on a missing argument and on an unknown flag', async () => {
    expect((await ferry(['inspect'])).code).to.equal(1);
    const r = await ferry(['inspect', '--no-such-flag', 'docker://x']);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain('no-such-flag');
  });

  it('runs as a real process through bin/ferry', async () => {
    const r = await ferryProcess(['--version']);
    expect(r.code).to.equal(0);
    expect(r.stdout.trim()).to.equal(VERSION);
  });
});
