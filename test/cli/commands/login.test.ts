import { expect } from 'chai';
import path from 'node:path';
import { readFile, stat } from 'node:fs/promises';
import { useRegistry } from '../../harness/registry.js';
import { buildImage, pushImage } from '../../harness/images.js';
import { useCleanup } from '../../harness/tmp.js';
import { ferry, ferryProcess } from '../../harness/cli.js';

describe('cli/commands/login and logout (real registries)', function () {
  this.timeout(60_000);
  const cleanup = useCleanup('after');

  for (const mode of ['basic', 'token'] as const) {
    describe(`${mode} registry`, () => {
      const reg = useRegistry(mode);
      let authfile: string;
      beforeEach(async () => {
        authfile = path.join(await cleanup.tempDir('ferry-login-'), 'sub', 'auth.json');
      });

      it('checks the credentials, saves them with mode 0600, and inspect then uses them', async () => {
        const image = await buildImage(path.join(await cleanup.tempDir('ferry-login-img-'), 'l'), { seed: 21 });
        await pushImage(image, reg(), 'team/app:1');
        const r = await ferry(['login', '--authfile', authfile, '--cert-dir', reg().certDir!, '--username', reg().username!, '--password-stdin', reg().host], {
          stdin: reg().password + '\n',
        });
        expect(r.code, r.stderr).to.equal(0);
        expect(r.stdout).to.equal('Login Succeeded!\n');
        expect(r.stdout + r.stderr).not.to.contain(reg().password!);
        expect((await stat(authfile)).mode & 0o777).to.equal(0o600);
        const saved = JSON.parse(await readFile(authfile, 'utf8'));
        expect(Buffer.from(saved.auths[reg().host].auth, 'base64').toString()).to.equal(`${reg().username}:${reg().password}`);

        const i = await ferry(['inspect', '--raw', '--authfile', authfile, '--cert-dir', reg().certDir!, `docker://${reg().host}/team/app:1`]);
        expect(i.code, i.stderr).to.equal(0);
        expect(i.stdoutBytes.equals(image.bytes)).to.equal(true);

        const g = await ferry(['login', '--get-login', '--authfile', authfile, reg().host]);
        expect(g.stdout).to.equal(`${reg().username}\n`);
      });

      it('refuses a wrong password without saving it or printing it', async () => {
        const wrong = 'definitely-Wrong-pw-42';
        const r = await ferry(['login', '--authfile', authfile, '--cert-dir', reg().certDir!, '-u', reg().username!, '-p', wrong, reg().host]);
        expect(r.code).to.equal(1);
        expect(r.stderr).to.match(/^Error: .*(unauthorized|invalid username\/password|authentication)/i);
        expect(r.stdout + r.stderr).not.to.contain(wrong);
        const exists = await stat(authfile).then(() => true, () => false);
        expect(exists).to.equal(false);
      });

      it('logout removes one entry and keeps the others; --all removes every one', async () => {
        const login = await ferry(['login', '--authfile', authfile, '--cert-dir', reg().certDir!, '-u', reg().username!, '-p', reg().password!, reg().host]);
        expect(login.code, login.stderr).to.equal(0);
        const login2 = await ferry(['login', '--authfile', authfile, '--cert-dir', reg().certDir!, '-u', reg().username!, '-p', reg().password!, `${reg().host}/team/app`]);
        expect(login2.code, login2.stderr).to.equal(0);
        const out = await ferry(['logout', '--authfile', authfile, reg().host]);
        expect(out.code, out.stderr).to.equal(0);
        expect(out.stdout).to.equal(`Removed login credentials for ${reg().host}\n`);
        const left = JSON.parse(await readFile(authfile, 'utf8'));
        expect(Object.keys(left.auths)).to.deep.equal([`${reg().host}/team/app`]);
        const again = await ferry(['logout', '--authfile', authfile, reg().host]);
        expect(again.code).to.equal(1);
        expect(again.stderr).to.contain(`not logged into ${reg().host}`);
        const all = await ferry(['logout', '--authfile', authfile, '--all']);
        expect(all.code).to.equal(0);
        expect(JSON.parse(await readFile(authfile, 'utf8')).auths).to.deep.equal({});
      });

      it('without a terminal and without a password, says which flag to use', async () => {
        const r = await ferryProcess(['login', '--authfile', authfile, '--cert-dir', reg().certDir!, '-u', reg().username!, reg().host]);
        expect(r.code).to.equal(1);
        expect(r.stderr).to.contain('--password-stdin');
      });
    });
  }

  describe('REGISTRY_AUTH_FILE', () => {
    const reg = useRegistry('basic');
    it('is where login writes when --authfile is absent', async () => {
      const file = path.join(await cleanup.tempDir('ferry-login-env-'), 'auth.json');
      const r = await ferry(['login', '--cert-dir', reg().certDir!, '-u', reg().username!, '-p', reg().password!, reg().host], {
        env: { REGISTRY_AUTH_FILE: file },
      });
      expect(r.code, r.stderr).to.equal(0);
      expect(Object.keys(JSON.parse(await readFile(file, 'utf8')).auths)).to.deep.equal([reg().host]);
    });
  });
});
