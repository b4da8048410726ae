/**
 * The trust policy on multi-platform images: every instance copied is judged with its own manifest and signatures,
 * as containers/image judges them (issue: only the list and the list's signatures were checked, so a list signed
 * alone passed with unsigned instances, where skopeo refuses it). skopeo 1.9.3 signs a two-platform image with
 * `copy --all --sign-by` into `dir:` (list and instances signed); variants drop or swap instance signatures; ferry
 * and skopeo copy each under the same signedBy policy, with `--all` and for the system's instance alone.
 */
import { expect } from 'chai';
import { cp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ferry } from '../harness/cli.js';
import { buildImage } from '../harness/images.js';
import { run } from '../harness/procs.js';
import { useCleanup } from '../harness/tmp.js';
import { makeGpgHome } from '../signature/gpg-home.js';

const IDENTITY = 'registry.example.com/signed/multi:v1';

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

describe('copy: trust policy on multi-platform images (per-instance signatures, as skopeo)', function () {
  this.timeout(180_000);
  const cleanup = useCleanup('after');
  let work: string;
  let signed: string;
  let policy: string;
  let instances: string[];

  before(async () => {
    work = await cleanup.tempDir('policy-lists');
    const home = await makeGpgHome(cleanup, 'policy-lists-gpg');
    const r0 = await home.gpg(['--pinentry-mode', 'loopback', '--passphrase', '', '--faked-system-time', '20200101T000000!', '--quick-gen-key', 'L <l@example.com>', 'ed25519', 'sign', 'never']);
    expect(r0.code, r0.stderr).to.equal(0);
    const fpr = /^fpr:+([0-9A-F]{40}):/m.exec((await home.gpg(['--with-colons', '--list-keys', 'l@example.com'])).stdout)![1]!;
    const key = await home.exportKey(fpr, 'public');
    const img = await buildImage(join(work, 'layout'), {
      seed: 131,
      layers: 1,
      layerSize: 1024,
      tag: 'v1',
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64' },
      ],
    });
    instances = img.manifests.map((m) => m.digest.slice('sha256:'.length));
    signed = join(work, 'signed');
    const r = await run('skopeo', ['--insecure-policy', 'copy', '--quiet', '--all', '--sign-by', fpr, '--sign-identity', IDENTITY, `oci:${img.layoutDir}:v1`, `dir:${signed}`], {
      env: { ...process.env, ...home.env },
      timeoutMs: 60_000,
    });
    expect(r.code, r.stderr).to.equal(0);
    const files = await readdir(signed);
    expect(files).to.include.members(['signature-1', ...instances.map((h) => `${h}.signature-1`)]);
    policy = join(work, 'policy.json');
    const signedBy = { type: 'signedBy', keyType: 'GPGKeys', keyPath: key, signedIdentity: { type: 'exactReference', dockerReference: IDENTITY } };
    await writeFile(policy, JSON.stringify({ default: [{ type: 'reject' }], transports: { dir: { '': [signedBy] } } }));
  });

  const variant = async (name: string, change: (dir: string) => Promise<void>) => {
    const dir = join(work, name);
    await cp(signed, dir, { recursive: true });
    await change(dir);
    return dir;
  };

  /** ferry and skopeo copy `src` (with `extra` flags); returns [ferry's result, skopeo's exit status]. */
  async function both(src: string, extra: string[]) {
    const n = Math.random().toString(36).slice(2);
    const fdest = join(work, `ferry-${n}`);
    const f = await ferry(['--policy', policy, 'copy', '--quiet', ...extra, `dir:${src}`, `dir:${fdest}`]);
    const s = await run('skopeo', ['--policy', policy, 'copy', '--quiet', ...extra, `dir:${src}`, `dir:${join(work, `skopeo-${n}`)}`], { timeoutMs: 60_000 });
    return { f, skopeo: s.code, written: await exists(fdest) };
  }

  for (const [what, extra] of [
    ['--all', ['--all']],
    ["the system's instance", []],
  ] as const) {
    it(`${what}: accepts the image signed throughout (the control case)`, async () => {
      const r = await both(signed, [...extra]);
      expect(r.skopeo).to.equal(0);
      expect(r.f.code, r.f.stderr).to.equal(0);
    });

    it(`${what}: refuses a list signed alone (its instances unsigned), writing nothing`, async () => {
      const src = await variant(`list-only-${extra.length}`, async (d) => {
        for (const h of instances) await rm(join(d, `${h}.signature-1`));
      });
      const r = await both(src, [...extra]);
      expect(r.skopeo, 'skopeo refuses it').to.equal(1);
      expect(r.f.code, r.f.stderr).to.equal(1);
      expect(r.written).to.equal(false);
      expect(r.f.stderr).to.match(new RegExp(`^Error: Source image rejected: dir:${src} \\(instance sha256:${instances[0]}\\): signedBy .*A signature was required, but no signature exists\\n$`));
    });

    it(`${what}: refuses instances carrying each other's signatures`, async () => {
      const src = await variant(`swapped-${extra.length}`, async (d) => {
        const [a, b] = instances.map((h) => join(d, `${h}.signature-1`)) as [string, string];
        await cp(a, join(d, 'tmp-sig'));
        await cp(b, a);
        await cp(join(d, 'tmp-sig'), b);
        await rm(join(d, 'tmp-sig'));
      });
      const r = await both(src, [...extra]);
      expect(r.skopeo, 'skopeo refuses it').to.equal(1);
      expect(r.f.code, r.f.stderr).to.equal(1);
      expect(r.written).to.equal(false);
      expect(r.f.stderr).to.match(/\(instance sha256:[0-9a-f]{64}\): signedBy .*Signature for digest sha256:[0-9a-f]{64} does not match\n$/);
    });
  }

  it('sync --all refuses a list signed alone, and its --dry-run plan says so', async () => {
    const src = await variant('sync-list-only', async (d) => {
      for (const h of instances) await rm(join(d, `${h}.signature-1`));
    });
    const dest = join(work, 'sync-dest');
    const plan = await ferry(['--policy', policy, 'sync', '--dry-run', '--all', '--src', 'dir', '--dest', 'oci', src, dest]);
    expect(plan.code, plan.stderr).to.equal(0);
    expect(plan.stdout).to.contain(`failed dir:${src} to oci:${dest}:sync-list-only: refused by the trust policy: Source image rejected: dir:${src} (instance sha256:${instances[0]}): `);
    const real = await ferry(['--policy', policy, 'sync', '--quiet', '--all', '--src', 'dir', '--dest', 'oci', src, dest]);
    expect(real.code).to.equal(1);
    expect(real.stderr).to.contain(`Source image rejected: dir:${src} (instance sha256:${instances[0]})`);
    const ok = await ferry(['--policy', policy, 'sync', '--dry-run', '--all', '--src', 'dir', '--dest', 'oci', signed, dest]);
    expect(ok.stdout).to.contain(`copy dir:${signed} to oci:${dest}:signed: `);
  });

  it('--multi-arch index-only judges the list alone', async () => {
    const src = await variant('index-only', async (d) => {
      for (const h of instances) await rm(join(d, `${h}.signature-1`));
    });
    const f = await ferry(['--policy', policy, 'copy', '--quiet', '--multi-arch', 'index-only', `dir:${src}`, `dir:${join(work, 'index-only-dest')}`]);
    expect(f.code, f.stderr).to.equal(0);
    const unsignedList = await variant('unsigned-list', (d) => rm(join(d, 'signature-1')));
    const g = await ferry(['--policy', policy, 'copy', '--quiet', '--multi-arch', 'index-only', `dir:${unsignedList}`, `dir:${join(work, 'index-only-dest2')}`]);
    expect(g.code, g.stderr).to.equal(1);
  });

  it('still judges the list: instances signed but the list not is refused (stricter than skopeo, which checks instances only)', async () => {
    const src = await variant('instances-only', (d) => rm(join(d, 'signature-1')));
    const r = await both(src, ['--all']);
    expect(r.skopeo).to.equal(0);
    expect(r.f.code, r.f.stderr).to.equal(1);
    expect(r.f.stderr).to.match(new RegExp(`^Error: Source image rejected: dir:${src}: signedBy .*A signature was required, but no signature exists\\n$`));
  });
});
