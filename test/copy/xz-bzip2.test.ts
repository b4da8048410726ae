/**
 * xz- and bzip2-compressed archives and layers, made by the real `xz` and `bzip2` CLIs: `docker-archive:FILE.tar.xz`
 * and `.tar.bz2` (the manifest skopeo synthesizes for the same file), archives whose layer files are compressed (as
 * `docker load` takes them), and an OCI layout with xz and bzip2 layers copied to `dir:` (kept as they are, or
 * decompressed with --dest-decompress) and into containers-storage (unpacked; the diff IDs match the config).
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ferry } from '../harness/cli.js';
import { buildImage, layoutBlobPath, type BuiltImage } from '../harness/images.js';
import { run, runOk } from '../harness/procs.js';
import { useCleanup } from '../harness/tmp.js';
import { hasCommand, isRoot, podmanArgs, removeStore, tempStore } from '../store/helpers.js';
import { writeTar } from '../transports/docker-archive/helpers.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function compress(cli: 'xz' | 'bzip2', data: Buffer): Promise<Buffer> {
  return (await runOk(cli, ['-c'], { input: data })).stdoutBytes;
}

/** The layer files of a `dir:` image, by manifest order. */
function dirLayers(dir: string): { mediaType: string; digest: string; bytes: Buffer }[] {
  const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { layers: { mediaType: string; digest: string }[] };
  return m.layers.map((l) => ({ ...l, bytes: readFileSync(join(dir, l.digest.slice(7))) }));
}

describe('copy: xz and bzip2 archives and layers', function () {
  this.timeout(180_000);
  const cleanup = useCleanup();
  let root: string;
  let img: BuiltImage;
  let archive: string;
  let tars: Buffer[];
  let diffIds: string[];

  before(async () => {
    root = await cleanup.tempDir('xz-bzip2');
    img = await buildImage(join(root, 'img'), { seed: 71, tag: 'v1', layers: 2, layerSize: 300_000, compression: 'none' });
    tars = img.manifests[0]!.layers.map((l) => readFileSync(layoutBlobPath(img.layoutDir, l.digest)));
    diffIds = img.manifests[0]!.layers.map((l) => l.diffId);
    archive = join(root, 'plain.tar');
    await runOk('skopeo', ['--insecure-policy', 'copy', '-q', `oci:${img.layoutDir}:v1`, `docker-archive:${archive}:example.com/app:v1`]);
  });

  for (const cli of ['xz', 'bzip2'] as const) {
    it(`docker-archive:FILE compressed by ${cli}: skopeo's manifest, layers by diff ID`, async () => {
      const file = join(root, `app.tar.${cli === 'xz' ? 'xz' : 'bz2'}`);
      writeFileSync(file, await compress(cli, readFileSync(archive)));
      const theirs = await runOk('skopeo', ['inspect', '--raw', `docker-archive:${file}`]);
      const ours = await ferry(['inspect', '--raw', `docker-archive:${file}`]);
      expect(ours.code, ours.stderr).to.equal(0);
      expect(ours.stdout).to.equal(theirs.stdout);
      const out = join(root, `from-archive-${cli}`);
      const c = await ferry(['copy', '-q', `docker-archive:${file}`, `dir:${out}`]);
      expect(c.code, c.stderr).to.equal(0);
      expect(dirLayers(out).map((l) => sha(l.bytes))).to.deep.equal(diffIds);
    });
  }

  it('docker-archive with xz- and bzip2-compressed layer files: skopeo\'s manifest, layers decompressed', async () => {
    const file = join(root, 'compressed-layers.tar');
    const config = readFileSync(layoutBlobPath(img.layoutDir, img.manifests[0]!.configDigest));
    await writeTar(file, [
      { name: 'config.json', data: config },
      { name: 'l0/layer.tar', data: await compress('xz', tars[0]!) },
      { name: 'l1/layer.tar', data: await compress('bzip2', tars[1]!) },
      { name: 'manifest.json', data: JSON.stringify([{ Config: 'config.json', RepoTags: ['example.com/c:1'], Layers: ['l0/layer.tar', 'l1/layer.tar'] }]) },
    ]);
    const theirs = await runOk('skopeo', ['inspect', '--raw', `docker-archive:${file}`]);
    const ours = await ferry(['inspect', '--raw', `docker-archive:${file}`]);
    expect(ours.code, ours.stderr).to.equal(0);
    expect(ours.stdout).to.equal(theirs.stdout);
    const out = join(root, 'from-layers');
    const c = await ferry(['copy', '-q', `docker-archive:${file}`, `dir:${out}`]);
    expect(c.code, c.stderr).to.equal(0);
    expect(dirLayers(out).map((l) => sha(l.bytes))).to.deep.equal(diffIds);
  });

  it('a corrupt xz archive is one clear error, and nothing is left at the destination', async () => {
    const good = await compress('xz', readFileSync(archive));
    const bad = Buffer.from(good);
    for (let i = 100; i < bad.length - 100; i += 4099) bad[i] = bad[i]! ^ 0xff;
    const file = join(root, 'bad.tar.xz');
    writeFileSync(file, bad);
    const out = join(root, 'bad-out');
    const c = await ferry(['copy', '-q', `docker-archive:${file}`, `dir:${out}`]);
    expect(c.code).to.not.equal(0);
    expect(c.stderr).to.match(/xz data/);
    expect(c.stderr.trim().split('\n')).to.have.length(1);
    expect(existsSync(out)).to.equal(false);
  });

  describe('an OCI layout with an xz and a bzip2 layer', () => {
    let layout: string;
    let layerBlobs: Buffer[];
    before(async () => {
      layout = join(root, 'layout');
      const blobs = join(layout, 'blobs', 'sha256');
      mkdirSync(blobs, { recursive: true });
      const put = (b: Buffer) => {
        writeFileSync(join(blobs, sha(b).slice(7)), b);
        return { digest: sha(b), size: b.length };
      };
      layerBlobs = [await compress('xz', tars[0]!), await compress('bzip2', tars[1]!)];
      // The OCI spec has no xz or bzip2 layer type: the blobs say what they are by their bytes.
      const layers = layerBlobs.map((b) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...put(b) }));
      const cfg = put(readFileSync(layoutBlobPath(img.layoutDir, img.manifests[0]!.configDigest)));
      const manifest = put(
        Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg }, layers })),
      );
      writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
      writeFileSync(
        join(layout, 'index.json'),
        JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'x' } }] }),
      );
    });

    it('to dir: kept as they are; with --dest-decompress, decompressed to their diff IDs', async () => {
      const kept = join(root, 'kept');
      let c = await ferry(['copy', '-q', `oci:${layout}:x`, `dir:${kept}`]);
      expect(c.code, c.stderr).to.equal(0);
      expect(dirLayers(kept).map((l, i) => l.bytes.equals(layerBlobs[i]!))).to.deep.equal([true, true]);
      const plain = join(root, 'decompressed');
      c = await ferry(['copy', '-q', '--dest-decompress', `oci:${layout}:x`, `dir:${plain}`]);
      expect(c.code, c.stderr).to.equal(0);
      const layers = dirLayers(plain);
      expect(layers.map((l) => sha(l.bytes))).to.deep.equal(diffIds);
      expect(layers.map((l) => l.digest)).to.deep.equal(diffIds);
      expect(layers.map((l) => l.mediaType)).to.deep.equal(['application/vnd.oci.image.layer.v1.tar', 'application/vnd.oci.image.layer.v1.tar']);
    });

    it('to docker-archive: layers decompressed, and skopeo reads the archive back with the same diff IDs', async () => {
      const file = join(root, 'to-archive.tar');
      const c = await ferry(['copy', '-q', `oci:${layout}:x`, `docker-archive:${file}:example.com/x:1`]);
      expect(c.code, c.stderr).to.equal(0);
      // The layer files in the archive are the uncompressed tars, as `docker save` writes them.
      const items = JSON.parse((await runOk('tar', ['-xOf', file, 'manifest.json'])).stdout) as { Layers: string[] }[];
      const stored = await Promise.all(items[0]!.Layers.map(async (l) => sha((await runOk('tar', ['-xOf', file, l])).stdoutBytes)));
      expect(stored).to.deep.equal(diffIds);
      const out = join(root, 'archive-by-skopeo');
      await runOk('skopeo', ['--insecure-policy', 'copy', '-q', `docker-archive:${file}`, `dir:${out}`]);
      expect(dirLayers(out).map((l) => sha(l.bytes))).to.deep.equal(diffIds);
    });

    it('into containers-storage: unpacked with the config\'s diff IDs; podman lists it, ferry reads it back', async function () {
      if (!isRoot || !hasCommand('podman')) this.skip();
      const t = tempStore('ferry-xz-store-');
      try {
        const store = `[overlay@${t.G}+${t.R}]`;
        const c = await ferry(['copy', '-q', `oci:${layout}:x`, `containers-storage:${store}example.com/xz:1`]);
        expect(c.code, c.stderr).to.equal(0);
        const images = await run('podman', podmanArgs(t.G, t.R, 'images', '--format', '{{.Repository}}:{{.Tag}}'));
        expect(images.code, images.stderr).to.equal(0);
        expect(images.stdout).to.include('example.com/xz:1');
        const back = join(t.dir, 'back');
        const b = await ferry(['copy', '-q', `containers-storage:${store}example.com/xz:1`, `dir:${back}`]);
        expect(b.code, b.stderr).to.equal(0);
        expect(dirLayers(back).map((l) => sha(l.bytes))).to.deep.equal(diffIds);
        const layersJson = JSON.parse(readFileSync(join(t.G, 'overlay-layers', 'layers.json'), 'utf8')) as { 'diff-digest': string; compression: number }[];
        expect(layersJson.map((l) => [l['diff-digest'], l.compression]).sort()).to.deep.equal([[diffIds[0], 3], [diffIds[1], 1]].sort());
        expect(await readdir(t.G)).to.include('overlay-images');
      } finally {
        removeStore(t.dir);
      }
    });
  });
});
