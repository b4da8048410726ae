/**
 * podman changing the store while ferry writes into it: `podman rmi` of the image whose base layer ferry's copy
 * found in the store and means to reuse, between that lookup and the commit. The commit (under the store's locks)
 * finds the layer gone, fails with one clear error, and leaves the records as podman left them: podman still uses
 * the store, and no half-stored image, layer or directory remains.
 */
import { expect } from 'chai';
import { createReadStream, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { FerryError, ErrorCode } from '../../../src/errors.js';
import { parseImageName } from '../../../src/transports/registry.js';
import type { SystemContext } from '../../../src/types/context.js';
import { ferry } from '../../harness/cli.js';
import { run } from '../../harness/procs.js';
import { hasCommand, isRoot, removeStore, tempStore } from '../../store/helpers.js';
import { buildTar } from '../../store/tar-build.js';
import { writeLayout } from './layout.js';

const BASE = buildTar([{ name: 'etc/', type: 'dir' }, { name: 'etc/base', data: 'base'.repeat(1000) }]);
const TOP = buildTar([{ name: 'opt/', type: 'dir' }, { name: 'opt/top', data: 'top'.repeat(1000) }]);

interface Desc {
  mediaType: string;
  digest: string;
  size: number;
}

describe('containers-storage: podman removing an image while ferry commits over it', function () {
  this.timeout(120_000);
  let t: ReturnType<typeof tempStore>;

  beforeEach(function () {
    if (!isRoot || !hasCommand('podman')) this.skip();
    t = tempStore('ferry-podman-rmi-');
  });
  afterEach(() => t && removeStore(t.dir));

  it('the reused base layer is gone at commit: E_NOT_FOUND, nothing stored, podman still reads the store', async () => {
    const store = `[overlay@${t.G}+${t.R}]`;
    const podman = (...args: string[]) =>
      run('podman', ['--root', t.G, '--runroot', t.R, '--storage-driver', 'overlay', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', ...args], { timeoutMs: 60_000 });
    const a = join(t.dir, 'a');
    writeLayout(a, 'v', [BASE]);
    const c = await ferry(['copy', '--quiet', `oci:${a}:v`, `containers-storage:${store}example.com/a:1`]);
    expect(c.code, c.stderr).to.equal(0);

    const b = join(t.dir, 'b');
    const built = writeLayout(b, 'v', [BASE, TOP]);
    const blob = (d: string) => join(b, 'blobs', 'sha256', d.slice(7));
    const manifestBytes = readFileSync(blob(built.manifestDigest));
    const m = JSON.parse(manifestBytes.toString('utf8')) as { mediaType: string; config: Desc; layers: Desc[] };

    const dest = await parseImageName(`containers-storage:${store}example.com/b:1`).newImageDestination({} as SystemContext);
    try {
      // What the copy engine does: the base layer is found in the store, the rest is written.
      expect(await dest.tryReusingBlob(m.layers[0]!)).to.not.equal(undefined);
      await dest.putBlob(createReadStream(blob(m.layers[1]!.digest)), m.layers[1]!);
      await dest.putBlob(createReadStream(blob(m.config.digest)), m.config);
      await dest.putManifest({ bytes: manifestBytes, mediaType: m.mediaType });

      const rmi = await podman('rmi', 'example.com/a:1');
      expect(rmi.code, rmi.stderr).to.equal(0);

      let err: unknown;
      try {
        await dest.commit();
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(FerryError);
      expect((err as FerryError).code).to.equal(ErrorCode.NotFound);
      expect((err as FerryError).message).to.include(built.diffIds[0]);
    } finally {
      await dest.close();
    }

    expect(JSON.parse(readFileSync(join(t.G, 'overlay-layers', 'layers.json'), 'utf8'))).to.deep.equal([]);
    expect(JSON.parse(readFileSync(join(t.G, 'overlay-images', 'images.json'), 'utf8'))).to.deep.equal([]);
    expect(readdirSync(join(t.G, 'overlay')).filter((n) => n !== 'l' && !n.startsWith('.'))).to.deep.equal([]);
    expect(readdirSync(join(t.G, 'overlay-images')).filter((n) => !n.endsWith('.json') && !n.endsWith('.lock'))).to.deep.equal([]);
    const images = await podman('images', '-q');
    expect(images.code, images.stderr).to.equal(0);
    expect(images.stdout.trim()).to.equal('');
    // and the store takes the same image afterwards
    const again = await ferry(['copy', '--quiet', `oci:${b}:v`, `containers-storage:${store}example.com/b:1`]);
    expect(again.code, again.stderr).to.equal(0);
    const listed = await podman('images', '--format', '{{.Repository}}:{{.Tag}}');
    expect(listed.stdout.trim()).to.equal('example.com/b:1');
  });
});
