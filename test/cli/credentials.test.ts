/**
 * Credentials in the words ferry prints, through the real `bin/ferry` against real registries (plain, htpasswd and
 * token): image names typed with `user:password@` are never echoed, and authentication failures carry the registry's
 * own message in skopeo 1.9.3's words (compared with skopeo run against the same registry).
 */
import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { useRegistry, type RegistryMode, type TestRegistry } from '../harness/registry.js';
import { buildImage, pushImage, type BuiltImage } from '../harness/images.js';
import { useCleanup } from '../harness/tmp.js';
import { run } from '../harness/procs.js';
import { ferryProcess, type CliResult } from '../harness/cli.js';

const SECRET = 'N0t-To-Be-Echoed-pw';
const USER = 'scriptuser';

describe('cli: credentials never printed, registry words kept (real registries, real bin/ferry)', function () {
  this.timeout(180_000);
  const cleanup = useCleanup('after');
  let dir: string;
  let image: BuiltImage;
  let conf: string;

  before(async () => {
    dir = await cleanup.tempDir('cli-creds');
    image = await buildImage(path.join(dir, 'img'), { seed: 51, layers: 1, layerSize: 2000 });
    conf = path.join(dir, 'registries.conf');
    await writeFile(conf, '');
    await writeFile(path.join(dir, 'empty-auth.json'), '{}');
  });

  /** An environment that reads no auth file and no registries.conf of the machine. */
  const env = () => ({ HOME: dir, XDG_RUNTIME_DIR: dir, REGISTRY_AUTH_FILE: path.join(dir, 'empty-auth.json'), CONTAINERS_REGISTRIES_CONF: conf });
  const ferry = (args: string[]) => ferryProcess(args, { env: env() });
  const skopeo = (args: string[]) => run('skopeo', args, { env: { ...process.env, ...env() } });

  /** skopeo's fatal message, unquoted (`time=… level=fatal msg="…"`). */
  const skopeoMessage = (stderr: string): string => {
    const m = /level=fatal msg="((?:[^"\\]|\\.)*)"/.exec(stderr);
    return m ? (JSON.parse(`"${m[1]}"`) as string) : stderr;
  };

  function expectNoSecret(r: CliResult, ...secrets: string[]): void {
    for (const s of [SECRET, Buffer.from(`${USER}:${SECRET}`).toString('base64'), ...secrets]) {
      expect(r.stdout + r.stderr, 'output').not.to.contain(s);
    }
  }

  for (const mode of ['http', 'basic', 'token'] as RegistryMode[]) {
    describe(`image names with user information (${mode} registry)`, () => {
      const registry = useRegistry(mode);
      const tls = (reg: TestRegistry, side = '') => (reg.mode === 'http' ? [`--${side}tls-verify=false`] : [`--${side}cert-dir`, reg.certDir!]);

      it('inspect, copy (either side), sync, delete and list-tags redact user:password@ and user@, also with --debug', async () => {
        const reg = registry();
        const named = `${USER}:${SECRET}@${reg.host}/team/app`;
        const userOnly = `${USER}@${reg.host}/team/app`;
        const out = path.join(dir, `out-${mode}`);
        const cases: string[][] = [];
        for (const n of [named, userOnly]) {
          cases.push(
            ['inspect', ...tls(reg), `docker://${n}:1`],
            ['copy', ...tls(reg, 'src-'), `docker://${n}:1`, `dir:${out}`],
            ['copy', ...tls(reg, 'dest-'), `oci:${path.join(dir, 'img')}`, `docker://${n}:1`],
            ['sync', ...tls(reg, 'src-'), '--src', 'docker', '--dest', 'dir', n, out],
            ['delete', ...tls(reg), `docker://${n}:1`],
            ['list-tags', ...tls(reg), `docker://${n}`],
            ['inspect', ...tls(reg), n],
          );
        }
        const runs = cases.flatMap((args, i) => (i < cases.length / 2 ? [args, ['--debug', ...args]] : [args]));
        // three at a time: each is a process that fails at once
        for (let i = 0; i < runs.length; i += 3) {
          await Promise.all(runs.slice(i, i + 3).map(async (argv) => {
            const r = await ferry(argv);
            const label = `ferry ${argv.join(' ')}: ${r.stderr}`;
            expect(r.code, label).to.equal(1);
            expect(r.stderr, label).to.contain('***@');
            expect(r.stderr, label).not.to.contain(`${USER}:`);
            expect(r.stderr, label).not.to.contain(`${USER}@`);
            expectNoSecret(r, USER);
          }));
        }
      });
    });
  }

  describe('authentication failures in the registry\'s words (htpasswd registry)', () => {
    const registry = useRegistry('basic', { username: USER, password: SECRET });
    before(async () => pushImage(image, registry(), 'team/app:1', { username: USER, password: SECRET }));

    it('a wrong password or none: the image named as skopeo does, the registry\'s message, no invented words', async () => {
      const reg = registry();
      for (const creds of [[], ['--creds', `${USER}:wrong-${SECRET}`]]) {
        const args = ['inspect', '--cert-dir', reg.certDir!, ...creds, `docker://${reg.host}/team/app:1`];
        const r = await ferry(args);
        const expected = `reading manifest 1 in ${reg.host}/team/app: unauthorized: authentication required`;
        expect(r.stderr).to.equal(`Error: ${expected}\n`);
        expect(skopeoMessage((await skopeo(args)).stderr)).to.contain(expected);
        expectNoSecret(r, `wrong-${SECRET}`);
      }
      for (const [cmd, ...rest] of [
        ['copy', '--src-cert-dir', reg.certDir!, '--src-creds', `${USER}:bad`, `docker://${reg.host}/team/app:1`, `dir:${path.join(dir, 'o1')}`],
        ['delete', '--cert-dir', reg.certDir!, '--creds', `${USER}:bad`, `docker://${reg.host}/team/app:1`],
        ['list-tags', '--cert-dir', reg.certDir!, '--creds', `${USER}:bad`, `docker://${reg.host}/team/app`],
        ['sync', '--src-cert-dir', reg.certDir!, '--src-creds', `${USER}:bad`, '--src', 'docker', '--dest', 'dir', `${reg.host}/team/app`, path.join(dir, 's1')],
      ]) {
        const r = await ferry([cmd!, ...rest]);
        expect(r.code, r.stderr).to.equal(1);
        expect(r.stderr, cmd).to.contain('unauthorized: authentication required');
        expect(r.stderr, cmd).not.to.contain('invalid username/password');
        expect(r.stderr, cmd).to.contain(`${reg.host}/team/app`);
        expectNoSecret(r);
      }
    });

    it('a push without credentials names the repository and the registry\'s message, as skopeo', async () => {
      const reg = registry();
      const args = ['copy', '--dest-cert-dir', reg.certDir!, `oci:${path.join(dir, 'img')}`, `docker://${reg.host}/team/other:1`];
      const r = await ferry(args);
      const layer = image.manifests[0]!.layers[0]!.digest;
      const expected = `checking whether a blob ${layer} exists in ${reg.host}/team/other: unauthorized: authentication required`;
      expect(r.stderr).to.contain(expected);
      expect(skopeoMessage((await skopeo(['copy', '--dest-cert-dir', reg.certDir!, `dir:${await skopeoDir(reg)}`, args[4]!])).stderr)).to.contain(expected);
    });

    /** skopeo 1.9.3 cannot read the test's OCI layout by tag in every case: give it a dir: copy made by ferry. */
    async function skopeoDir(reg: TestRegistry): Promise<string> {
      const d = path.join(dir, `skopeo-src-${reg.host.replace(/\W/g, '')}`);
      const r = await ferry(['copy', `oci:${path.join(dir, 'img')}`, `dir:${d}`]);
      expect(r.code, r.stderr).to.equal(0);
      return d;
    }

    it('login with a wrong password: skopeo\'s words, then the registry\'s', async () => {
      const reg = registry();
      const args = ['login', '--authfile', path.join(dir, 'l.json'), '--cert-dir', reg.certDir!, '-u', USER, '-p', `x${SECRET}`, reg.host];
      const r = await ferry(args);
      expect(r.stderr).to.equal(`Error: logging into "${reg.host}": invalid username/password: unauthorized: authentication required\n`);
      expect(skopeoMessage((await skopeo(args)).stderr)).to.equal(`logging into "${reg.host}": invalid username/password`);
      expectNoSecret(r, `x${SECRET}`);
    });
  });

  describe('authentication failures in the token server\'s words (token registry)', () => {
    const registry = useRegistry('token', { username: USER, password: SECRET });
    before(async () => pushImage(image, registry(), 'team/app:1', { username: USER, password: SECRET }));

    it('a wrong password: the image, then containers/image\'s words and the token server\'s message, as skopeo', async () => {
      const reg = registry();
      const args = ['inspect', '--cert-dir', reg.certDir!, '--creds', `${USER}:bad-${SECRET}`, `docker://${reg.host}/team/app:1`];
      const r = await ferry(args);
      const said = 'unable to retrieve auth token: invalid username/password: unauthorized: authentication failed';
      expect(r.stderr).to.equal(`Error: reading manifest 1 in ${reg.host}/team/app: ${said}\n`);
      expect(skopeoMessage((await skopeo(args)).stderr)).to.contain(said);
      expectNoSecret(r, `bad-${SECRET}`);
      const login = await ferry(['login', '--authfile', path.join(dir, 't.json'), '--cert-dir', reg.certDir!, '-u', USER, '-p', 'nope', reg.host]);
      expect(login.stderr).to.equal(`Error: logging into "${reg.host}": invalid username/password: unauthorized: authentication failed\n`);
    });
  });
});
