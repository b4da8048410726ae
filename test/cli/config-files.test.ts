/**
 * Configuration, cache, certificate and key files that used to hang ferry or be read without bound, run as the real
 * `bin/ferry` with a timeout on the process: a hang (a FIFO's open waiting for a writer, a credential helper that
 * never answers, an endless `--password-stdin`) fails the test instead of hanging it.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { lstat, mkdir, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FERRY_BIN, ferryProcess, withTestPolicy, type CliResult } from '../harness/cli.js';
import { buildImage, pushImage } from '../harness/images.js';
import { run } from '../harness/procs.js';
import { useRegistry } from '../harness/registry.js';
import { useCleanup } from '../harness/tmp.js';

const LIMIT_MS = 20_000;

/** Makes a FIFO (named pipe) at `path`; nothing ever writes to it. */
function mkfifo(path: string): void {
  execFileSync('mkfifo', [path]);
}

describe('cli: FIFOs, devices and directories as configuration files, stuck credential helpers (bin/ferry)', function () {
  this.timeout(60_000);
  const registry = useRegistry('http');
  const cleanup = useCleanup();
  let home: string;
  let env: Record<string, string | undefined>;
  let layout: string;
  let src: string;

  before(async () => {
    home = await cleanup.tempDir('config-files');
    await writeFile(join(home, 'empty.conf'), '');
    layout = join(home, 'layout');
    const img = await buildImage(layout, { seed: 131, layers: 1, layerSize: 1024, tag: 'v1' });
    await pushImage(img, registry(), 'cfg/img:v1');
    src = `docker://${registry().host}/cfg/img:v1`;
  });

  let dir: string;
  beforeEach(async () => {
    dir = await cleanup.tempDir('config-files-case');
    env = {
      HOME: dir,
      XDG_CACHE_HOME: join(dir, 'cache'),
      XDG_CONFIG_HOME: join(dir, 'config'),
      XDG_RUNTIME_DIR: join(dir, 'run'),
      DOCKER_CONFIG: join(dir, 'docker'),
      CONTAINERS_REGISTRIES_CONF: join(home, 'empty.conf'),
      REGISTRY_AUTH_FILE: join(dir, 'no-auth.json'),
    };
  });

  /** bin/ferry, failing the test when it does not finish within {@link LIMIT_MS}. */
  async function ferry(args: string[], opts: { stdin?: string; env?: Record<string, string | undefined> } = {}): Promise<CliResult> {
    const r = await ferryProcess(args, { stdin: opts.stdin, env: { ...env, ...opts.env }, timeoutMs: LIMIT_MS });
    expect(r.code, `ferry ${args.join(' ')} did not finish (or was killed): ${r.stderr}`).to.not.equal(128);
    return r;
  }

  const inspect = (extra: string[] = [], opts: { env?: Record<string, string | undefined> } = {}) =>
    ferry(['inspect', '--raw', '--tls-verify=false', ...extra, src], opts);

  describe('blob-location cache', () => {
    const cacheFile = () => join(dir, 'cache', 'ferry', 'blob-info-cache.json');

    it('a FIFO as the cache file: the pull works, the FIFO is left as it is', async () => {
      await mkdir(join(dir, 'cache', 'ferry'), { recursive: true });
      mkfifo(cacheFile());
      const r = await ferry(['copy', '--quiet', '--src-tls-verify=false', src, `dir:${join(dir, 'out')}`]);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stderr).to.equal('');
      expect((await lstat(cacheFile())).isFIFO()).to.equal(true);
    });

    it('a symbolic link as the cache file is ignored, never replaced', async () => {
      await mkdir(join(dir, 'cache', 'ferry'), { recursive: true });
      await writeFile(join(dir, 'elsewhere.json'), '{}');
      await symlink(join(dir, 'elsewhere.json'), cacheFile());
      const r = await ferry(['copy', '--quiet', '--src-tls-verify=false', src, `dir:${join(dir, 'out')}`]);
      expect(r.code, r.stderr).to.equal(0);
      expect(await readlink(cacheFile())).to.equal(join(dir, 'elsewhere.json'));
    });
  });

  describe('configuration files', () => {
    it('a FIFO as the auth file: one line naming it', async () => {
      mkfifo(join(dir, 'auth.json'));
      const r = await ferry(['login', '--get-login', '--authfile', join(dir, 'auth.json'), registry().host]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.equal(`Error: auth file ${join(dir, 'auth.json')} is a FIFO, not a regular file\n`);
    });

    it('a FIFO as registries.conf: one line naming it', async () => {
      mkfifo(join(dir, 'registries.conf'));
      const r = await inspect([], { env: { CONTAINERS_REGISTRIES_CONF: join(dir, 'registries.conf') } });
      expect(r.code).to.equal(1);
      expect(r.stderr).to.equal(`Error: ${join(dir, 'registries.conf')} is a FIFO, not a regular file\n`);
    });

    it('a FIFO as policy.json: one line naming it', async () => {
      mkfifo(join(dir, 'policy.json'));
      const r = await ferry(['copy', '--quiet', '--policy', join(dir, 'policy.json'), `oci:${layout}:v1`, `dir:${join(dir, 'out')}`]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.equal(`Error: Error loading trust policy: policy file ${join(dir, 'policy.json')} is a FIFO, not a regular file\n`);
    });

    it('/dev/zero as policy.json: refused at once as a device', async () => {
      const r = await ferry(['copy', '--quiet', '--policy', '/dev/zero', `oci:${layout}:v1`, `dir:${join(dir, 'out')}`]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.equal('Error: Error loading trust policy: policy file /dev/zero is a character device, not a regular file\n');
    });

    it('a FIFO among the registries.d files: one line naming it', async () => {
      await mkdir(join(dir, 'registries.d'));
      mkfifo(join(dir, 'registries.d', 'a.yaml'));
      const r = await ferry(['copy', '--quiet', '--src-tls-verify=false', '--registries.d', join(dir, 'registries.d'), src, `dir:${join(dir, 'out')}`]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.equal(`Error: registries.d file ${join(dir, 'registries.d', 'a.yaml')} is a FIFO, not a regular file\n`);
    });

    it('a FIFO as storage.conf: one line naming it', async () => {
      mkfifo(join(dir, 'storage.conf'));
      const r = await ferry(['store', 'images'], { env: { CONTAINERS_STORAGE_CONF: join(dir, 'storage.conf') } });
      expect(r.code).to.equal(1);
      expect(r.stderr).to.equal(`Error: ${join(dir, 'storage.conf')} is a FIFO, not a regular file\n`);
    });

    it('a FIFO as a CA certificate of --cert-dir: one line naming it', async () => {
      await mkdir(join(dir, 'certs'));
      mkfifo(join(dir, 'certs', 'ca.crt'));
      const r = await inspect(['--cert-dir', join(dir, 'certs')]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.equal(`Error: ${join(dir, 'certs', 'ca.crt')} is a FIFO, not a regular file\n`);
    });

    it('a FIFO as the sync YAML file: one line naming it', async () => {
      mkfifo(join(dir, 'sync.yaml'));
      const r = await ferry(['sync', '--src', 'yaml', '--dest', 'dir', join(dir, 'sync.yaml'), join(dir, 'out')]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.equal(`Error: sync source file ${join(dir, 'sync.yaml')} is a FIFO, not a regular file\n`);
    });

    it('a FIFO as a file:// lookaside signature: one line naming it', async () => {
      const manifest = await ferry(['inspect', '--tls-verify=false', '--format', '{{.Digest}}', src]);
      expect(manifest.code, manifest.stderr).to.equal(0);
      const digest = manifest.stdout.trim().replace(':', '=');
      const sigDir = join(dir, 'sigs', 'cfg', `img@${digest}`);
      await mkdir(sigDir, { recursive: true });
      mkfifo(join(sigDir, 'signature-1'));
      await mkdir(join(dir, 'registries.d'));
      await writeFile(join(dir, 'registries.d', 'sigs.yaml'), `default-docker:\n  lookaside: file://${join(dir, 'sigs')}\n`);
      const r = await ferry(['copy', '--quiet', '--src-tls-verify=false', '--registries.d', join(dir, 'registries.d'), src, `dir:${join(dir, 'out')}`]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.contain(`signature ${join(sigDir, 'signature-1')} is a FIFO, not a regular file`);
    });
  });

  describe('directories where a file is expected', () => {
    const cases: [string, (d: string) => [string[], Record<string, string>], (d: string) => string][] = [
      ['auth file', (d) => [['login', '--get-login', '--authfile', d, '127.0.0.1:1'], {}], (d) => `Error: auth file ${d} is a directory, not a regular file`],
      ['registries.conf', (d) => [['inspect', 'docker://127.0.0.1:1/a'], { CONTAINERS_REGISTRIES_CONF: d }], (d) => `Error: ${d} is a directory, not a regular file`],
      ['storage.conf', (d) => [['store', 'images'], { CONTAINERS_STORAGE_CONF: d }], (d) => `Error: ${d} is a directory, not a regular file`],
      ['sync YAML file', (d) => [['sync', '--src', 'yaml', '--dest', 'dir', d, '/nonexistent/out'], {}], (d) => `Error: sync source file ${d} is a directory, not a regular file`],
    ];
    for (const [what, command, message] of cases) {
      it(`a directory as the ${what}: one line naming it`, async () => {
        const d = join(dir, 'a-directory');
        await mkdir(d);
        const [args, extra] = command(d);
        const r = await ferry(args, { env: extra });
        expect(r.code).to.equal(1);
        expect(r.stderr).to.equal(`${message(d)}\n`);
      });
    }

    it('a directory as a CA certificate of --cert-dir: one line naming it', async () => {
      await mkdir(join(dir, 'certs', 'ca.crt'), { recursive: true });
      const r = await inspect(['--cert-dir', join(dir, 'certs')]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.equal(`Error: ${join(dir, 'certs', 'ca.crt')} is a directory, not a regular file\n`);
    });
  });

  describe('credential helpers and --password-stdin', () => {
    async function stuckHelper(): Promise<string> {
      const bin = join(dir, 'bin');
      await mkdir(bin);
      // never answers; the sleep (not exec'd) also keeps the helper's stdout open after the shell is killed
      await writeFile(join(bin, 'docker-credential-stuck'), '#!/bin/sh\nsleep 30\n', { mode: 0o755 });
      await writeFile(join(dir, 'auth.json'), JSON.stringify({ credHelpers: { [registry().host]: 'stuck' } }));
      return bin;
    }

    it('a helper that never answers is killed after FERRY_CREDENTIAL_HELPER_TIMEOUT seconds', async () => {
      const bin = await stuckHelper();
      const r = await ferry(['login', '--get-login', '--authfile', join(dir, 'auth.json'), registry().host], { env: { PATH: `${bin}:${process.env['PATH']}`, FERRY_CREDENTIAL_HELPER_TIMEOUT: '1' } });
      expect(r.code).to.equal(1);
      expect(r.stderr).to.equal(
        `Error: credential helper docker-credential-stuck failed (get for ${registry().host}): no answer within 1 s (FERRY_CREDENTIAL_HELPER_TIMEOUT)\n`,
      );
    });

    it('an invalid FERRY_CREDENTIAL_HELPER_TIMEOUT is an error naming it', async () => {
      const bin = await stuckHelper();
      const r = await ferry(['login', '--get-login', '--authfile', join(dir, 'auth.json'), registry().host], { env: { PATH: `${bin}:${process.env['PATH']}`, FERRY_CREDENTIAL_HELPER_TIMEOUT: '1m' } });
      expect(r.code).to.equal(1);
      expect(r.stderr).to.equal('Error: FERRY_CREDENTIAL_HELPER_TIMEOUT="1m": expected a number of seconds\n');
    });

    it('--password-stdin: more than 64 KiB is refused', async () => {
      const r = await ferry(['login', '--tls-verify=false', '--authfile', join(dir, 'auth.json'), '-u', 'me', '--password-stdin', registry().host], {
        stdin: 'x'.repeat(64 * 1024 + 1),
      });
      expect(r.code).to.equal(1);
      expect(r.stderr).to.equal('Error: --password-stdin input is larger than 64 KiB: refusing to read it\n');
    });

    it('--password-stdin from /dev/zero: refused after 64 KiB instead of reading forever', async () => {
      const args = withTestPolicy(['login', '--tls-verify=false', '--authfile', join(dir, 'auth.json'), '-u', 'me', '--password-stdin', registry().host]);
      const r = await run('sh', ['-c', 'exec "$0" "$@" </dev/zero', process.execPath, FERRY_BIN, ...args], { env, timeoutMs: LIMIT_MS });
      expect(r.timedOut, 'ferry login --password-stdin </dev/zero did not finish').to.equal(false);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.equal('Error: --password-stdin input is larger than 64 KiB: refusing to read it\n');
    });
  });
});
