/**
 * The authentication flags skopeo scripts use, through the real `bin/ferry` against a real htpasswd registry:
 * `copy`/`sync --authfile` (one file for both sides), the hidden `--screds`/`--dcreds`, `login -v`,
 * `logout --tls-verify`, and `--compat-auth-file` (a Docker-format config.json) for login and logout.
 */
import { expect } from 'chai';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { useRegistry } from '../harness/registry.js';
import { buildImage, pushImage } from '../harness/images.js';
import { useCleanup } from '../harness/tmp.js';
import { run } from '../harness/procs.js';
import { ferryProcess, type CliResult } from '../harness/cli.js';

const USER = 'flaguser';
const SECRET = 'Fl4g-secret-pw';

describe('cli: authentication flags of skopeo (real htpasswd registry, real bin/ferry)', function () {
  this.timeout(120_000);
  const cleanup = useCleanup('after');
  const registry = useRegistry('basic', { username: USER, password: SECRET });
  let dir: string;
  let authFile: string;
  let empty: string;

  before(async () => {
    dir = await cleanup.tempDir('cli-auth-flags');
    const image = await buildImage(path.join(dir, 'img'), { seed: 61, layers: 1, layerSize: 1500 });
    await pushImage(image, registry(), 'team/app:1', { username: USER, password: SECRET });
    await writeFile(path.join(dir, 'registries.conf'), '');
    empty = path.join(dir, 'empty.json');
    await writeFile(empty, '{}');
    authFile = path.join(dir, 'auth.json');
    const r = await ferry(['login', '--authfile', authFile, '--cert-dir', registry().certDir!, '-u', USER, '-p', SECRET, registry().host]);
    expect(r.code, r.stderr).to.equal(0);
  });

  const env = () => ({ HOME: dir, XDG_RUNTIME_DIR: dir, REGISTRY_AUTH_FILE: empty, CONTAINERS_REGISTRIES_CONF: path.join(dir, 'registries.conf') });
  const ferry = (args: string[]) => ferryProcess(args, { env: env() });
  const skopeo = (args: string[]) => run('skopeo', args, { env: { ...process.env, ...env() } });
  const noSecret = (r: CliResult) => expect(r.stdout + r.stderr).not.to.contain(SECRET);

  it('copy --authfile is the auth file of both sides; --src-authfile/--dest-authfile take precedence', async () => {
    const reg = registry();
    const certs = ['--src-cert-dir', reg.certDir!, '--dest-cert-dir', reg.certDir!];
    const both = await ferry(['copy', '--authfile', authFile, ...certs, `docker://${reg.host}/team/app:1`, `docker://${reg.host}/team/copy:1`]);
    expect(both.code, both.stderr).to.equal(0);
    const srcWins = await ferry(['copy', '--authfile', empty, '--src-authfile', authFile, ...certs, `docker://${reg.host}/team/app:1`, `dir:${path.join(dir, 'o1')}`]);
    expect(srcWins.code, srcWins.stderr).to.equal(0);
    const srcLoses = await ferry(['copy', '--authfile', authFile, '--src-authfile', empty, ...certs, `docker://${reg.host}/team/app:1`, `dir:${path.join(dir, 'o2')}`]);
    expect(srcLoses.code).to.equal(1);
    expect(srcLoses.stderr).to.contain('unauthorized: authentication required');
    for (const r of [both, srcWins, srcLoses]) noSecret(r);
  });

  it('sync --authfile serves both sides', async () => {
    const reg = registry();
    const r = await ferry(['sync', '--authfile', authFile, '--src-cert-dir', reg.certDir!, '--src', 'docker', '--dest', 'dir', `${reg.host}/team/app`, path.join(dir, 'mirror')]);
    expect(r.code, r.stderr).to.equal(0);
    expect(JSON.parse(await readFile(path.join(dir, 'mirror', 'app:1', 'manifest.json'), 'utf8'))).to.have.property('schemaVersion', 2);
    noSecret(r);
  });

  it('--creds USERNAME without a password is tried with an empty password, as skopeo does, not refused as a usage error', async () => {
    const reg = registry();
    const image = `docker://${reg.host}/team/app:1`;
    for (const flags of [['--creds', USER], ['--creds', `${USER}:`]]) {
      const f = await ferry(['inspect', ...flags, '--cert-dir', reg.certDir!, image]);
      const s = await skopeo(['inspect', ...flags, '--cert-dir', reg.certDir!, image]);
      expect(s.code, s.stderr).to.equal(1);
      expect(s.stderr).to.contain('unauthorized');
      expect(f.code, f.stderr).to.equal(1);
      expect(f.stderr).to.contain('unauthorized').and.not.contain('--help');
    }
    const c = await ferry(['copy', '--src-creds', USER, '--src-cert-dir', reg.certDir!, image, `dir:${path.join(dir, 'o-nopw')}`]);
    expect(c.code, c.stderr).to.equal(1);
    expect(c.stderr).to.contain('unauthorized');
  });

  it('--screds and --dcreds are hidden aliases of --src-creds and --dest-creds', async () => {
    const reg = registry();
    const r = await ferry(['copy', '--screds', `${USER}:${SECRET}`, '--dcreds', `${USER}:${SECRET}`, '--src-cert-dir', reg.certDir!, '--dest-cert-dir', reg.certDir!,
      `docker://${reg.host}/team/app:1`, `docker://${reg.host}/team/aliased:1`]);
    expect(r.code, r.stderr).to.equal(0);
    noSecret(r);
    for (const cmd of ['copy', 'sync']) {
      const help = await ferry([cmd, '--help']);
      expect(help.stdout).to.contain('--src-creds');
      expect(help.stdout).not.to.match(/screds|dcreds/);
      expect(help.stdout).to.contain('--authfile');
    }
  });

  it('login -v prints the file used, as skopeo; logout accepts --tls-verify', async () => {
    const reg = registry();
    const file = path.join(dir, 'verbose.json');
    const args = ['login', '-v', '--authfile', file, '--cert-dir', reg.certDir!, '-u', USER, '-p', SECRET, reg.host];
    const f = await ferry(args);
    const s = await skopeo(args);
    expect(f.code, f.stderr).to.equal(0);
    expect(f.stdout).to.equal(s.stdout);
    expect(f.stdout).to.equal(`Used:  ${file}\nLogin Succeeded!\n`);
    const out = ['logout', '--tls-verify=false', '--authfile', file, reg.host];
    const fo = await ferry(out);
    expect(fo.code, fo.stderr).to.equal(0);
    expect(fo.stdout).to.equal(`Removed login credentials for ${reg.host}\n`);
    noSecret(f);
  });

  it('--compat-auth-file reads and writes a Docker config.json, and excludes --authfile', async () => {
    const reg = registry();
    const docker = path.join(dir, 'docker', 'config.json');
    const li = await ferry(['login', '--compat-auth-file', docker, '--cert-dir', reg.certDir!, '-u', USER, '-p', SECRET, reg.host]);
    expect(li.code, li.stderr).to.equal(0);
    const saved = JSON.parse(await readFile(docker, 'utf8')) as { auths: Record<string, { auth: string }> };
    expect(Object.keys(saved.auths)).to.deep.equal([reg.host]);
    expect(Buffer.from(saved.auths[reg.host]!.auth, 'base64').toString()).to.equal(`${USER}:${SECRET}`);
    const get = await ferry(['login', '--get-login', '--compat-auth-file', docker, reg.host]);
    expect(get.stdout).to.equal(`${USER}\n`);
    const inspect = await ferry(['inspect', '--raw', '--authfile', docker, '--cert-dir', reg.certDir!, `docker://${reg.host}/team/app:1`]);
    expect(inspect.code, inspect.stderr).to.equal(0);

    const both = await ferry(['login', '--compat-auth-file', docker, '--authfile', authFile, '-u', USER, '-p', SECRET, reg.host]);
    expect(both.code).to.equal(1);
    expect(both.stderr).to.equal('Error: options for paths to the credential file and to the Docker-compatible credential file can not be set simultaneously\n');
    const ns = await ferry(['login', '--compat-auth-file', docker, '--cert-dir', reg.certDir!, '-u', USER, '-p', SECRET, `${reg.host}/team`]);
    expect(ns.code).to.equal(1);
    expect(ns.stderr).to.contain(`credentials cannot be recorded in Docker-compatible format with namespaced key "${reg.host}/team"`);

    const lo = await ferry(['logout', '--compat-auth-file', docker, reg.host]);
    expect(lo.code, lo.stderr).to.equal(0);
    expect((JSON.parse(await readFile(docker, 'utf8')) as { auths: object }).auths).to.deep.equal({});
    for (const r of [li, get, inspect, both, ns, lo]) noSecret(r);
  });
});
