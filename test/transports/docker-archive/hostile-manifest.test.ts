/**
 * A hand-made `docker save` archive whose manifest.json is hostile: paths leaving the archive, a layer naming a
 * directory, an image list too long to print. Each is one clear error (never a read outside the archive, never a
 * message of unbounded length).
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { ErrorCode } from '../../../src/errors.js';
import { parseImageName } from '../../../src/transports/registry.js';
import { useCleanup } from '../../harness/tmp.js';
import { ferry } from '../../harness/cli.js';
import { rejection, sha256, writeTar } from './helpers.js';

const CONFIG = JSON.stringify({ rootfs: { type: 'layers', diff_ids: [sha256('layer')] } });

async function openArchive(file: string, selector = ''): Promise<void> {
  const s = await parseImageName(`docker-archive:${file}${selector}`).newImageSource({});
  await s.close();
}

describe('transports/docker-archive: hostile manifest.json', function () {
  this.timeout(30_000);
  const cleanup = useCleanup();

  for (const [label, config, layer, code] of [
    ['a Config path with ".."', '../../etc/passwd', 'l.tar', ErrorCode.HostileArchive],
    ['an absolute Config path', '/etc/passwd', 'l.tar', ErrorCode.HostileArchive],
    ['a layer path with ".."', 'c.json', 'x/../../l.tar', ErrorCode.HostileArchive],
    ['a layer path naming a directory', 'c.json', 'dir', ErrorCode.InvalidManifest],
  ] as const) {
    it(`refuses ${label}`, async () => {
      const file = join(await cleanup.tempDir('docker-archive-hostile'), 'a.tar');
      await writeTar(file, [
        { name: 'c.json', data: CONFIG },
        { name: 'l.tar', data: Buffer.alloc(1024) },
        { name: 'dir', directory: true },
        { name: 'dir/x', data: 'x' },
        { name: 'manifest.json', data: JSON.stringify([{ Config: config, RepoTags: ['a:1'], Layers: [layer] }]) },
      ]);
      const e = await rejection(openArchive(file));
      expect(e.code, e.message).to.equal(code);
      expect(e.message).to.contain(file);
    });
  }

  it('refuses a config larger than 4 MiB', async () => {
    const file = join(await cleanup.tempDir('docker-archive-hostile'), 'bigconfig.tar');
    const config = JSON.stringify({ rootfs: { type: 'layers', diff_ids: [sha256('layer')] }, pad: 'x'.repeat(5 << 20) });
    await writeTar(file, [
      { name: 'c.json', data: config },
      { name: 'l.tar', data: Buffer.alloc(1024) },
      { name: 'manifest.json', data: JSON.stringify([{ Config: 'c.json', RepoTags: ['a:1'], Layers: ['l.tar'] }]) },
    ]);
    const e = await rejection(openArchive(file));
    expect(e.code, e.message).to.equal(ErrorCode.InvalidManifest);
    expect(e.message).to.contain('c.json is too large');
    const v = await ferry(['verify-archive', file]);
    expect(v.code).to.equal(1);
    expect(v.stdout + v.stderr).to.contain('c.json is larger than 4194304 bytes');
  });

  it('lists at most 20 names, each cut short, when the image asked for is not there', async () => {
    const file = join(await cleanup.tempDir('docker-archive-hostile'), 'many.tar');
    const tags = Array.from({ length: 5000 }, (_, i) => `example.com/${'n'.repeat(300)}:t${i}`);
    await writeTar(file, [
      { name: 'c.json', data: CONFIG },
      { name: 'manifest.json', data: JSON.stringify([{ Config: 'c.json', RepoTags: tags, Layers: ['l.tar'] }]) },
    ]);
    const e = await rejection(openArchive(file, ':other/image:v9'));
    expect(e.code).to.equal(ErrorCode.NotFound);
    expect(e.message).to.contain('and 4980 more');
    expect(e.message.length).to.be.below(6000);
  });
});
