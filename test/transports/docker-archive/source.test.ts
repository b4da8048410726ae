import { expect } from 'chai';
import { createReadStream } from 'node:fs';
import { copyFile, readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGzip } from 'node:zlib';
import { ErrorCode } from '../../../src/errors.js';
import { MediaType } from '../../../src/manifest/media-types.js';
import { listArchiveTags } from '../../../src/transports/docker-archive/tags.js';
import { parseImageName } from '../../../src/transports/registry.js';
import { redactCredentials } from '../../../src/util/redact.js';
import type { ImageSource } from '../../../src/types/image.js';
import { buildImage, type BuiltImage } from '../../harness/images.js';
import { runOk } from '../../harness/procs.js';
import { useCleanup } from '../../harness/tmp.js';
import { gzipFile, readAll, rejection, sha256, skopeoRaw, skopeoToArchive, writeTar } from './helpers.js';

function open(name: string): Promise<ImageSource> {
  return parseImageName(name).newImageSource({});
}

async function withSource<T>(name: string, f: (s: ImageSource) => Promise<T>): Promise<T> {
  const s = await open(name);
  try {
    return await f(s);
  } finally {
    await s.close();
  }
}

describe('transports/docker-archive/source', function () {
  this.timeout(60_000);
  const cleanup = useCleanup();
  let root: string;
  let one: BuiltImage;
  let two: BuiltImage;
  let archive: string; // skopeo-written, busybox:latest
  let multi: string; // two images, hand-assembled from skopeo archives

  before(async () => {
    root = await cleanup.tempDir('docker-archive-src');
    one = await buildImage(join(root, 'one'), { seed: 11, tag: 'v1', layers: 2, layerSize: 8192 });
    two = await buildImage(join(root, 'two'), { seed: 12, tag: 'v2', layers: 3, layerSize: 4096 });
    archive = join(root, 'one.tar');
    await skopeoToArchive(one, archive, 'busybox:latest', ['example.com/x/y:2']);
    const twoArchive = join(root, 'two.tar');
    await skopeoToArchive(two, twoArchive, 'quay.io/a/b:v2');
    // Two images in one archive: entries of both, one manifest.json with both items.
    multi = join(root, 'multi.tar');
    const entries = [];
    const items = [];
    for (const [img, file] of [[one, archive], [two, twoArchive]] as const) {
      const m = img.manifests[0]!;
      const item = JSON.parse((await runOk('tar', ['-xOf', file, 'manifest.json'])).stdout)[0];
      items.push(item);
      const cfg = m.configDigest.slice(7);
      entries.push({ name: `${cfg}.json`, data: m.config });
      for (const l of m.layers) {
        const hex = l.diffId.slice(7);
        entries.push({ name: `${hex}.tar`, data: (await runOk('tar', ['-xOf', file, `${hex}.tar`])).stdoutBytes });
      }
    }
    entries.push({ name: 'manifest.json', data: JSON.stringify(items) });
    await writeTar(multi, entries);
  });

  it('synthesizes the manifest skopeo synthesizes (same bytes, same digest)', async () => {
    const expected = await skopeoRaw(`docker-archive:${archive}`);
    await withSource(`docker-archive:${archive}`, async (s) => {
      const m = await s.getManifest();
      expect(m.mediaType).to.equal(MediaType.DockerManifest);
      expect(m.bytes.toString()).to.equal(expected.toString());
      const file = join(root, 'raw-manifest.json');
      await writeFile(file, expected);
      const digest = (await runOk('skopeo', ['manifest-digest', file])).stdout.trim();
      expect(sha256(m.bytes)).to.equal(digest);
    });
  });

  it('serves the config by digest and layers uncompressed by diff ID, also from an offset', async () => {
    const built = one.manifests[0]!;
    await withSource(`docker-archive:${archive}:busybox:latest`, async (s) => {
      const cfg = await s.getBlob({ digest: built.configDigest, size: -1 });
      expect(cfg.size).to.equal(built.config.length);
      expect((await readAll(cfg.stream)).equals(built.config)).to.equal(true);
      for (const l of built.layers) {
        const b = await s.getBlob({ digest: l.diffId, size: -1 });
        const bytes = await readAll(b.stream);
        expect(sha256(bytes)).to.equal(l.diffId);
        expect(b.size).to.equal(bytes.length);
        const tail = await s.getBlob({ digest: l.diffId, size: -1 }, { offset: 1000 });
        expect((await readAll(tail.stream)).equals(bytes.subarray(1000))).to.equal(true);
      }
      const e = await rejection(s.getBlob({ digest: sha256('nope'), size: -1 }));
      expect(e.code).to.equal(ErrorCode.NotFound);
      expect(await s.getSignatures()).to.deep.equal([]);
    });
  });

  it('reads a gzip-compressed archive (through a temp copy it removes on close)', async () => {
    const gz = join(root, 'one.tar.gz');
    await gzipFile(archive, gz);
    const expected = await skopeoRaw(`docker-archive:${archive}`);
    const before = (await readdir(tmpdir())).filter((n) => n.startsWith('ferry-archive-')).length;
    await withSource(`docker-archive:${gz}`, async (s) => {
      expect((await s.getManifest()).bytes.equals(expected)).to.equal(true);
      const l = one.manifests[0]!.layers[1]!;
      expect(sha256(await readAll((await s.getBlob({ digest: l.diffId, size: -1 })).stream))).to.equal(l.diffId);
    });
    const after = (await readdir(tmpdir())).filter((n) => n.startsWith('ferry-archive-')).length;
    expect(after).to.equal(before);
  });

  it('reads gzip-compressed layer files like skopeo (diff IDs, uncompressed sizes)', async () => {
    const m = one.manifests[0]!;
    const gzLayers = join(root, 'gz-layers.tar');
    const entries: { name: string; data: Buffer | string }[] = [{ name: 'cfg.json', data: m.config }];
    for (const [i, l] of m.layers.entries()) {
      const raw = await readFile(join(one.layoutDir, 'blobs', 'sha256', l.digest.slice(7)));
      entries.push({ name: `l${i}/layer.tar`, data: raw }); // the built layers are gzip'd
    }
    entries.push({ name: 'manifest.json', data: JSON.stringify([{ Config: 'cfg.json', RepoTags: ['gz:1'], Layers: ['l0/layer.tar', './l1/layer.tar'] }]) });
    await writeTar(gzLayers, entries);
    const expected = await skopeoRaw(`docker-archive:${gzLayers}`);
    await withSource(`docker-archive:${gzLayers}`, async (s) => {
      expect((await s.getManifest()).bytes.toString()).to.equal(expected.toString());
      const l = m.layers[0]!;
      const whole = await readAll((await s.getBlob({ digest: l.diffId, size: -1 })).stream);
      expect(sha256(whole)).to.equal(l.diffId);
      const tail = await readAll((await s.getBlob({ digest: l.diffId, size: -1 }, { offset: 513 })).stream);
      expect(tail.equals(whole.subarray(513))).to.equal(true);
    });
  });

  it('selects an image of a multi-image archive by name or by @N, and needs a choice', async () => {
    const expectedTwo = await skopeoRaw(`docker-archive:${multi}:@1`);
    for (const sel of ['@1', 'quay.io/a/b:v2']) {
      await withSource(`docker-archive:${multi}:${sel}`, async (s) => {
        expect((await s.getManifest()).bytes.equals(expectedTwo)).to.equal(true);
      });
    }
    for (const sel of ['@0', 'busybox', 'docker.io/library/busybox:latest', 'example.com/x/y:2']) {
      await withSource(`docker-archive:${multi}:${sel}`, async (s) => {
        expect(sha256((await s.getManifest()).bytes)).to.equal(sha256(await skopeoRaw(`docker-archive:${archive}`)));
      });
    }
    const none = await rejection(open(`docker-archive:${multi}`));
    expect(none.code).to.equal(ErrorCode.InvalidReference);
    expect(none.message).to.contain('holds 2 images').and.contain('quay.io/a/b:v2');
    // the hint survives the credential scrub every printed line goes through (`PATH:@N:` was taken for user:pass@host)
    expect(redactCredentials(none.message)).to.equal(none.message).and.contain('(docker-archive:PATH:@0)');
    expect((await rejection(open(`docker-archive:${multi}:@2`))).code).to.equal(ErrorCode.NotFound);
    expect((await rejection(open(`docker-archive:${multi}:busybox:other`))).code).to.equal(ErrorCode.NotFound);
  });

  it('lists the tags of all images, like skopeo list-tags', async () => {
    const tags = await listArchiveTags(multi);
    const skopeo = JSON.parse((await runOk('skopeo', ['list-tags', `docker-archive:${multi}`])).stdout) as { Tags: string[] };
    expect(tags).to.deep.equal(['docker.io/library/busybox:latest', 'example.com/x/y:2', 'quay.io/a/b:v2']);
    expect(new Set(tags)).to.deep.equal(new Set(skopeo.Tags));
    expect((await rejection(listArchiveTags(join(root, 'missing.tar')))).code).to.equal(ErrorCode.NotFound);
  });

  describe('hostile and broken archives', () => {
    const outside = join(tmpdir(), `ferry-hostile-${process.pid}`);
    const cases: [string, { name: string; data?: string; symlink?: string }[]][] = [
      ['a ".." entry', [{ name: `../../${outside.slice(1)}/x`, data: 'x' }]],
      ['an absolute entry', [{ name: `${outside}/abs`, data: 'x' }]],
      ['an escaping symlink', [{ name: 'evil', symlink: '../../../../etc/passwd' }]],
      ['a symlink to an absolute path', [{ name: 'evil', symlink: '/etc/passwd' }]],
    ];
    for (const [label, bad] of cases) {
      it(`refuses ${label} with E_HOSTILE_ARCHIVE and writes nothing`, async () => {
        const file = join(root, `hostile-${label.replace(/\W+/g, '-')}.tar`);
        const entries = [
          ...bad.map((b) => (b.symlink !== undefined ? { name: b.name, symlink: b.symlink } : { name: b.name, data: b.data! })),
          { name: 'manifest.json', data: '[]' },
        ];
        await writeTar(file, entries);
        const e = await rejection(open(`docker-archive:${file}`));
        expect(e.code).to.equal(ErrorCode.HostileArchive);
        expect((await rejection(listArchiveTags(file))).code).to.equal(ErrorCode.HostileArchive);
        expect(await stat(outside).then(() => true, () => false)).to.equal(false);
      });
    }

    it('reports a truncated archive clearly', async () => {
      const cut = join(root, 'cut.tar');
      await copyFile(archive, cut);
      await truncate(cut, 9000); // inside the first layer's data
      const e = await rejection(open(`docker-archive:${cut}`));
      expect(e.code).to.equal(ErrorCode.InvalidManifest);
      expect(e.message).to.match(/truncated/);
      const gzCut = join(root, 'cut.tar.gz');
      const { pipeline } = await import('node:stream/promises');
      const { createWriteStream } = await import('node:fs');
      await pipeline(createReadStream(archive, { end: 20_000 }), createGzip(), createWriteStream(gzCut));
      expect((await rejection(open(`docker-archive:${gzCut}`))).message).to.match(/truncated/);
    });

    it('reports a missing file, a tar without manifest.json, and garbage', async () => {
      expect((await rejection(open(`docker-archive:${join(root, 'nope.tar')}`))).code).to.equal(ErrorCode.NotFound);
      const noManifest = join(root, 'no-manifest.tar');
      await writeTar(noManifest, [{ name: 'a', data: 'b' }]);
      expect((await rejection(open(`docker-archive:${noManifest}`))).code).to.equal(ErrorCode.NotFound);
      const garbage = join(root, 'garbage.tar');
      await writeFile(garbage, Buffer.alloc(2048, 0x41));
      expect((await rejection(open(`docker-archive:${garbage}`))).code).to.equal(ErrorCode.InvalidManifest);
    });
  });
});
