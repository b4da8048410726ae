/**
 * Multi-platform images in containers-storage (root: podman on a private vfs store). ferry `copy --all` stores each
 * instance as an image of its own and the list as podman's `podman manifest` lists are stored (a layerless image
 * with `manifest` and `instances.json`), so podman lists, inspects, mounts and pushes it, skopeo reads the list and
 * each instance; podman's own lists (of images skopeo pulled) read back through ferry; signatures per instance.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ferry } from '../../harness/cli.js';
import { buildImage, type BuiltImage, type BuiltManifest } from '../../harness/images.js';
import { run } from '../../harness/procs.js';
import { useCleanup } from '../../harness/tmp.js';
import { makeGpgHome } from '../../signature/gpg-home.js';
import { hasCommand, isRoot, removeStore, tempStore } from '../../store/helpers.js';
import { sha256 } from '../../store/tar-build.js';

type ImageRec = { id: string; digest?: string; names?: string[]; layer?: string; metadata?: string; 'big-data-names'?: string[] };
type Index = { mediaType?: string; manifests: Array<{ digest: string; mediaType: string; platform?: { architecture: string } }> };

const PLATFORMS = [
  { os: 'linux', architecture: 'amd64' },
  { os: 'linux', architecture: 'arm64', variant: 'v8' },
];

/** podman on a private vfs store. */
const podman = (t: { G: string; R: string }, ...args: string[]) =>
  run('podman', ['--root', t.G, '--runroot', t.R, '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', ...args], { timeoutMs: 60_000 });

const imagesJson = (t: { G: string }) => JSON.parse(readFileSync(join(t.G, 'vfs-images', 'images.json'), 'utf8')) as ImageRec[];

/** Per manifest of an OCI layout's index (by tag): its config digest and diff IDs. */
function layoutFacts(dir: string): Array<{ config: string; diffIds: string[] }> {
  const blob = (d: string) => readFileSync(join(dir, 'blobs', 'sha256', d.slice(7)));
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as Index;
  const top = JSON.parse(blob(index.manifests[0]!.digest).toString()) as Index & { config?: { digest: string } };
  const manifests = top.config ? [index.manifests[0]!.digest] : top.manifests.map((m) => m.digest);
  return manifests.map((d) => {
    const m = JSON.parse(blob(d).toString()) as { config: { digest: string }; layers: Array<{ digest: string; mediaType: string }> };
    return { config: m.config.digest, diffIds: m.layers.map((l) => sha256(/gzip/.test(l.mediaType) ? gunzipSync(blob(l.digest)) : blob(l.digest))) };
  });
}

const builtFacts = (ms: BuiltManifest[]) => ms.map((m) => ({ config: m.configDigest, diffIds: m.layers.map((l) => l.diffId) }));

describe('containers-storage: multi-platform images', function () {
  this.timeout(120_000);
  const cleanup = useCleanup('after');
  let dir: string;
  let oci: BuiltImage;
  let docker: BuiltImage;
  let t: ReturnType<typeof tempStore>;
  let store: string;

  before(async function () {
    if (!isRoot || !hasCommand('podman') || !hasCommand('skopeo')) this.skip();
    dir = await cleanup.tempDir('cs-multi');
    t = tempStore('ferry-cs-multi-');
    cleanup.defer(() => removeStore(t.dir));
    store = `[vfs@${t.G}+${t.R}]`;
    oci = await buildImage(join(dir, 'oci'), { seed: 61, tag: 'm', layers: 2, layerSize: 3000, platforms: PLATFORMS });
    docker = await buildImage(join(dir, 'docker'), { seed: 62, tag: 'm', layers: 1, layerSize: 3000, platforms: PLATFORMS, format: 'docker' });
  });

  it('copy --all stores each instance as an image and the list as podman stores a manifest list', async () => {
    const r = await ferry(['copy', '--quiet', '--all', `oci:${oci.layoutDir}:m`, `containers-storage:${store}example.com/multi:v1`]);
    expect(r.code, r.stderr).to.equal(0);
    const images = imagesJson(t);
    const list = images.find((i) => i.names?.includes('example.com/multi:v1'))!;
    expect(list.id).to.equal(oci.digest.slice(7));
    expect(list.digest).to.equal(oci.digest);
    expect(list.layer).to.equal(undefined);
    expect(list['big-data-names']).to.deep.equal(['manifest', 'instances.json']);
    expect(readFileSync(join(t.G, 'vfs-images', list.id, 'manifest')).equals(oci.bytes), 'the list as copied').to.equal(true);
    const refs = JSON.parse(readFileSync(join(t.G, 'vfs-images', list.id, 'instances.json'), 'utf8')) as Record<string, string>;
    for (const m of oci.manifests) {
      const inst = images.find((i) => i.id === m.configDigest.slice(7))!;
      expect(inst.digest).to.equal(m.digest);
      expect(inst.names).to.equal(undefined);
      expect(inst.layer).to.be.a('string');
      expect(inst['big-data-names']).to.include.members(['manifest', `manifest-${m.digest}`, m.configDigest]);
      expect(refs[m.digest]).to.equal(`containers-storage:${store}@${inst.id}`);
    }
  });

  it('podman: manifest inspect lists the instances, image inspect and image mount resolve the list to this platform, manifest push --all', async () => {
    const mi = await podman(t, 'manifest', 'inspect', 'example.com/multi:v1');
    expect(mi.code, mi.stderr).to.equal(0);
    expect((JSON.parse(mi.stdout) as Index).manifests.map((m) => m.digest)).to.deep.equal(oci.manifests.map((m) => m.digest));
    const amd64 = oci.manifests[0]!;
    const ii = await podman(t, 'image', 'inspect', '--format', '{{.ID}} {{.Digest}} {{.Architecture}}', 'example.com/multi:v1');
    expect(ii.code, ii.stderr).to.equal(0);
    expect(ii.stdout.trim()).to.equal(`${amd64.configDigest.slice(7)} ${amd64.digest} amd64`);
    const mnt = await podman(t, 'image', 'mount', 'example.com/multi:v1');
    expect(mnt.code, mnt.stderr).to.equal(0);
    try {
      expect(readFileSync(join(mnt.stdout.trim(), 'layer1', 'info.txt')).length).to.be.greaterThan(0);
    } finally {
      await podman(t, 'image', 'unmount', 'example.com/multi:v1');
    }
    const out = join(dir, 'podman-push');
    const push = await podman(t, 'manifest', 'push', '--all', 'example.com/multi:v1', `oci:${out}:x`);
    expect(push.code, push.stderr).to.equal(0);
    expect(layoutFacts(out)).to.deep.equal(builtFacts(oci.manifests));
  });

  it('skopeo: inspect --raw gives the list; each instance reads by the reference instances.json records', async () => {
    const raw = await run('skopeo', ['inspect', '--raw', `containers-storage:${store}example.com/multi:v1`]);
    expect(raw.code, raw.stderr).to.equal(0);
    expect(raw.stdoutBytes.equals(oci.bytes)).to.equal(true);
    const arm = oci.manifests[1]!;
    const out = join(dir, 'skopeo-arm');
    const s = await run('skopeo', ['copy', '--quiet', `containers-storage:${store}@${arm.configDigest.slice(7)}`, `oci:${out}:x`], { timeoutMs: 60_000 });
    expect(s.code, s.stderr).to.equal(0);
    expect(layoutFacts(out)).to.deep.equal(builtFacts([arm]));
  });

  it('ferry reads it back: inspect --raw is the list, inspect picks the platform, copy --all gives every instance', async () => {
    const ref = `containers-storage:${store}example.com/multi:v1`;
    const raw = await ferry(['inspect', '--raw', ref]);
    expect(raw.code, raw.stderr).to.equal(0);
    expect(raw.stdoutBytes.equals(oci.bytes)).to.equal(true);
    const arm = await ferry(['--override-arch', 'arm64', 'inspect', ref]);
    expect(arm.code, arm.stderr).to.equal(0);
    const info = JSON.parse(arm.stdout) as { Digest: string; InstanceDigest: string; Architecture: string };
    expect(info).to.include({ Digest: oci.digest, InstanceDigest: oci.manifests[1]!.digest, Architecture: 'arm64' });
    const out = join(dir, 'ferry-all');
    const c = await ferry(['copy', '--quiet', '--all', ref, `oci:${out}:x`]);
    expect(c.code, c.stderr).to.equal(0);
    expect(layoutFacts(out)).to.deep.equal(builtFacts(oci.manifests));
  });

  it('a Docker manifest list, and --multi-arch index-only (the instances already in the store are referenced)', async () => {
    const d = await ferry(['copy', '--quiet', '--all', `oci:${docker.layoutDir}:m`, `containers-storage:${store}example.com/docker-list:v1`]);
    expect(d.code, d.stderr).to.equal(0);
    const raw = await run('skopeo', ['inspect', '--raw', `containers-storage:${store}example.com/docker-list:v1`]);
    expect(raw.stdoutBytes.equals(docker.bytes)).to.equal(true);
    const out = join(dir, 'docker-all');
    expect((await ferry(['copy', '--quiet', '--all', `containers-storage:${store}example.com/docker-list:v1`, `oci:${out}:x`])).code).to.equal(0);
    // converted to OCI on the way into oci: (new configs), the same layers
    expect(layoutFacts(out).map((f) => f.diffIds)).to.deep.equal(builtFacts(docker.manifests).map((f) => f.diffIds));

    const io = await ferry(['copy', '--quiet', '--multi-arch', 'index-only', `oci:${oci.layoutDir}:m`, `containers-storage:${store}example.com/index-only:v1`]);
    expect(io.code, io.stderr).to.equal(0);
    const rec = imagesJson(t).find((i) => i.names?.includes('example.com/index-only:v1'))!;
    // the same list as example.com/multi:v1: one record, both names
    expect(rec.names).to.have.members(['example.com/multi:v1', 'example.com/index-only:v1']);
    const mi = await podman(t, 'manifest', 'inspect', 'example.com/index-only:v1');
    expect(mi.code, mi.stderr).to.equal(0);
  });

  it('podman lists of images skopeo pulled read through ferry (inspect --raw, copy --all)', async () => {
    const t2 = tempStore('ferry-cs-multi-podman-');
    cleanup.defer(() => removeStore(t2.dir));
    const store2 = `[vfs@${t2.G}+${t2.R}]`;
    for (const arch of ['amd64', 'arm64']) {
      const s = await run('skopeo', ['--override-arch', arch, 'copy', '--quiet', `oci:${oci.layoutDir}:m`, `containers-storage:${store2}example.com/one:${arch}`], { timeoutMs: 60_000 });
      expect(s.code, s.stderr).to.equal(0);
    }
    expect((await podman(t2, 'manifest', 'create', 'example.com/made-by-podman:v1')).code).to.equal(0);
    for (const arch of ['amd64', 'arm64']) {
      const a = await podman(t2, 'manifest', 'add', 'example.com/made-by-podman:v1', `containers-storage:example.com/one:${arch}`);
      expect(a.code, a.stderr).to.equal(0);
    }
    const ref = `containers-storage:${store2}example.com/made-by-podman:v1`;
    const [f, s] = await Promise.all([ferry(['inspect', '--raw', ref]), run('skopeo', ['inspect', '--raw', ref])]);
    expect(f.code, f.stderr).to.equal(0);
    expect(f.stdout).to.equal(s.stdout);
    expect((JSON.parse(f.stdout) as Index).manifests.map((m) => m.digest)).to.deep.equal(oci.manifests.map((m) => m.digest));
    const out = join(dir, 'from-podman');
    const c = await ferry(['copy', '--quiet', '--all', ref, `oci:${out}:x`]);
    expect(c.code, c.stderr).to.equal(0);
    expect(layoutFacts(out)).to.deep.equal(builtFacts(oci.manifests));
  });

  it('one platform of a list: the same image record as skopeo writes (the list kept as manifest-DIGEST, its digest the image\'s)', async () => {
    const stores = [tempStore('ferry-cs-one-ferry-'), tempStore('ferry-cs-one-skopeo-')];
    for (const s of stores) cleanup.defer(() => removeStore(s.dir));
    const [byFerry, bySkopeo] = stores.map((s) => `containers-storage:[vfs@${s.G}+${s.R}]example.com/one:v1`) as [string, string];
    const f = await ferry(['copy', '--quiet', `oci:${oci.layoutDir}:m`, byFerry]);
    expect(f.code, f.stderr).to.equal(0);
    const s = await run('skopeo', ['copy', '--quiet', `oci:${oci.layoutDir}:m`, bySkopeo], { timeoutMs: 60_000 });
    expect(s.code, s.stderr).to.equal(0);
    const sorted = (r: ImageRec) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Array.isArray(v) ? [...(v as string[])].sort() : v]));
    const [a, b] = stores.map((st) => imagesJson(st)) as [ImageRec[], ImageRec[]];
    expect(a.map(sorted)).to.deep.equal(b.map(sorted));
    expect(a[0]!.digest).to.equal(oci.digest);
    // found by the list's digest, as podman finds it
    const byDigest = `containers-storage:[vfs@${stores[0]!.G}+${stores[0]!.R}]example.com/one@${oci.digest}`;
    const raw = await ferry(['inspect', '--raw', byDigest]);
    expect(raw.code, raw.stderr).to.equal(0);
    expect(raw.stdoutBytes.equals(oci.bytes)).to.equal(true);
  });

  it('an instance the store does not hold: one line naming it', async () => {
    const t3 = tempStore('ferry-cs-multi-missing-');
    cleanup.defer(() => removeStore(t3.dir));
    const ref = `containers-storage:[vfs@${t3.G}+${t3.R}]example.com/only-index:v1`;
    expect((await ferry(['copy', '--quiet', '--multi-arch', 'index-only', `oci:${oci.layoutDir}:m`, ref])).code).to.equal(0);
    const c = await ferry(['copy', '--quiet', '--all', ref, `oci:${join(dir, 'missing')}:x`]);
    expect(c.code).to.equal(2);
    expect(c.stderr.trim().split('\n')).to.have.length(1);
    expect(c.stderr).to.include(oci.manifests[0]!.digest);
  });

  it('signatures: signed on copy --all, stored per instance and for the list, and copied out again', async () => {
    const home = await makeGpgHome(cleanup, 'cs-multi-gpg');
    const key = await home.generateKey('Multi <multi@example.com>');
    // uncompressed layers: a signed image copies out of the store only if its manifests stay as they are
    const raw = await buildImage(join(dir, 'raw'), { seed: 63, tag: 'm', layers: 1, layerSize: 2000, compression: 'none', platforms: PLATFORMS });
    const ref = `containers-storage:${store}example.com/signed:v1`;
    const r = await ferry(['copy', '--quiet', '--all', '--sign-by', key, `oci:${raw.layoutDir}:m`, ref], { env: home.env });
    expect(r.code, r.stderr).to.equal(0);
    const images = imagesJson(t);
    for (const m of raw.manifests) {
      const inst = images.find((i) => i.id === m.configDigest.slice(7))!;
      expect(inst['big-data-names']).to.include(`signature-${m.digest.slice(7)}`);
      expect((JSON.parse(inst.metadata!) as { 'signatures-sizes': Record<string, number[]> })['signatures-sizes'][m.digest]).to.have.length(1);
    }
    const out = join(dir, 'signed-dir');
    const c = await ferry(['copy', '--quiet', '--all', ref, `dir:${out}`]);
    expect(c.code, c.stderr).to.equal(0);
    const verify = (manifest: string, sig: string) =>
      run('skopeo', ['standalone-verify', join(out, manifest), 'example.com/signed:v1', key, join(out, sig)], { env: home.env });
    const top = await verify('manifest.json', 'signature-1');
    expect(top.code, top.stderr).to.equal(0);
    for (const m of raw.manifests) {
      const hex = m.digest.slice(7);
      const v = await verify(`${hex}.manifest.json`, `${hex}.signature-1`);
      expect(v.code, `${m.platform.architecture}: ${v.stderr}`).to.equal(0);
    }
  });
});
