import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveStoreOptions } from '../../src/store/config.js';
import { idMapArgs, subIdRanges } from '../../src/store/userns.js';
import { layerChainIds, imageIdFromConfig } from '../../src/store/ids.js';
import { bigDataFileName } from '../../src/store/records.js';
import { isCode, ErrorCode } from '../../src/errors.js';

describe('store: options, IDs and names', () => {
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

  it('maps a rootless user namespace from /etc/subuid like podman: the user as 0, then every range of the user from 1', () => {
    const text = '# comment\nalice:100000:65536\nbob:165536:65536\n1001:300000:10\nalice:400000:5\nbroken\n';
    expect(subIdRanges(text, 'alice', 1000)).to.deep.equal([{ start: 100000, count: 65536 }, { start: 400000, count: 5 }]);
    expect(subIdRanges(text, 'carol', 1001)).to.deep.equal([{ start: 300000, count: 10 }]);
    expect(subIdRanges(text, 'dave', 1002)).to.deep.equal([]);
    expect(idMapArgs(1000, subIdRanges(text, 'alice', 1000))).to.deep.equal(['0', '1000', '1', '1', '100000', '65536', '65537', '400000', '5']);
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

  it('computes layer chain IDs and image IDs like containers/image (values from a skopeo-written store)', () => {
    const ids = layerChainIds([
      'sha256:64bf2bf77ec2821bb442618ae7e946ec8801c288b00d75f1a0206f3695c8c544',
      'sha256:34de57a0e3b5edc82f4f5b4263ea374492a9aa34684b556155c53c566e0bfa94',
      'sha256:d3c9859b6e5ab04879dd6a5b8acb6939766872cdf4822d2005fa90739529403e',
    ]);
    expect(ids).to.deep.equal([
      '64bf2bf77ec2821bb442618ae7e946ec8801c288b00d75f1a0206f3695c8c544',
      '53facb3bfb85843d7b1295bcd5078f59ee8930c50fbea7b34635df17f31f8fc6',
      'f0465fbee7cd26d82c602e1aa89d2e6dd1ab0ba6fe8503ac19cadc30b855cab8',
    ]);
    expect(imageIdFromConfig('sha256:e7aa99decb5a72ca42e0792d6c8fd79399a4851c94d5dcfaafcb3f8d3f9eb67a')).to.equal('e7aa99decb5a72ca42e0792d6c8fd79399a4851c94d5dcfaafcb3f8d3f9eb67a');
  });

  it('names big-data files like containers/storage', () => {
    expect(bigDataFileName('manifest')).to.equal('manifest');
    expect(bigDataFileName('manifest-sha256:6eb9e8cc0b9584fa002e38cc590e24f4d553ed1b425e85c8167e60926365cc3c')).to.equal('=bWFuaWZlc3Qtc2hhMjU2OjZlYjllOGNjMGI5NTg0ZmEwMDJlMzhjYzU5MGUyNGY0ZDU1M2VkMWI0MjVlODVjODE2N2U2MDkyNjM2NWNjM2M=');
  });
});
