import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ferry } from '../harness/cli.js';
import { run } from '../harness/procs.js';
import { hasCommand, isRoot, removeStore, tempStore } from './helpers.js';
import { buildTar } from './tar-build.js';
import { writeLayout } from '../transports/containers-storage/layout.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('store: vfs driver', function () {
  this.timeout(60000);
  let t: ReturnType<typeof tempStore>;
  beforeEach(() => (t = tempStore('ferry-vfs-')));
  afterEach(() => removeStore(t.dir));

  const tars = [
    buildTar([{ name: 'etc/', type: 'dir' }, { name: 'etc/passwd', data: 'root' }, { name: 'etc/hosts', data: 'h' }, { name: 'var/', type: 'dir' }, { name: 'var/old', data: 'o' }, { name: 'bin/', type: 'dir' }, { name: 'bin/a', data: 'a' }, { name: 'bin/b', type: 'hardlink', linkname: 'bin/a' }]),
    buildTar([{ name: 'etc/', type: 'dir' }, { name: 'etc/.wh.passwd' }, { name: 'etc/hosts', data: 'h2' }, { name: 'var/', type: 'dir' }, { name: 'var/.wh..wh..opq' }, { name: 'var/new', data: 'n' }]),
  ];

  it('stores whole root file systems per layer, applies whiteouts, and rebuilds each layer byte for byte', async function () {
    if (!isRoot) this.skip();
    const layout = join(t.dir, 'layout');
    const { diffIds } = writeLayout(layout, 'v', tars);
    const store = `[vfs@${t.G}+${t.R}]`;
    const c = await ferry(['copy', '--quiet', `oci:${layout}:v`, `containers-storage:${store}example.com/vfs:1`]);
    expect(c.code, c.stderr).to.equal(0);
    const layers = JSON.parse(readFileSync(join(t.G, 'vfs-layers', 'layers.json'), 'utf8')) as Array<{ id: string; 'diff-digest': string }>;
    expect(layers.map((l) => l['diff-digest'])).to.deep.equal(diffIds);
    const top = join(t.G, 'vfs', 'dir', layers[1]!.id);
    expect(readdirSync(join(top, 'etc'))).to.deep.equal(['hosts']);
    expect(readFileSync(join(top, 'etc', 'hosts'), 'utf8')).to.equal('h2');
    expect(readdirSync(join(top, 'var'))).to.deep.equal(['new']);
    expect(statSync(join(top, 'bin', 'a')).ino).to.equal(statSync(join(top, 'bin', 'b')).ino);
    expect(readdirSync(join(t.G, 'vfs', 'dir', layers[0]!.id, 'etc')).sort()).to.deep.equal(['hosts', 'passwd']);
    expect(statSync(top).mode & 0o7777).to.equal(0o555);
    // Copy out: the layers come back with the same diff IDs.
    const out = join(t.dir, 'out');
    const o = await ferry(['copy', '--quiet', `containers-storage:${store}example.com/vfs:1`, `oci:${out}:x`]);
    expect(o.code, o.stderr).to.equal(0);
    const cfg = JSON.parse((await ferry(['inspect', '--config', `oci:${out}:x`])).stdout) as { rootfs: { diff_ids: string[] } };
    expect(cfg.rootfs.diff_ids).to.deep.equal(diffIds);
    // Containers: a copy of the image's top layer, "mounted" in place.
    const flags = ['--root', t.G, '--runroot', t.R, '--storage-driver', 'vfs'];
    expect((await ferry(['store', 'create', '--name', 'v', 'example.com/vfs:1', ...flags])).code).to.equal(0);
    const m = await ferry(['store', 'mount', 'v', ...flags]);
    expect(m.code, m.stderr).to.equal(0);
    writeFileSync(join(m.stdout.trim(), 'etc', 'w'), 'w');
    expect(readFileSync(join(top, 'etc', 'hosts'), 'utf8')).to.equal('h2');
    expect(existsSync(join(top, 'etc', 'w'))).to.equal(false);
    expect((await ferry(['store', 'unmount', 'v', ...flags])).code).to.equal(0);
    expect((await ferry(['store', 'rmi', '--force', 'example.com/vfs:1', ...flags])).code).to.equal(0);
    expect(readdirSync(join(t.G, 'vfs', 'dir'))).to.deep.equal([]);
  });

  it('is read by skopeo and podman (vfs), and reads what skopeo wrote', async function () {
    if (!isRoot || !hasCommand('skopeo') || !hasCommand('podman')) this.skip();
    const layout = join(t.dir, 'layout');
    const { diffIds, configDigest } = writeLayout(layout, 'v', tars);
    const store = `[vfs@${t.G}+${t.R}]`;
    expect((await ferry(['copy', '--quiet', `oci:${layout}:v`, `containers-storage:${store}example.com/vfs:1`])).code).to.equal(0);
    const p = await run('podman', ['--root', t.G, '--runroot', t.R, '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', 'images', '--no-trunc', '--format', '{{.Repository}} {{.ID}}']);
    expect(p.code, p.stderr).to.equal(0);
    expect(p.stdout).to.include(`example.com/vfs ${configDigest}`);
    const out = join(t.dir, 'out');
    const s = await run('skopeo', ['copy', `containers-storage:${store}example.com/vfs:1`, `oci:${out}:x`]);
    expect(s.code, s.stderr).to.equal(0);
    const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    const blob = (d: string) => readFileSync(join(out, 'blobs', 'sha256', d.slice(7)));
    const man = JSON.parse(blob(index.manifests[0]!.digest).toString()) as { layers: Array<{ digest: string }> };
    expect(man.layers.map((l) => sha(gunzipSync(blob(l.digest))))).to.deep.equal(diffIds);
    const s2 = await run('skopeo', ['copy', `oci:${layout}:v`, `containers-storage:${store}example.com/by-skopeo:1`]);
    expect(s2.code, s2.stderr).to.equal(0);
    const out2 = join(t.dir, 'out2');
    expect((await ferry(['copy', '--quiet', `containers-storage:${store}example.com/by-skopeo:1`, `oci:${out2}:x`])).code).to.equal(0);
  });
});
