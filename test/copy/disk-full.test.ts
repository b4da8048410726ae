/**
 * Copies into a real, small tmpfs (8 MiB, mounted by the test) of an image bigger than it, pulled from the real
 * registry by the real `bin/ferry`: the error says "no space left on device" with the path, and the failed copy
 * leaves nothing behind — no image, no blob, no temporary file, no partial download (whose bytes filled the disk).
 */
import { expect } from 'chai';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { ferryProcess } from '../harness/cli.js';
import { startFaultProxy } from '../harness/fault-proxy.js';
import { buildImage, pushImage } from '../harness/images.js';
import { runOk } from '../harness/procs.js';
import { useRegistry } from '../harness/registry.js';
import { useCleanup } from '../harness/tmp.js';

/** Every path under `dir` (relative, sorted), directories included. */
async function listing(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      out.push(relative(dir, p) + (e.isDirectory() ? '/' : ''));
      if (e.isDirectory()) await walk(p);
    }
  };
  await walk(dir);
  return out.sort();
}

describe('copy: disk full (real tmpfs, real registry, bin/ferry)', function () {
  this.timeout(120_000);
  const registry = useRegistry('http');
  const cleanup = useCleanup();
  let mnt = '';
  let env: Record<string, string>;
  let midLayer = '';

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    const home = await cleanup.tempDir('disk-full');
    await writeFile(join(home, 'empty.conf'), '');
    env = { HOME: home, CONTAINERS_REGISTRIES_CONF: join(home, 'empty.conf'), REGISTRY_AUTH_FILE: join(home, 'no-auth.json') };
    // 3 incompressible layers of 4 MiB: 12 MiB, half again the file system's size.
    const big = await buildImage(join(home, 'big'), { seed: 91, layers: 3, layerSize: 4 * 1024 * 1024, gzipLevel: 1 });
    await pushImage(big, registry(), 'full/big:v1');
    const small = await buildImage(join(home, 'small'), { seed: 92, layers: 1, layerSize: 1024 });
    await pushImage(small, registry(), 'full/small:v1');
    const mid = await buildImage(join(home, 'mid'), { seed: 93, layers: 1, layerSize: 1024 * 1024, gzipLevel: 1 });
    await pushImage(mid, registry(), 'full/mid:v1');
    midLayer = mid.manifests[0]!.layers[0]!.digest;
    mnt = join(home, 'mnt');
    await mkdir(mnt);
    await runOk('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mnt]);
    // Deferred after the temporary directory, so it runs before that directory is removed.
    cleanup.defer(async () => {
      await runOk('umount', [mnt]);
    });
  });

  // Each test starts on an empty file system, whatever an earlier one left.
  beforeEach(async () => {
    for (const name of await readdir(mnt)) await rm(join(mnt, name), { recursive: true, force: true });
  });

  const src = (name: string) => `docker://${registry().host}/full/${name}`;
  const copy = (from: string, to: string) =>
    ferryProcess(['copy', '--quiet', '--src-tls-verify=false', from, to], { env, timeoutMs: 60_000 });

  async function expectNoSpace(dest: string): Promise<void> {
    const r = await copy(src('big:v1'), dest);
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stderr).to.match(/no space left on device/, r.stderr);
    expect(r.stderr).to.not.match(/short write/);
    expect(r.stderr).to.include(`${mnt}/`, r.stderr); // the file being written
    expect(r.stderr.trim().split('\n')).to.have.lengthOf(1);
  }

  for (const [transport, name] of [
    ['oci', 'layout'],
    ['dir', 'dir'],
    ['docker-archive', 'img.tar'],
    ['oci-archive', 'img.oci.tar'],
  ] as const) {
    it(`${transport}: says "no space left on device" naming the path, and leaves nothing behind`, async () => {
      const target = join(mnt, name);
      await expectNoSpace(`${transport}:${target}`);
      expect(await listing(mnt)).to.deep.equal([]);
    });
  }

  it('oci: into a layout holding another image, the failed copy leaves exactly what was there', async () => {
    const layout = join(mnt, 'shared');
    const first = await copy(src('small:v1'), `oci:${layout}:small`);
    expect(first.code, first.stderr).to.equal(0);
    const before = await listing(mnt);
    await expectNoSpace(`oci:${layout}:big`);
    expect(await listing(mnt)).to.deep.equal(before);
    const again = await copy(`oci:${layout}:small`, `oci:${join(mnt, 'check')}:small`);
    expect(again.code, again.stderr).to.equal(0);
  });

  it('dir: over an existing dir: image, the failed copy leaves the old image as it was', async () => {
    const dir = join(mnt, 'old');
    const first = await copy(src('small:v1'), `dir:${dir}`);
    expect(first.code, first.stderr).to.equal(0);
    const before = await listing(mnt);
    await expectNoSpace(`dir:${dir}`);
    expect(await listing(mnt)).to.deep.equal(before);
  });

  for (const [fill, kept] of [[0, true], [7.5 * 1024 * 1024, false]] as const) {
    it(`a copy failing for another reason ${kept ? 'keeps its partial download' : 'drops its partial download when less than 5 % of the file system is free'}`, async () => {
      if (fill > 0) await writeFile(join(mnt, 'filler'), Buffer.alloc(fill));
      const proxy = cleanup.track(
        await startFaultProxy(registry().url, (req) => (req.method === 'GET' && req.path.endsWith(`/blobs/${midLayer}`) ? { kind: 'cut', afterBytes: 300 * 1024 } : undefined)),
      );
      const layout = join(mnt, 'layout');
      const r = await ferryProcess(['copy', '--quiet', '--src-tls-verify=false', '--retry-times', '0', `docker://${new URL(proxy.url).host}/full/mid:v1`, `oci:${layout}:v1`], {
        env,
        timeoutMs: 60_000,
      });
      expect(r.code, r.stderr).to.equal(1);
      expect(r.stderr).to.not.match(/no space left/);
      const partial = `layout/.ferry-partial/sha256-${midLayer.slice(7)}`;
      if (kept) expect(await listing(mnt)).to.include(partial);
      else expect(await listing(mnt)).to.deep.equal(['filler']);
    });
  }
});
