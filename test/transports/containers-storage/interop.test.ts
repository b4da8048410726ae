/**
 * containers-storage interop with Debian's skopeo and podman (root only: overlay needs it):
 * ferry pulls into a fresh store → podman and skopeo see it with the same diff IDs; skopeo pulls →
 * ferry lists, mounts and pushes it; whiteouts through a real overlay mount; an interrupted pull.
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { storeNative } from '../../../src/store/native.js';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { spawn } from 'node:child_process';
import { buildImage, pushImage, type BuiltImage } from '../../harness/images.js';
import { useRegistry } from '../../harness/registry.js';
import { run } from '../../harness/procs.js';
import { ferry, ROOT } from '../../harness/cli.js';
import { hasCommand, isRoot, podmanArgs, removeStore, tempStore } from '../../store/helpers.js';
import { buildTar } from '../../store/tar-build.js';
import { writeLayout } from './layout.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** The diff IDs of the image in an OCI layout (layers gunzipped when compressed). */
function layoutDiffIds(dir: string): string[] {
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  const blob = (d: string) => readFileSync(join(dir, 'blobs', 'sha256', d.slice(7)));
  const m = JSON.parse(blob(index.manifests[0]!.digest).toString()) as { layers: Array<{ digest: string; mediaType: string }> };
  return m.layers.map((l) => sha(l.mediaType.endsWith('gzip') ? gunzipSync(blob(l.digest)) : blob(l.digest)));
}

/** Every entry under `root` with type, mode, owner, size, mtime, device and xattrs, for comparing unpacked layers. */
function describeTree(root: string): string[] {
  const out: string[] = [];
  const native = storeNative();
  const walk = (rel: string) => {
    const p = rel === '' ? root : join(root, rel);
    const st = lstatSync(p);
    const xattrs = native.llistxattr(p).sort().map((n) => `${n}=${native.lgetxattr(p, n)?.toString('hex')}`);
    out.push([rel || '.', st.mode.toString(8), st.uid, st.gid, st.isFile() ? st.size : '-', st.isDirectory() || (st.isCharacterDevice() && st.rdev === 0) ? '-' : Math.floor(st.mtimeMs / 1000), st.rdev, st.nlink, ...xattrs].join(' '));
    if (st.isDirectory()) for (const n of readdirSync(p).sort()) walk(rel === '' ? n : `${rel}/${n}`);
  };
  walk('');
  return out;
}

describe('containers-storage: interop with skopeo and podman', function () {
  this.timeout(120000);
  const registry = useRegistry('http');
  let t: ReturnType<typeof tempStore>;
  let img: BuiltImage;
  let store: string;
  before(async function () {
    if (!isRoot || !hasCommand('skopeo') || !hasCommand('podman')) this.skip();
    t = tempStore('ferry-interop-');
    store = `[overlay@${t.G}+${t.R}]`;
    img = await buildImage(join(t.dir, 'src'), { seed: 41, tag: 'v1', layers: 2, smallFiles: 50 });
    await pushImage(img, registry(), 'interop/app:v1');
  });
  after(() => t && removeStore(t.dir));

  it('ferry pulls from a registry → podman lists it, podman mounts it, skopeo reads the same diff IDs', async () => {
    const r = await ferry(['copy', '--quiet', '--src-tls-verify=false', `docker://${registry().host}/interop/app:v1`, `containers-storage:${store}example.com/app:v1`]);
    expect(r.code, r.stderr).to.equal(0);
    const configId = img.manifests[0]!.configDigest.slice(7);
    const images = await run('podman', podmanArgs(t.G, t.R, 'images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}', '--no-trunc'));
    expect(images.code, images.stderr).to.equal(0);
    expect(images.stdout).to.include(`example.com/app:v1 sha256:${configId}`);
    const mnt = await run('podman', podmanArgs(t.G, t.R, 'image', 'mount', 'example.com/app:v1'));
    expect(mnt.code, mnt.stderr).to.equal(0);
    try {
      const dir = mnt.stdout.trim();
      expect(readFileSync(join(dir, 'layer0', 'info.txt')).length).to.be.greaterThan(0);
      expect(readdirSync(join(dir, 'files')).length).to.be.greaterThan(0);
    } finally {
      await run('podman', podmanArgs(t.G, t.R, 'image', 'unmount', 'example.com/app:v1'));
    }
    const out = join(t.dir, 'out-skopeo');
    const s = await run('skopeo', ['copy', `containers-storage:${store}example.com/app:v1`, `oci:${out}:x`]);
    expect(s.code, s.stderr).to.equal(0);
    expect(layoutDiffIds(out)).to.deep.equal(img.manifests[0]!.layers.map((l) => l.diffId));
  });

  it('skopeo pulls → ferry lists, mounts and pushes it with the same diff IDs', async () => {
    const s = await run('skopeo', ['copy', '--src-tls-verify=false', `docker://${registry().host}/interop/app:v1`, `containers-storage:${store}example.com/by-skopeo:v1`]);
    expect(s.code, s.stderr).to.equal(0);
    const flags = ['--root', t.G, '--runroot', t.R];
    const list = await ferry(['store', 'images', '--json', ...flags]);
    expect(list.code, list.stderr).to.equal(0);
    const names = (JSON.parse(list.stdout) as Array<{ names: string[] }>).flatMap((i) => i.names);
    expect(names).to.include('example.com/by-skopeo:v1');
    const c = await ferry(['store', 'create', '--name', 'reader', 'example.com/by-skopeo:v1', ...flags]);
    expect(c.code, c.stderr).to.equal(0);
    const m = await ferry(['store', 'mount', 'reader', ...flags]);
    expect(m.code, m.stderr).to.equal(0);
    expect(readFileSync(join(m.stdout.trim(), 'layer1', 'info.txt')).length).to.be.greaterThan(0);
    expect((await ferry(['store', 'unmount', 'reader', ...flags])).code).to.equal(0);
    expect((await ferry(['store', 'rm', 'reader', ...flags])).code).to.equal(0);
    const out = join(t.dir, 'out-ferry');
    const p = await ferry(['copy', '--quiet', `containers-storage:${store}example.com/by-skopeo:v1`, `oci:${out}:x`]);
    expect(p.code, p.stderr).to.equal(0);
    expect(layoutDiffIds(out)).to.deep.equal(img.manifests[0]!.layers.map((l) => l.diffId));
    // And back to a registry, then skopeo reads it with the same diff IDs.
    const push = await ferry(['copy', '--quiet', '--dest-tls-verify=false', `containers-storage:${store}example.com/by-skopeo:v1`, `docker://${registry().host}/interop/back:v1`]);
    expect(push.code, push.stderr).to.equal(0);
    const cfg = await run('skopeo', ['inspect', '--tls-verify=false', '--config', `docker://${registry().host}/interop/back:v1`]);
    expect((JSON.parse(cfg.stdout) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids).to.deep.equal(img.manifests[0]!.layers.map((l) => l.diffId));
  });

  it('Docker schema2 images: stored as pulled, pushed back uncompressed-then-recompressed with the same diff IDs', async () => {
    const d = await buildImage(join(t.dir, 'docker'), { seed: 43, tag: 'd', layers: 2, format: 'docker' });
    await pushImage(d, registry(), 'interop/docker:d');
    const pull = await ferry(['copy', '--quiet', '--src-tls-verify=false', `docker://${registry().host}/interop/docker:d`, `containers-storage:${store}example.com/docker:d`]);
    expect(pull.code, pull.stderr).to.equal(0);
    const podman = await run('podman', podmanArgs(t.G, t.R, 'image', 'inspect', '--format', '{{.Digest}}', 'example.com/docker:d'));
    expect(podman.stdout.trim()).to.equal(d.manifests[0]!.digest);
    const push = await ferry(['copy', '--quiet', '--dest-tls-verify=false', `containers-storage:${store}example.com/docker:d`, `docker://${registry().host}/interop/docker-back:d`]);
    expect(push.code, push.stderr).to.equal(0);
    const raw = await run('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${registry().host}/interop/docker-back:d`]);
    expect((JSON.parse(raw.stdout) as { mediaType: string }).mediaType).to.equal('application/vnd.docker.distribution.manifest.v2+json');
    const cfg = await run('skopeo', ['inspect', '--tls-verify=false', '--config', `docker://${registry().host}/interop/docker-back:d`]);
    expect((JSON.parse(cfg.stdout) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids).to.deep.equal(d.manifests[0]!.layers.map((l) => l.diffId));
  });

  it('gives the right merged view of whiteouts and opaque directories through a real overlay mount', async () => {
    const dir = join(t.dir, 'wh-layout');
    writeLayout(dir, 'wh', [
      buildTar([{ name: 'etc/', type: 'dir' }, { name: 'etc/passwd', data: 'root' }, { name: 'etc/hosts', data: 'h' }, { name: 'var/', type: 'dir' }, { name: 'var/old', data: 'o' }]),
      buildTar([{ name: 'etc/', type: 'dir' }, { name: 'etc/.wh.passwd' }, { name: 'var/', type: 'dir' }, { name: 'var/.wh..wh..opq' }, { name: 'var/new', data: 'n' }]),
    ]);
    const flags = ['--root', t.G, '--runroot', t.R];
    expect((await ferry(['copy', '--quiet', `oci:${dir}:wh`, `containers-storage:${store}example.com/wh:1`])).code).to.equal(0);
    expect((await ferry(['store', 'create', '--name', 'wh', 'example.com/wh:1', ...flags])).code).to.equal(0);
    const m = await ferry(['store', 'mount', 'wh', ...flags]);
    expect(m.code, m.stderr).to.equal(0);
    const merged = m.stdout.trim();
    expect(readdirSync(join(merged, 'etc'))).to.deep.equal(['hosts']);
    expect(readdirSync(join(merged, 'var'))).to.deep.equal(['new']);
    writeFileSync(join(merged, 'etc', 'written'), 'w');
    expect((await ferry(['store', 'unmount', 'wh', ...flags])).code).to.equal(0);
    expect(existsSync(join(merged, 'etc'))).to.equal(false);
    const containers = JSON.parse((await ferry(['store', 'containers', '--json', ...flags])).stdout) as Array<{ names: string[]; layer: string }>;
    const layer = containers.find((c) => c.names.includes('wh'))!.layer;
    expect(readFileSync(join(t.G, 'overlay', layer, 'diff', 'etc', 'written'), 'utf8')).to.equal('w');
    // podman agrees on the merged view of the image.
    const pm = await run('podman', podmanArgs(t.G, t.R, 'image', 'mount', 'example.com/wh:1'));
    expect(pm.code, pm.stderr).to.equal(0);
    try {
      expect(readdirSync(join(pm.stdout.trim(), 'var'))).to.deep.equal(['new']);
    } finally {
      await run('podman', podmanArgs(t.G, t.R, 'image', 'unmount', 'example.com/wh:1'));
    }
    const rmi = await ferry(['store', 'rmi', 'example.com/wh:1', ...flags]);
    expect(rmi.code).to.equal(1);
    expect(rmi.stderr).to.include('in use by container');
    expect((await ferry(['store', 'rmi', '--force', 'example.com/wh:1', ...flags])).code).to.equal(0);
  });

  it('round-trips a layer with every entry type through both tools with the same diff ID', async () => {
    const rich = buildTar([
      { name: './', type: 'dir', mode: 0o755 },
      { name: 'bin/', type: 'dir' },
      { name: 'bin/tool', data: 't'.repeat(3000), mode: 0o4755, xattrs: { 'security.capability': Buffer.from('0100000200200000000000000000000000000000', 'hex'), 'user.x': 'y' } },
      { name: 'bin/link', type: 'symlink', linkname: 'tool' },
      { name: 'bin/hard', type: 'hardlink', linkname: 'bin/tool', mode: 0o4755 },
      { name: 'dev/', type: 'dir' },
      { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
      { name: 'dev/fifo', type: 'fifo' },
      { name: 'tmp/', type: 'dir', mode: 0o1777 },
      { name: 'home/', type: 'dir', uid: 1000, gid: 1000, mode: 0o2750 },
      { name: `home/${'n'.repeat(120)}`, data: 'long', uid: 1000, gid: 1000 },
      { name: 'etc/', type: 'dir' },
      { name: 'etc/.wh.gone' },
      { name: 'opt/', type: 'dir' },
      { name: 'opt/.wh..wh..opq' },
    ], { trailing: 1024 });
    const dir = join(t.dir, 'rich');
    const { diffIds } = writeLayout(dir, 'r', [buildTar([{ name: 'etc/', type: 'dir' }, { name: 'etc/gone', data: 'g' }]), rich]);
    // ferry writes → skopeo reads.
    expect((await ferry(['copy', '--quiet', `oci:${dir}:r`, `containers-storage:${store}example.com/rich-ferry:1`])).code).to.equal(0);
    const out1 = join(t.dir, 'rich-out1');
    const s1 = await run('skopeo', ['copy', `containers-storage:${store}example.com/rich-ferry:1`, `oci:${out1}:x`]);
    expect(s1.code, s1.stderr).to.equal(0);
    expect(layoutDiffIds(out1)).to.deep.equal(diffIds);
    // skopeo writes (into another store, so the layer is its own) → ferry reads.
    const t2 = tempStore('ferry-interop-rich-');
    try {
      const store2 = `[overlay@${t2.G}+${t2.R}]`;
      const s2 = await run('skopeo', ['copy', `oci:${dir}:r`, `containers-storage:${store2}example.com/rich-skopeo:1`]);
      expect(s2.code, s2.stderr).to.equal(0);
      const out2 = join(t.dir, 'rich-out2');
      const f2 = await ferry(['copy', '--quiet', `containers-storage:${store2}example.com/rich-skopeo:1`, `oci:${out2}:x`]);
      expect(f2.code, f2.stderr).to.equal(0);
      expect(layoutDiffIds(out2)).to.deep.equal(diffIds);
      // Both tools unpacked the layer to the same files, metadata and whiteouts.
      const layers = JSON.parse(readFileSync(join(t2.G, 'overlay-layers', 'layers.json'), 'utf8')) as Array<{ id: string }>;
      const id = layers[layers.length - 1]!.id;
      expect(describeTree(join(t.G, 'overlay', id, 'diff'))).to.deep.equal(describeTree(join(t2.G, 'overlay', id, 'diff')));
    } finally {
      removeStore(t2.dir);
    }
  });

  it('ferry and skopeo writing one store at the same time both succeed (shared fcntl locks)', async () => {
    const imgs = await Promise.all([1, 2, 3].map((i) => buildImage(join(t.dir, `conc${i}`), { seed: 100 + i, tag: 'c', layers: 3, layerSize: 256 << 10 })));
    const jobs = imgs.flatMap((im, i) => [
      ferry(['copy', '--quiet', `oci:${im.layoutDir}:c`, `containers-storage:${store}example.com/conc-ferry:${i}`]).then((r) => ({ ...r, who: 'ferry' })),
      run('skopeo', ['copy', '--quiet', `oci:${im.layoutDir}:c`, `containers-storage:${store}example.com/conc-skopeo:${i}`]).then((r) => ({ ...r, code: r.code ?? 1, who: 'skopeo' })),
    ]);
    for (const r of await Promise.all(jobs)) expect(r.code, `${r.who}: ${r.stderr}`).to.equal(0);
    const layers = JSON.parse(readFileSync(join(t.G, 'overlay-layers', 'layers.json'), 'utf8')) as Array<{ id: string }>;
    expect(new Set(layers.map((l) => l.id)).size, 'no duplicate layer records').to.equal(layers.length);
    const pi = await run('podman', podmanArgs(t.G, t.R, 'images', '--format', '{{.Repository}}:{{.Tag}}'));
    for (let i = 0; i < 3; i++) {
      expect(pi.stdout).to.include(`example.com/conc-ferry:${i}`);
      expect(pi.stdout).to.include(`example.com/conc-skopeo:${i}`);
    }
    const out = join(t.dir, 'conc-out');
    expect((await ferry(['copy', '--quiet', `containers-storage:${store}example.com/conc-skopeo:2`, `oci:${out}:x`])).code).to.equal(0);
    expect(layoutDiffIds(out)).to.deep.equal(imgs[2]!.manifests[0]!.layers.map((l) => l.diffId));
  });

  it('an interrupted pull (killed mid-layer) leaves a store that ferry, skopeo and podman still use', async () => {
    const big = await buildImage(join(t.dir, 'big'), { seed: 42, tag: 'big', layers: 1, layerSize: 128 << 20, compression: 'none' });
    const launcher = `import(${JSON.stringify(join(ROOT, 'lib', 'cli', 'main.js'))}).then(async (m) => { process.exitCode = await m.run(process.argv.slice(1)); })`;
    const child = spawn(process.execPath, ['-e', launcher, 'copy', '--quiet', `oci:${big.layoutDir}:big`, `containers-storage:${store}example.com/big:1`], { stdio: 'ignore' });
    const staging = join(t.G, 'overlay', '.ferry-staging');
    const t0 = Date.now();
    while (Date.now() - t0 < 20000) {
      if (existsSync(staging) && readdirSync(staging).some((d) => existsSync(join(staging, d, 'diff', 'layer0')))) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const exited = child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', r));
    expect(child.exitCode, 'ferry finished before it could be killed').to.equal(null);
    child.kill('SIGKILL');
    await exited;
    const flags = ['--root', t.G, '--runroot', t.R];
    const list = await ferry(['store', 'images', '--json', ...flags]);
    expect(list.code, list.stderr).to.equal(0);
    expect(JSON.stringify(JSON.parse(list.stdout))).to.not.include('example.com/big');
    const pi = await run('podman', podmanArgs(t.G, t.R, 'images'));
    expect(pi.code, pi.stderr).to.equal(0);
    const s = await run('skopeo', ['copy', `oci:${img.layoutDir}:v1`, `containers-storage:${store}example.com/after-kill:v1`]);
    expect(s.code, s.stderr).to.equal(0);
    expect((await ferry(['store', 'prune', ...flags])).code).to.equal(0);
    const again = await ferry(['store', 'images', ...flags]);
    expect(again.stdout).to.include('example.com/after-kill');
  });
});

describe('containers-storage: a store with a mount_program (fuse-overlayfs), as podman writes it', function () {
  this.timeout(120000);
  let t: ReturnType<typeof tempStore>;
  before(function () {
    if (!isRoot || !hasCommand('podman')) this.skip();
    t = tempStore('ferry-aufs-');
  });
  let cleanupLayout: string | undefined;
  after(() => {
    if (t) removeStore(t.dir);
    if (cleanupLayout) rmSync(cleanupLayout, { recursive: true, force: true });
  });

  it('keeps whiteouts and opaque markers as the .wh. files of the layer, the same tree podman unpacks, and reads them back byte for byte', async () => {
    // lowercase: podman names an image pulled from oci:PATH after the path
    const layout = join(tmpdir(), `ferry-aufs-layout-${process.pid}`);
    cleanupLayout = layout;
    const { diffIds } = writeLayout(layout, 'w', [
      buildTar([{ name: 'opq/', type: 'dir' }, { name: 'opq/old', data: 'old' }, { name: 'gone', data: 'g' }]),
      buildTar([{ name: 'opq/', type: 'dir' }, { name: 'opq/.wh..wh..opq' }, { name: 'opq/new', data: 'new' }, { name: '.wh.gone', mode: 0o600 }]),
    ]);
    const mountProgram = '/usr/bin/fuse-overlayfs';
    // podman's pull unpacks layers without mounting anything: no /dev/fuse needed
    const p = await run('podman', podmanArgs(join(t.dir, 'PG'), join(t.dir, 'PR'), '--storage-opt', `overlay.mount_program=${mountProgram}`, 'pull', '-q', `oci:${layout}:w`));
    expect(p.code, p.stderr).to.equal(0);
    const conf = join(t.dir, 'storage.conf');
    writeFileSync(conf, `[storage]\ndriver = "overlay"\ngraphroot = "${t.G}"\nrunroot = "${t.R}"\n[storage.options.overlay]\nmount_program = "${mountProgram}"\n`);
    const f = await ferry(['copy', '--quiet', `oci:${layout}:w`, 'containers-storage:example.com/aufs:v1'], { env: { CONTAINERS_STORAGE_CONF: conf } });
    expect(f.code, f.stderr).to.equal(0);
    const trees = (G: string) => readdirSync(join(G, 'overlay')).filter((d) => /^[0-9a-f]{64}$/.test(d)).sort().map((d) => [d, ...describeTree(join(G, 'overlay', d, 'diff'))].join('\n'));
    const ours = trees(t.G);
    expect(ours.join('\n')).to.include('.wh.gone 100600').and.include('opq/.wh..wh..opq 100644');
    expect(ours).to.deep.equal(trees(join(t.dir, 'PG')));
    const out = join(t.dir, 'out');
    const back = await ferry(['copy', '--quiet', 'containers-storage:example.com/aufs:v1', `oci:${out}:x`], { env: { CONTAINERS_STORAGE_CONF: conf } });
    expect(back.code, back.stderr).to.equal(0);
    expect(layoutDiffIds(out)).to.deep.equal(diffIds);

    // root can open /dev/fuse: podman mounts ferry's store through fuse-overlayfs, which applies the .wh. files
    if (!existsSync('/dev/fuse')) {
      console.log('      (mount through fuse-overlayfs not checked: no /dev/fuse)');
      return;
    }
    const mountArgs = (...args: string[]) => podmanArgs(t.G, t.R, '--storage-opt', `overlay.mount_program=${mountProgram}`, ...args);
    const m = await run('podman', mountArgs('image', 'mount', 'example.com/aufs:v1'));
    expect(m.code, m.stderr).to.equal(0);
    try {
      const merged = m.stdout.trim();
      const seen: string[] = [];
      const walk = (rel: string) => {
        for (const n of readdirSync(join(merged, rel)).sort()) {
          const r = rel === '' ? n : `${rel}/${n}`;
          seen.push(r);
          if (lstatSync(join(merged, r)).isDirectory()) walk(r);
        }
      };
      walk('');
      expect(seen).to.deep.equal(['opq', 'opq/new']);
    } finally {
      await run('podman', mountArgs('image', 'unmount', 'example.com/aufs:v1'));
    }
  });
});
