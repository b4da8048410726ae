import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { RegistryClient } from '../../../src/registry/client.js';
import type { SystemContext } from '../../../src/types/context.js';
import { ferry } from '../../harness/cli.js';
import { buildImage, pushImage, type BuiltImage } from '../../harness/images.js';
import { startRegistry, type RegistryMode, type TestRegistry } from '../../harness/registry.js';
import { useCleanup } from '../../harness/tmp.js';

/** Flags that let ferry reach `reg`. */
function access(reg: TestRegistry): string[] {
  return [
    ...(reg.mode === 'http' ? ['--tls-verify=false'] : ['--cert-dir', reg.certDir!]),
    ...(reg.username ? ['--creds', `${reg.username}:${reg.password}`] : []),
  ];
}

function contextFor(reg: TestRegistry, conf: string): SystemContext {
  return {
    registriesConf: conf,
    ...(reg.mode === 'http' ? { tlsVerify: false } : { certDir: reg.certDir }),
    ...(reg.username ? { credentials: { username: reg.username, password: reg.password! } } : {}),
  };
}

/** The digest `repo:tagOrDigest` resolves to, or undefined if it does not exist. */
async function resolve(reg: TestRegistry, conf: string, repo: string, tagOrDigest: string): Promise<string | undefined> {
  const c = RegistryClient.open({ registry: reg.host, repository: repo, ctx: contextFor(reg, conf) });
  try {
    return (await c.headManifest(tagOrDigest))?.digest;
  } finally {
    await c.close();
  }
}

for (const mode of ['http', 'tls', 'basic', 'token'] as RegistryMode[]) {
  describe(`cli/commands/delete (${mode} registry)`, function () {
    this.timeout(60_000);
    const cleanup = useCleanup('after');
    let reg: TestRegistry;
    let img: BuiltImage;
    let other: BuiltImage;
    let conf: string;

    before(async () => {
      const dir = await cleanup.tempDir(`delete-${mode}`);
      conf = path.join(dir, 'empty.conf');
      await writeFile(conf, '');
      reg = cleanup.track(await startRegistry(mode));
      img = await buildImage(path.join(dir, 'a'), { seed: 61, layers: 1, layerSize: 500, platforms: [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64' }] });
      other = await buildImage(path.join(dir, 'b'), { seed: 62, layers: 1, layerSize: 500 });
    });

    const name = (s: string) => `docker://${reg.host}/${s}`;

    it('deletes by tag: the manifest and every other tag of that digest go, with a warning naming them', async () => {
      await pushImage(img, reg, 'app/one:v1');
      await pushImage(img, reg, 'app/one:v2');
      await pushImage(other, reg, 'app/one:keep');
      const r = await ferry(['delete', ...access(reg), name('app/one:v1')]);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.equal('');
      expect(r.stderr).to.match(/^Warning: deleting manifest sha256:[0-9a-f]{64} removes every tag/);
      expect(r.stderr).to.contain('other tags removed with it: v2');
      expect(await resolve(reg, conf, 'app/one', 'v1')).to.equal(undefined);
      expect(await resolve(reg, conf, 'app/one', 'v2')).to.equal(undefined);
      expect(await resolve(reg, conf, 'app/one', img.digest)).to.equal(undefined);
      expect(await resolve(reg, conf, 'app/one', 'keep')).to.equal(other.digest);
    });

    it('deletes by digest', async () => {
      await pushImage(img, reg, 'app/two:v1');
      const r = await ferry(['delete', ...access(reg), name(`app/two@${img.digest}`)]);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stderr).to.contain('other tags removed with it: v1');
      expect(await resolve(reg, conf, 'app/two', 'v1')).to.equal(undefined);
    });

    it('--tag-only removes just that tag; the image and its other tags stay', async () => {
      await pushImage(img, reg, 'app/three:v1');
      await pushImage(img, reg, 'app/three:v2');
      const r = await ferry(['delete', '--tag-only', ...access(reg), name('app/three:v1')]);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stderr).to.equal('');
      expect(await resolve(reg, conf, 'app/three', 'v1')).to.equal(undefined);
      expect(await resolve(reg, conf, 'app/three', 'v2')).to.equal(img.digest);
      expect(await resolve(reg, conf, 'app/three', img.manifests[1]!.digest)).to.equal(img.manifests[1]!.digest);
    });

    it('exits 2 for an image that does not exist', async () => {
      const r = await ferry(['delete', ...access(reg), name('app/absent:v1')]);
      expect(r.code, r.stderr).to.equal(2);
      const t = await ferry(['delete', '--tag-only', ...access(reg), name('app/three:nope')]);
      expect(t.code, t.stderr).to.equal(2);
    });
  });
}

describe('cli/commands/delete (registry with deletes disabled)', function () {
  this.timeout(60_000);
  const cleanup = useCleanup('after');
  let reg: TestRegistry;
  let img: BuiltImage;
  let conf: string;

  before(async () => {
    const dir = await cleanup.tempDir('delete-disabled');
    conf = path.join(dir, 'empty.conf');
    await writeFile(conf, '');
    reg = cleanup.track(await startRegistry('http', { deleteEnabled: false }));
    img = await buildImage(path.join(dir, 'a'), { seed: 63, layers: 1, layerSize: 500 });
    await pushImage(img, reg, 'app/x:v1');
  });

  it('fails clearly and leaves the image alone (also with --tag-only)', async () => {
    for (const extra of [[], ['--tag-only']]) {
      const r = await ferry(['delete', ...extra, '--tls-verify=false', `docker://${reg.host}/app/x:v1`]);
      expect(r.code, r.stderr).to.equal(1);
      expect(r.stderr).to.contain('deletes are disabled');
      expect(await resolve(reg, conf, 'app/x', 'v1')).to.equal(img.digest);
    }
  });

  it('rejects --tag-only with a digest or a non-docker reference', async () => {
    const d = await ferry(['delete', '--tag-only', '--tls-verify=false', `docker://${reg.host}/app/x@${img.digest}`]);
    expect(d.code).to.equal(1);
    expect(d.stderr).to.contain('--tag-only');
    const o = await ferry(['delete', '--tag-only', 'oci:/nonexistent/layout:x']);
    expect(o.code).to.equal(1);
    expect(o.stderr).to.contain('--tag-only');
  });
});
