/**
 * Commands that used to loop or read without limit, run as the real `bin/ferry` with a timeout on the process (a
 * regression to looping fails the test instead of hanging it): a `dir:` destination that cannot be created, devices
 * and oversized files given as manifests, signatures and layout files, and `--command-timeout`'s message.
 */
import { expect } from 'chai';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ferryProcess, type CliResult } from '../harness/cli.js';
import { startFaultProxy } from '../harness/fault-proxy.js';
import { buildImage, pushImage } from '../harness/images.js';
import { useRegistry } from '../harness/registry.js';
import { useCleanup } from '../harness/tmp.js';

const LIMIT_MS = 20_000;

describe('cli: bounded reads, uncreatable directories, --command-timeout (bin/ferry)', function () {
  this.timeout(60_000);
  const registry = useRegistry('http');
  const cleanup = useCleanup();
  let home: string;
  let env: Record<string, string>;
  let layout: string;

  before(async () => {
    home = await cleanup.tempDir('limits');
    await writeFile(join(home, 'empty.conf'), '');
    env = { HOME: home, CONTAINERS_REGISTRIES_CONF: join(home, 'empty.conf'), REGISTRY_AUTH_FILE: join(home, 'no-auth.json') };
    layout = join(home, 'layout');
    const img = await buildImage(layout, { seed: 97, layers: 1, layerSize: 1024, tag: 'v1' });
    await pushImage(img, registry(), 'limits/img:v1');
  });

  async function ferry(args: string[]): Promise<CliResult> {
    const started = Date.now();
    const r = await ferryProcess(args, { env, timeoutMs: LIMIT_MS });
    expect(Date.now() - started, `ferry ${args.join(' ')} did not finish: ${r.stderr}`).to.be.below(LIMIT_MS);
    return r;
  }

  it('copy to dir:/proc/nope fails at once, naming the directory (no mkdir loop)', async () => {
    const r = await ferry(['copy', '--quiet', `oci:${layout}:v1`, 'dir:/proc/nope']);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/^Error: creating directory \/proc\/nope: .*ENOENT/);
  });

  it('copy to oci:/proc/nope/layout fails at once, naming the layout', async () => {
    const r = await ferry(['copy', '--quiet', `oci:${layout}:v1`, 'oci:/proc/nope/layout:v1']);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include('/proc/nope');
  });

  it('manifest-digest /dev/zero: fails after 4 MiB, naming the file and the limit', async () => {
    const r = await ferry(['manifest-digest', '/dev/zero']);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.equal('Error: manifest /dev/zero is larger than 4 MiB: refusing to read it\n');
  });

  it('manifest-digest of a 5 MiB file: refused without reading it', async () => {
    const big = join(home, 'big.json');
    await writeFile(big, Buffer.alloc(5 * 1024 * 1024, 0x20));
    const r = await ferry(['manifest-digest', big]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.equal(`Error: manifest ${big} is larger than 4 MiB: refusing to read it\n`);
  });

  it('standalone-verify with /dev/zero as manifest or signature: bounded, names the file', async () => {
    const small = join(home, 'small.json');
    await writeFile(small, '{}');
    const m = await ferry(['standalone-verify', '/dev/zero', 'docker.io/library/x:1', 'any', small, '--public-key', small]);
    expect(m.code).to.equal(1);
    expect(m.stderr).to.equal('Error: manifest /dev/zero is larger than 4 MiB: refusing to read it\n');
    const s = await ferry(['standalone-verify', small, 'docker.io/library/x:1', 'any', '/dev/zero', '--public-key', small]);
    expect(s.code).to.equal(1);
    expect(s.stderr).to.equal('Error: signature /dev/zero is larger than 4 MiB: refusing to read it\n');
  });

  it('a dir: image whose manifest.json is /dev/zero (refused: a link) or 5 MiB, and an OCI layout whose index.json is /dev/zero (refused: not a regular file): bounded', async () => {
    const dir = join(home, 'dir-zero');
    await mkdir(dir);
    await writeFile(join(dir, 'version'), 'Directory Transport Version: 1.1\n');
    await symlink('/dev/zero', join(dir, 'manifest.json'));
    const d = await ferry(['inspect', '--raw', `dir:${dir}`]);
    expect(d.code).to.equal(1);
    expect(d.stderr).to.equal(`Error: manifest in ${dir} (${join(dir, 'manifest.json')}) is a symbolic link, not a regular file\n`);
    await rm(join(dir, 'manifest.json'));
    await writeFile(join(dir, 'manifest.json'), Buffer.alloc(5 * 1024 * 1024, 0x20));
    const big = await ferry(['inspect', '--raw', `dir:${dir}`]);
    expect(big.code).to.equal(1);
    expect(big.stderr).to.match(/manifest.json\) is larger than 4 MiB: refusing to read it/);
    const oci = join(home, 'oci-zero');
    await mkdir(oci);
    await writeFile(join(oci, 'oci-layout'), '{"imageLayoutVersion": "1.0.0"}');
    await symlink('/dev/zero', join(oci, 'index.json'));
    const o = await ferry(['inspect', '--raw', `oci:${oci}`]);
    expect(o.code).to.equal(1);
    expect(o.stderr).to.equal(`Error: OCI layout index (${join(oci, 'index.json')}) is a character device, not a regular file\n`);
  });

  it('--command-timeout says what timed out and after how long', async () => {
    const proxy = cleanup.track(await startFaultProxy(registry().url, (req) => (req.path.includes('/manifests/') ? { kind: 'delay', ms: 30_000 } : undefined)));
    const host = new URL(proxy.url).host;
    const r = await ferry(['--command-timeout', '1s', 'inspect', '--tls-verify=false', '--raw', `docker://${host}/limits/img:v1`]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/^Error: command timed out after 1s/);
    expect(r.stderr).to.not.match(/operation aborted/);
  });
});
