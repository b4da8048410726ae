import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveStoreOptions } from '../../src/config/storage-conf.js';
import { isCode, ErrorCode } from '../../src/errors.js';

describe('config/storage-conf: store options from storage.conf and flags', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'ferry-conf-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('uses containers/storage defaults for root and for users', () => {
    const env = { CONTAINERS_STORAGE_CONF: join(dir, 'none.conf') };
    writeFileSync(env.CONTAINERS_STORAGE_CONF, '');
    expect(resolveStoreOptions({ env, uid: 0 })).to.deep.equal({ graphRoot: '/var/lib/containers/storage', runRoot: '/run/containers/storage', driver: 'overlay' });
    const user = resolveStoreOptions({ env: { ...env, XDG_RUNTIME_DIR: '/run/user/1000' }, uid: 1000, homeDir: '/home/u' });
    expect(user.graphRoot).to.equal('/home/u/.local/share/containers/storage');
    expect(user.runRoot).to.equal('/run/user/1000/containers');
  });

  it('reads storage.conf (driver, roots, mount_program) and lets flags override it', () => {
    const conf = join(dir, 'storage.conf');
    writeFileSync(conf, '[storage]\ndriver = "vfs"\ngraphroot = "/srv/g"\nrunroot = "/srv/r"\n[storage.options.overlay]\nmount_program = "/usr/bin/fuse-overlayfs"\n');
    const o = resolveStoreOptions({ env: { CONTAINERS_STORAGE_CONF: conf }, uid: 0 });
    expect(o).to.deep.equal({ graphRoot: '/srv/g', runRoot: '/srv/r', driver: 'vfs', mountProgram: '/usr/bin/fuse-overlayfs' });
    const f = resolveStoreOptions({ env: { CONTAINERS_STORAGE_CONF: conf }, uid: 0, graphRoot: '/x/g', runRoot: '/x/r', driver: 'overlay' });
    expect([f.graphRoot, f.runRoot, f.driver]).to.deep.equal(['/x/g', '/x/r', 'overlay']);
  });

  it('finds a user\'s run root without XDG_RUNTIME_DIR as podman does, and reads ignore_chown_errors', () => {
    const conf = join(dir, 'storage.conf');
    writeFileSync(conf, '[storage]\ndriver = "vfs"\n[storage.options.vfs]\nignore_chown_errors = "true"\n');
    const o = resolveStoreOptions({ env: { CONTAINERS_STORAGE_CONF: conf, TMPDIR: '/scratch' }, uid: 4242424, homeDir: '/home/u' });
    expect(o).to.deep.equal({ graphRoot: '/home/u/.local/share/containers/storage', runRoot: '/scratch/podman-run-4242424/containers', driver: 'vfs', ignoreChownErrors: true });
    writeFileSync(conf, '[storage]\ndriver = "overlay"\n[storage.options]\nignore_chown_errors = "false"\n');
    expect(resolveStoreOptions({ env: { CONTAINERS_STORAGE_CONF: conf }, uid: 0 }).ignoreChownErrors).to.equal(undefined);
  });

  it('refuses unknown drivers and broken storage.conf', () => {
    const conf = join(dir, 'bad.conf');
    writeFileSync(conf, '[storage\n');
    let e: unknown;
    try { resolveStoreOptions({ env: { CONTAINERS_STORAGE_CONF: conf }, uid: 0 }); } catch (x) { e = x; }
    expect(isCode(e, ErrorCode.Config)).to.equal(true);
    e = undefined;
    try { resolveStoreOptions({ env: { CONTAINERS_STORAGE_CONF: join(dir, 'missing') }, uid: 0, driver: 'btrfs' }); } catch (x) { e = x; }
    expect(isCode(e, ErrorCode.Unsupported)).to.equal(true);
  });
});
