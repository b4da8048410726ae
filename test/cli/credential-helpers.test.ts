import { expect } from 'chai';
import path from 'node:path';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { useRegistry } from '../harness/registry.js';
import { buildImage, pushImage, type BuiltImage } from '../harness/images.js';
import { useCleanup } from '../harness/tmp.js';
import { ferryProcess } from '../harness/cli.js';
import { runOk } from '../harness/procs.js';
import { HELPER_LEAK, writeCredHelper, type TestCredHelper } from '../harness/cred-helper.js';

describe('cli: credential helpers (credHelpers, credsStore) against a registry with Basic auth', function () {
  this.timeout(120_000);
  const cleanup = useCleanup('after');
  const reg = useRegistry('basic');
  let image: BuiltImage;
  before(async () => {
    image = await buildImage(path.join(await cleanup.tempDir('ferry-credhelper-img-'), 'i'), { seed: 61 });
    await pushImage(image, reg(), 'team/app:1');
  });

  let dir: string;
  let helper: TestCredHelper;
  let authfile: string;
  beforeEach(async () => {
    dir = await cleanup.tempDir('ferry-credhelper-');
    helper = await writeCredHelper(path.join(dir, 'helper'));
    authfile = path.join(dir, 'auth.json');
  });
  /** bin/ferry with the helper on PATH and a home of its own (no auth file of the machine is read). */
  const ferryWithHelper = (args: string[], opts: { stdin?: string; env?: Record<string, string | undefined> } = {}) =>
    ferryProcess(args, { stdin: opts.stdin, env: { PATH: helper.path, HOME: dir, XDG_RUNTIME_DIR: path.join(dir, 'run'), XDG_CONFIG_HOME: undefined, DOCKER_CONFIG: undefined, REGISTRY_AUTH_FILE: undefined, ...opts.env } });
  const inspect = (extra: string[] = []) => ferryWithHelper(['inspect', '--raw', '--authfile', authfile, '--cert-dir', reg().certDir!, ...extra, `docker://${reg().host}/team/app:1`]);

  it('inspect takes the credentials from the credHelpers entry of the registry', async () => {
    await writeFile(authfile, JSON.stringify({ credHelpers: { [reg().host]: helper.name } }));
    await helper.put(reg().host, reg().username!, reg().password!);
    const r = await inspect();
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdoutBytes.equals(image.bytes)).to.equal(true);
    expect(await helper.calls()).to.deep.equal([`get ${reg().host}`]);
  });

  it('a credsStore in ~/.docker/config.json serves a registry no file has an entry for', async () => {
    await mkdir(path.join(dir, '.docker'));
    await writeFile(path.join(dir, '.docker/config.json'), JSON.stringify({ auths: {}, credsStore: helper.name }));
    await helper.put(reg().host, reg().username!, reg().password!);
    const r = await ferryWithHelper(['inspect', '--raw', '--cert-dir', reg().certDir!, `docker://${reg().host}/team/app:1`]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdoutBytes.equals(image.bytes)).to.equal(true);
  });

  it('a failing helper is an error naming it, without anything it printed, with --debug too', async () => {
    await writeFile(authfile, JSON.stringify({ credHelpers: { [reg().host]: helper.name } }));
    await helper.put(reg().host, reg().username!, reg().password!);
    await helper.setFailing(true);
    for (const extra of [[], ['--debug']]) {
      const r = await inspect(extra);
      expect(r.code).to.equal(1);
      expect(r.stderr.split('\n')[0]).to.equal(`Error: credential helper docker-credential-${helper.name} failed (get for ${reg().host}): exit status 3`);
      expect(r.stdout + r.stderr).not.to.contain(HELPER_LEAK);
    }
  });

  it('a missing helper is an error naming it', async () => {
    await writeFile(authfile, JSON.stringify({ credHelpers: { [reg().host]: 'absent' } }));
    const r = await inspect();
    expect(r.code).to.equal(1);
    expect(r.stderr).to.equal('Error: credential helper docker-credential-absent not found in $PATH\n');
  });

  it('login stores in the helper (never in the file), logout erases, logout --all empties the helper', async () => {
    const conf = { auths: {}, credHelpers: { [reg().host]: helper.name } };
    await writeFile(authfile, JSON.stringify(conf));
    const login = await ferryWithHelper(['login', '--authfile', authfile, '--cert-dir', reg().certDir!, '-u', reg().username!, '--password-stdin', reg().host], { stdin: reg().password! });
    expect(login.code, login.stderr).to.equal(0);
    expect(login.stdout).to.equal('Login Succeeded!\n');
    expect(await helper.entry(reg().host)).to.deep.equal({ ServerURL: reg().host, Username: reg().username, Secret: reg().password });
    expect(await readFile(authfile, 'utf8')).not.to.contain(Buffer.from(`${reg().username}:${reg().password}`).toString('base64'));
    expect(JSON.parse(await readFile(authfile, 'utf8'))).to.deep.equal(conf);

    const get = await ferryWithHelper(['login', '--get-login', '--authfile', authfile, reg().host]);
    expect(get.stdout).to.equal(`${reg().username}\n`);
    expect((await inspect()).code).to.equal(0);

    const out = await ferryWithHelper(['logout', '--authfile', authfile, reg().host]);
    expect(out.code, out.stderr).to.equal(0);
    expect(out.stdout).to.equal(`Removed login credentials for ${reg().host}\n`);
    expect(await helper.entry(reg().host)).to.equal(undefined);
    const again = await ferryWithHelper(['logout', '--authfile', authfile, reg().host]);
    expect(again.code).to.equal(1);
    expect(again.stderr).to.contain(`not logged into ${reg().host}`);
    const denied = await inspect();
    expect(denied.code).to.equal(1);
    expect(denied.stderr).to.match(/unauthorized|authentication required/);

    await helper.put(reg().host, 'x', 'y');
    const all = await ferryWithHelper(['logout', '--authfile', authfile, '--all']);
    expect(all.code, all.stderr).to.equal(0);
    expect(await helper.entry(reg().host)).to.equal(undefined);
  });

  describe("registries.conf's credential-helpers list", () => {
    let conf: string;
    const writeConf = async (helpers: string[]) => {
      conf = path.join(dir, 'registries.conf');
      await writeFile(conf, `credential-helpers = ${JSON.stringify(helpers)}\n`);
    };
    const withConf = (args: string[]) => [...args.slice(0, 1), '--registries-conf', conf, ...args.slice(1)];

    it('login stores in the first helper of the list, inspect and --get-login read it back, logout erases it', async () => {
      await writeConf([helper.name, 'containers-auth.json']);
      const login = await ferryWithHelper(withConf(['login', '--authfile', authfile, '--cert-dir', reg().certDir!, '-u', reg().username!, '--password-stdin', reg().host]), { stdin: reg().password! });
      expect(login.code, login.stderr).to.equal(0);
      expect(await helper.entry(reg().host)).to.deep.equal({ ServerURL: reg().host, Username: reg().username, Secret: reg().password });
      expect(await readFile(authfile, 'utf8').catch(() => 'absent')).to.equal('absent');

      const i = await ferryWithHelper(withConf(['inspect', '--raw', '--authfile', authfile, '--cert-dir', reg().certDir!, `docker://${reg().host}/team/app:1`]));
      expect(i.code, i.stderr).to.equal(0);
      expect(i.stdoutBytes.equals(image.bytes)).to.equal(true);
      const get = await ferryWithHelper(withConf(['login', '--get-login', '--authfile', authfile, reg().host]));
      expect(get.stdout).to.equal(`${reg().username}\n`);

      const out = await ferryWithHelper(withConf(['logout', '--authfile', authfile, reg().host]));
      expect(out.code, out.stderr).to.equal(0);
      expect(await helper.entry(reg().host)).to.equal(undefined);
    });

    it('asks the places in order: the auth file first when it is listed first, the helper when the file has nothing', async () => {
      await writeConf(['containers-auth.json', helper.name]);
      await helper.put(reg().host, reg().username!, reg().password!);
      const viaHelper = await ferryWithHelper(withConf(['inspect', '--raw', '--authfile', authfile, '--cert-dir', reg().certDir!, `docker://${reg().host}/team/app:1`]));
      expect(viaHelper.code, viaHelper.stderr).to.equal(0);
      expect(await helper.calls()).to.deep.equal([`get ${reg().host}`]);
      await writeFile(authfile, JSON.stringify({ auths: { [reg().host]: { auth: Buffer.from(`${reg().username}:${reg().password}`).toString('base64') } } }));
      const viaFile = await ferryWithHelper(withConf(['inspect', '--raw', '--authfile', authfile, '--cert-dir', reg().certDir!, `docker://${reg().host}/team/app:1`]));
      expect(viaFile.code, viaFile.stderr).to.equal(0);
      expect(await helper.calls()).to.deep.equal([`get ${reg().host}`]); // not asked again
    });

    it('passes over a missing or failing helper when a later place has the credentials; fails naming it when none has', async () => {
      await writeConf(['absent', 'containers-auth.json']);
      const login = await ferryWithHelper(withConf(['login', '--authfile', authfile, '--cert-dir', reg().certDir!, '-u', reg().username!, '-p', reg().password!, reg().host]));
      expect(login.code, login.stderr).to.equal(0);
      expect(Object.keys(JSON.parse(await readFile(authfile, 'utf8')).auths)).to.deep.equal([reg().host]);
      const ok = await ferryWithHelper(withConf(['inspect', '--raw', '--authfile', authfile, '--cert-dir', reg().certDir!, `docker://${reg().host}/team/app:1`]));
      expect(ok.code, ok.stderr).to.equal(0);

      await writeConf([helper.name]);
      await helper.setFailing(true);
      const r = await ferryWithHelper(withConf(['inspect', '--raw', '--authfile', authfile, '--cert-dir', reg().certDir!, `docker://${reg().host}/team/app:1`]));
      expect(r.code).to.equal(1);
      expect(r.stderr.split('\n')[0]).to.equal(`Error: credential helper docker-credential-${helper.name} failed (get for ${reg().host}): exit status 3`);
      expect(r.stdout + r.stderr).not.to.contain(HELPER_LEAK);
    });

    it('logout --all empties every place of the list; a helper that is not installed has nothing to remove', async () => {
      await writeConf([helper.name, 'absent', 'containers-auth.json']);
      await helper.put(reg().host, 'x', 'y');
      await helper.put('other.example', 'x', 'y');
      await writeFile(authfile, JSON.stringify({ auths: { 'third.example': { auth: Buffer.from('a:b').toString('base64') } } }));
      const all = await ferryWithHelper(withConf(['logout', '--authfile', authfile, '--all']));
      expect(all.code, all.stderr).to.equal(0);
      expect(await helper.entry(reg().host)).to.equal(undefined);
      expect(await helper.entry('other.example')).to.equal(undefined);
      expect(JSON.parse(await readFile(authfile, 'utf8')).auths).to.deep.equal({});
    });

    it('refuses a credential-helpers entry that is not a helper name', async () => {
      await writeConf(['../../bin/sh']);
      const r = await ferryWithHelper(withConf(['inspect', '--raw', '--authfile', authfile, '--cert-dir', reg().certDir!, `docker://${reg().host}/team/app:1`]));
      expect(r.code).to.equal(1);
      expect(r.stderr).to.equal(`Error: ${conf}: credential-helpers: "../../bin/sh" is not a helper name\n`);
    });
  });

  describe("Debian's docker-credential-pass over a test GnuPG home and pass store", () => {
    let env: Record<string, string>;
    beforeEach(async () => {
      const gnupg = path.join(dir, 'gnupg');
      await mkdir(gnupg, { mode: 0o700 });
      env = { GNUPGHOME: gnupg, PASSWORD_STORE_DIR: path.join(dir, 'pass-store') };
      await runOk('gpg', ['--batch', '--pinentry-mode', 'loopback', '--passphrase', '', '--quick-gen-key', 'ferry test <ferry@example.com>', 'default', 'default', 'never'], { env });
      const keys = await runOk('gpg', ['--list-keys', '--with-colons'], { env });
      const fpr = /^fpr:+([0-9A-F]{40}):/m.exec(keys.stdout)![1]!;
      await runOk('pass', ['init', fpr], { env });
    });
    afterEach(async () => {
      await runOk('gpgconf', ['--kill', 'all'], { env }).catch(() => undefined);
    });

    it('login stores into pass, inspect reads it back, logout erases it', async () => {
      await writeFile(authfile, JSON.stringify({ credHelpers: { [reg().host]: 'pass' } }));
      const login = await ferryWithHelper(['login', '--authfile', authfile, '--cert-dir', reg().certDir!, '-u', reg().username!, '-p', reg().password!, reg().host], { env });
      expect(login.code, login.stderr).to.equal(0);
      const stored = await readdir(path.join(env['PASSWORD_STORE_DIR']!, 'docker-credential-helpers'));
      expect(stored).to.have.length(1); // one folder per registry, holding the encrypted secret
      const listed = await runOk('docker-credential-pass', ['list'], { env });
      expect(JSON.parse(listed.stdout)).to.deep.equal({ [reg().host]: reg().username });

      const i = await ferryWithHelper(['inspect', '--raw', '--authfile', authfile, '--cert-dir', reg().certDir!, `docker://${reg().host}/team/app:1`], { env });
      expect(i.code, i.stderr).to.equal(0);
      expect(i.stdoutBytes.equals(image.bytes)).to.equal(true);

      const out = await ferryWithHelper(['logout', '--authfile', authfile, reg().host], { env });
      expect(out.code, out.stderr).to.equal(0);
      const after = await runOk('docker-credential-pass', ['list'], { env });
      expect(JSON.parse(after.stdout)).to.deep.equal({});
    });
  });
});
