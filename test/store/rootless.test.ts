/**
 * Rootless stores (root only: the test creates users with `useradd`, gives them /etc/subuid and /etc/subgid ranges,
 * and runs ferry, podman and skopeo as them with `runuser`; everything is removed after). ferry, run by the user,
 * pulls into `~/.local/share/containers/storage` in the user namespace podman uses (the user as 0, the subordinate
 * IDs from 1), so rootless podman lists, mounts (`podman unshare podman image mount`) and reads what ferry pulled with
 * the owners the image has, and ferry reads what rootless podman pulled; without subordinate IDs only
 * `ignore_chown_errors` lets an image with other owners in. The vfs driver, and the overlay driver on kernel overlayfs
 * mounted in the user namespace (`userxattr`); its `mount_program = fuse-overlayfs` needs /dev/fuse, which the test
 * checks and names when it cannot run (whiteout-formats.test.ts checks what a mount_program store holds, as root).
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { FERRY_BIN } from '../harness/cli.js';
import { run, type RunResult } from '../harness/procs.js';
import { useCleanup } from '../harness/tmp.js';
import { writeLayout } from '../transports/containers-storage/layout.js';
import { hasCommand, isRoot } from './helpers.js';
import { buildTar, sha256 } from './tar-build.js';

/** A user made for the test, with its home, runtime directory and a way to run commands as it. */
interface TestUser {
  name: string;
  uid: number;
  home: string;
  /** Runs `cmd args` as the user, with its HOME and XDG_RUNTIME_DIR. */
  run(cmd: string, args: string[]): Promise<RunResult>;
}

const SUBID_START = 420000;
const SUBID_COUNT = 65536;

/** The image: root-owned files, a 0600 file, files of uid 1000, a device node, and a whiteout in the second layer. */
function imageLayers(): Buffer[] {
  return [
    buildTar([
      { name: 'etc/', type: 'dir' },
      { name: 'etc/shadow', data: 'secret', mode: 0o600 },
      { name: 'home/', type: 'dir' },
      { name: 'home/u/', type: 'dir', uid: 1000, gid: 1000, mode: 0o750 },
      { name: 'home/u/gone', data: 'g', uid: 1000, gid: 1000 },
      { name: 'home/u/private', data: 'mine', uid: 1000, gid: 1000, mode: 0o600 },
      { name: 'dev/', type: 'dir' },
      { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
    ]),
    buildTar([{ name: 'home/', type: 'dir' }, { name: 'home/u/', type: 'dir', uid: 1000, gid: 1000, mode: 0o750 }, { name: 'home/u/.wh.gone' }, { name: 'home/u/new', data: 'n', uid: 1000, gid: 1002 }]),
  ];
}

/** The diff IDs of the single image of an OCI layout. */
function layoutDiffIds(dir: string): string[] {
  const blob = (d: string) => readFileSync(join(dir, 'blobs', 'sha256', d.slice(7)));
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  const m = JSON.parse(blob(index.manifests[0]!.digest).toString()) as { layers: Array<{ digest: string; mediaType: string }> };
  return m.layers.map((l) => sha256(/gzip/.test(l.mediaType) ? gunzipSync(blob(l.digest)) : blob(l.digest)));
}

/** Owner, mode and type of every entry under `root`, as seen from the host. */
function owners(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    const st = lstatSync(rel === '' ? root : join(root, rel));
    out.push(`${rel || '.'} ${st.uid}:${st.gid} ${st.mode.toString(8)}`);
    if (st.isDirectory()) for (const n of readdirSync(join(root, rel)).sort()) walk(rel === '' ? n : `${rel}/${n}`);
  };
  walk('');
  return out;
}

describe('rootless stores: ferry and rootless podman as a non-root user', function () {
  this.timeout(180_000);
  const cleanup = useCleanup('after');
  let base: string;
  let layout: string;
  let diffIds: string[];
  let other: string;
  let otherDiffIds: string[];
  const users: TestUser[] = [];

  /** Creates a user (home under `base`), with subordinate IDs unless `subIds` is false; removed by cleanup. */
  async function makeUser(tag: string, subIds: boolean, storageConf: string): Promise<TestUser> {
    const name = `ferry${tag}${process.pid % 100000}`;
    const add = await run('useradd', ['-m', '-b', base, '-s', '/bin/sh', '-K', 'SUB_UID_COUNT=0', '-K', 'SUB_GID_COUNT=0', name]);
    if (add.code !== 0) throw new Error(`useradd ${name}: ${add.stderr}`);
    const start = SUBID_START + users.length * SUBID_COUNT;
    cleanup.defer(async () => {
      // podman leaves a pause process holding its user namespace: end it (by its PID) before removing the user.
      const pidFile = join(base, `run-${name}`, 'libpod', 'tmp', 'pause.pid');
      if (existsSync(pidFile)) {
        try {
          process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 'SIGKILL');
        } catch {
          /* gone already */
        }
      }
      if (subIds) await run('usermod', ['--del-subuids', `${start}-${start + SUBID_COUNT - 1}`, '--del-subgids', `${start}-${start + SUBID_COUNT - 1}`, name]);
      await run('userdel', ['-r', '-f', name]);
    });
    if (subIds) {
      const mod = await run('usermod', ['--add-subuids', `${start}-${start + SUBID_COUNT - 1}`, '--add-subgids', `${start}-${start + SUBID_COUNT - 1}`, name]);
      if (mod.code !== 0) throw new Error(`usermod ${name}: ${mod.stderr}`);
    }
    const uid = Number(execFileSync('id', ['-u', name]).toString().trim());
    const home = join(base, name);
    const xdg = join(base, `run-${name}`);
    mkdirSync(xdg, { mode: 0o700 });
    chownSync(xdg, uid, uid);
    mkdirSync(join(home, '.config', 'containers'), { recursive: true });
    writeFileSync(join(home, '.config', 'containers', 'storage.conf'), storageConf);
    writeFileSync(join(home, 'policy.json'), JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
    execFileSync('chown', ['-R', `${uid}:${uid}`, join(home, '.config'), join(home, 'policy.json')]);
    const env = [`HOME=${home}`, `XDG_RUNTIME_DIR=${xdg}`, `PATH=${process.env.PATH ?? '/usr/bin:/bin'}`, `USER=${name}`];
    const u: TestUser = {
      name,
      uid,
      home,
      run: (cmd, args) => run('runuser', ['-u', name, '--', 'env', '-i', ...env, cmd, ...args], { cwd: home, timeoutMs: 120_000 }),
    };
    users.push(u);
    return u;
  }

  const podman = (u: TestUser, ...args: string[]) => u.run('podman', ['--cgroup-manager', 'cgroupfs', '--events-backend', 'file', ...args]);
  const ferry = (u: TestUser, ...args: string[]) => u.run(FERRY_BIN, args);

  before(async function () {
    const missing = ['useradd', 'runuser', 'podman', 'skopeo', 'newuidmap', 'unshare'].filter((c) => !hasCommand(c));
    if (!isRoot || missing.length > 0) {
      console.log(`      (skipped: ${!isRoot ? 'needs root to create users' : `missing ${missing.join(', ')} (make sysdeps-test installs them)`})`);
      this.skip();
    }
    const probe = await run('unshare', ['--user', '--map-root-user', 'true']);
    if (probe.code !== 0) {
      console.log(`      (skipped: no user namespaces here: unshare --user: ${probe.stderr.trim()}; /proc/sys/user/max_user_namespaces = ${readFileSync('/proc/sys/user/max_user_namespaces', 'utf8').trim()})`);
      this.skip();
    }
    // lowercase: podman names an image pulled from oci:PATH after the path
    base = join(tmpdir(), `ferry-rootless-${process.pid}`);
    mkdirSync(base, { mode: 0o755 });
    cleanup.defer(() => rmSync(base, { recursive: true, force: true }));
    chmodSync(base, 0o755);
    layout = join(base, 'layout');
    ({ diffIds } = writeLayout(layout, 'rl', imageLayers()));
    other = join(base, 'other');
    ({ diffIds: otherDiffIds } = writeLayout(other, 'o', [buildTar([{ name: 'srv/', type: 'dir', uid: 1000, gid: 1000 }, { name: 'srv/data', data: 'podman', uid: 1000, gid: 1000, mode: 0o600 }])]));
    execFileSync('chmod', ['-R', 'a+rX', layout, other]);
  });

  describe('with /etc/subuid and /etc/subgid ranges', () => {
    let u: TestUser;
    const storeOf = (home: string) => join(home, '.local', 'share', 'containers', 'storage');
    before(async () => {
      u = await makeUser('rl', true, '[storage]\ndriver = "vfs"\n');
    });

    it('ferry pulls as the user → rootless podman lists and mounts it, with the owners of the image inside its namespace', async () => {
      const r = await ferry(u, '--insecure-policy', 'copy', '--quiet', `oci:${layout}:rl`, 'containers-storage:example.com/rl:v1');
      expect(r.code, r.stderr).to.equal(0);
      const images = await podman(u, 'images', '--format', '{{.Repository}}:{{.Tag}}');
      expect(images.code, images.stderr).to.equal(0);
      expect(images.stdout).to.include('example.com/rl:v1');
      const mnt = await podman(u, 'unshare', 'podman', 'image', 'mount', 'example.com/rl:v1');
      expect(mnt.code, mnt.stderr).to.equal(0);
      const dir = mnt.stdout.trim();
      const inside = await podman(u, 'unshare', 'stat', '-c', '%n %u:%g %a', join(dir, 'etc/shadow'), join(dir, 'home/u'), join(dir, 'home/u/private'), join(dir, 'home/u/new'));
      expect(inside.code, inside.stderr).to.equal(0);
      expect(inside.stdout.trim().split('\n').map((l) => l.slice(dir.length + 1))).to.deep.equal(['etc/shadow 0:0 600', 'home/u 1000:1000 750', 'home/u/private 1000:1000 600', 'home/u/new 1000:1002 644']);
      const secret = await podman(u, 'unshare', 'cat', join(dir, 'home/u/private'));
      expect(secret.stdout).to.equal('mine');
      expect(existsSync(join(dir, 'home/u/gone')), 'the whiteout applied').to.equal(false);
      expect((await podman(u, 'unshare', 'podman', 'image', 'unmount', 'example.com/rl:v1')).code).to.equal(0);
      // On the host, the owners are those of podman's mapping: the user for 0, the subordinate IDs from 1 on.
      const st = lstatSync(join(dir, 'home/u/new'));
      expect([st.uid, st.gid]).to.deep.equal([SUBID_START + 999, SUBID_START + 1001]);
      expect(lstatSync(join(dir, 'etc/shadow')).uid).to.equal(u.uid);
    });

    it('rootless skopeo copies what ferry pulled back out with the same diff IDs', async () => {
      const out = join(u.home, 'out-skopeo');
      const s = await u.run('skopeo', ['--policy', join(u.home, 'policy.json'), 'copy', '--quiet', 'containers-storage:example.com/rl:v1', `oci:${out}:x`]);
      expect(s.code, s.stderr).to.equal(0);
      expect(layoutDiffIds(out)).to.deep.equal(diffIds);
    });

    it('ferry and rootless podman unpack the same image to the same owners and modes on the host', async () => {
      const alt = join(u.home, 'alt-store');
      const p = await podman(u, '--root', alt, '--storage-driver', 'vfs', 'pull', '-q', '--signature-policy', join(u.home, 'policy.json'), `oci:${layout}:rl`);
      expect(p.code, p.stderr).to.equal(0);
      const top = (store: string) => {
        const layers = JSON.parse(readFileSync(join(store, 'vfs-layers', 'layers.json'), 'utf8')) as Array<{ id: string; 'diff-digest': string }>;
        return join(store, 'vfs', 'dir', layers.find((l) => l['diff-digest'] === diffIds[1])!.id);
      };
      expect(owners(top(storeOf(u.home)))).to.deep.equal(owners(top(alt)));
    });

    it('rootless podman pulls → ferry, as the user, lists it and copies it out with the same diff IDs', async () => {
      const p = await podman(u, 'pull', '-q', '--signature-policy', join(u.home, 'policy.json'), `oci:${other}:o`);
      expect(p.code, p.stderr).to.equal(0);
      const id = p.stdout.trim().split('\n').pop()!;
      const list = await ferry(u, 'store', 'images', '--json');
      expect(list.code, list.stderr).to.equal(0);
      expect((JSON.parse(list.stdout) as Array<{ id: string }>).map((i) => i.id)).to.include(id);
      const out = join(u.home, 'out-ferry');
      const c = await ferry(u, '--insecure-policy', 'copy', '--quiet', `containers-storage:${id}`, `oci:${out}:x`);
      expect(c.code, c.stderr).to.equal(0);
      expect(layoutDiffIds(out)).to.deep.equal(otherDiffIds);
    });

    it('overlay without a mount_program (kernel overlayfs in the user namespace, userxattr): podman mounts what ferry pulled, and the other way round', async () => {
      // A whiteout and an opaque directory: stored as a 0/0 device and user.overlay.opaque, as rootless podman stores them.
      const wl = join(base, 'whiteouts');
      const { diffIds: wlDiffIds } = writeLayout(wl, 'w', [
        buildTar([{ name: 'opq/', type: 'dir' }, { name: 'opq/old', data: 'old' }, { name: 'gone', data: 'g' }, { name: 'kept', data: 'k' }]),
        buildTar([{ name: 'opq/', type: 'dir' }, { name: 'opq/.wh..wh..opq' }, { name: 'opq/new', data: 'new' }, { name: '.wh.gone' }]),
      ]);
      execFileSync('chmod', ['-R', 'a+rX', wl]);
      const root = join(u.home, 'kernel-overlay');
      const runRoot = join(base, `run-${u.name}`, 'ko'); // podman refuses a run root longer than 50 characters
      const conf = join(u.home, 'kernel-overlay.conf');
      writeFileSync(conf, `[storage]\ndriver = "overlay"\ngraphroot = "${root}"\nrunroot = "${runRoot}"\n`);
      chownSync(conf, u.uid, u.uid);
      const withConf = (cmd: string, args: string[]) => u.run('env', [`CONTAINERS_STORAGE_CONF=${conf}`, cmd, ...args]);
      // podman keeps its first store's paths in its database: name this store on its command line
      const podmanHere = ['--root', root, '--runroot', runRoot, '--storage-driver', 'overlay', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file'];
      const r = await withConf(FERRY_BIN, ['--insecure-policy', 'copy', '--quiet', `oci:${wl}:w`, 'containers-storage:example.com/kov:v1']);
      expect(r.code, r.stderr).to.equal(0);
      const script = `m="$(podman ${podmanHere.join(' ')} image mount example.com/kov:v1)" && cd "$m" && find . -mindepth 1 | sort && cat opq/new`;
      const m = await u.run('podman', [...podmanHere, 'unshare', 'sh', '-c', script]);
      expect(m.code, m.stderr).to.equal(0);
      expect(m.stdout).to.equal('./kept\n./opq\n./opq/new\nnew');

      const p = await u.run('podman', [...podmanHere, 'pull', '-q', `oci:${other}:o`]);
      expect(p.code, p.stderr).to.equal(0);
      const out = join(u.home, 'out-kernel-overlay');
      const c = await withConf(FERRY_BIN, ['--insecure-policy', 'copy', '--quiet', `containers-storage:${p.stdout.trim().split('\n').pop()!}`, `oci:${out}:x`]);
      expect(c.code, c.stderr).to.equal(0);
      expect(layoutDiffIds(out)).to.deep.equal(otherDiffIds);
      const back = join(u.home, 'out-kov');
      const c2 = await withConf(FERRY_BIN, ['--insecure-policy', 'copy', '--quiet', 'containers-storage:example.com/kov:v1', `oci:${back}:x`]);
      expect(c2.code, c2.stderr).to.equal(0);
      expect(layoutDiffIds(back)).to.deep.equal(wlDiffIds);
    });

    it('overlay with mount_program = fuse-overlayfs: podman mounts what ferry pulled', async function () {
      const fuse = await u.run('sh', ['-c', 'test -r /dev/fuse && test -w /dev/fuse']);
      if (fuse.code !== 0) {
        const mode = existsSync('/dev/fuse') ? execFileSync('ls', ['-l', '/dev/fuse']).toString().trim() : 'no /dev/fuse';
        console.log(`      (skipped: fuse-overlayfs cannot mount here: the user cannot open /dev/fuse (${mode}))`);
        this.skip();
      }
      const conf = join(u.home, 'overlay.conf');
      const root = join(u.home, 'overlay-store');
      writeFileSync(conf, `[storage]\ndriver = "overlay"\ngraphroot = "${root}"\n[storage.options.overlay]\nmount_program = "/usr/bin/fuse-overlayfs"\n`);
      chownSync(conf, u.uid, u.uid);
      const env = (cmd: string, args: string[]) => u.run('env', [`CONTAINERS_STORAGE_CONF=${conf}`, cmd, ...args]);
      const r = await env(FERRY_BIN, ['--insecure-policy', 'copy', '--quiet', `oci:${other}:o`, 'containers-storage:example.com/fuse:v1']);
      expect(r.code, r.stderr).to.equal(0);
      const m = await env('podman', ['--cgroup-manager', 'cgroupfs', '--events-backend', 'file', 'unshare', 'sh', '-c', 'cat "$(podman image mount example.com/fuse:v1)/srv/data"']);
      expect(m.code, m.stderr).to.equal(0);
      expect(m.stdout).to.equal('podman');
    });
  });

  describe('without subordinate IDs', () => {
    it('an image with other owners is refused in one line, and stored with ignore_chown_errors, which podman reads', async () => {
      const u = await makeUser('ic', false, '[storage]\ndriver = "vfs"\n');
      const refused = await ferry(u, '--insecure-policy', 'copy', '--quiet', `oci:${layout}:rl`, 'containers-storage:example.com/rl:v1');
      expect(refused.code).to.equal(1);
      expect(refused.stderr.trim().split('\n')).to.have.length(1);
      expect(refused.stderr).to.include('ignore_chown_errors');
      writeFileSync(join(u.home, '.config', 'containers', 'storage.conf'), '[storage]\ndriver = "vfs"\n[storage.options.vfs]\nignore_chown_errors = "true"\n');
      const r = await ferry(u, '--insecure-policy', 'copy', '--quiet', `oci:${layout}:rl`, 'containers-storage:example.com/rl:v1');
      expect(r.code, r.stderr).to.equal(0);
      const mnt = await podman(u, 'unshare', 'podman', 'image', 'mount', 'example.com/rl:v1');
      expect(mnt.code, mnt.stderr).to.equal(0);
      const st = lstatSync(join(mnt.stdout.trim(), 'home/u/private'));
      expect([st.uid, st.gid], 'owned by the user').to.deep.equal([u.uid, u.uid]);
      const out = join(u.home, 'out');
      const c = await ferry(u, '--insecure-policy', 'copy', '--quiet', 'containers-storage:example.com/rl:v1', `oci:${out}:x`);
      expect(c.code, c.stderr).to.equal(0);
      // the layers are rebuilt from tar-split: the diff IDs are the image's, whatever owners the files got
      expect(layoutDiffIds(out)).to.deep.equal(diffIds);
    });
  });
});
