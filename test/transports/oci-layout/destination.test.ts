import { expect } from 'chai';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ErrorCode, FerryError } from '../../../src/errors.js';
import { MediaType } from '../../../src/manifest/media-types.js';
import { parseImageName } from '../../../src/transports/registry.js';
import { addManifestDescriptor, emptyIndex, manifestDescriptor } from '../../../src/transports/oci-layout/writer.js';
import type { ImageDestination } from '../../../src/types/image.js';
import { digestOf } from '../../../src/util/digest.js';
import { ROOT } from '../../harness/cli.js';
import { buildImage } from '../../harness/images.js';
import { run } from '../../harness/procs.js';
import { useCleanup } from '../../harness/tmp.js';
import { blob, makeOciImage } from '../fixtures.js';
import { rejection } from '../../harness/expect.js';

const NAME = 'org.opencontainers.image.ref.name';

function open(name: string, ctx = {}): Promise<ImageDestination> {
  return parseImageName(name).newImageDestination(ctx);
}

async function readIndexJson(dir: string): Promise<{ schemaVersion: number; mediaType: string; manifests: { digest: string; annotations?: Record<string, string> }[] }> {
  return JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as never;
}

/** Writes the small test image through a destination and commits it. */
async function writeImage(dest: ImageDestination, seed: string): Promise<string> {
  const img = makeOciImage(seed);
  for (const b of [img.layer, img.config]) await dest.putBlob(Readable.from([b.bytes]), { digest: b.digest, size: b.size });
  await dest.putManifest({ bytes: img.manifest.bytes, mediaType: MediaType.OciManifest });
  await dest.commit();
  await dest.close();
  return img.manifest.digest;
}

describe('transports/oci-layout/destination', function () {
  this.timeout(60_000);
  const cleanup = useCleanup();

  it('has the properties of containers/image oci: destinations', async () => {
    const dir = await cleanup.tempDir('ocid-props');
    const d = await open(`oci:${dir}:x`);
    expect(d.properties).to.deep.equal({
      supportedManifestMIMETypes: [MediaType.OciManifest, MediaType.OciIndex],
      supportsSignatures: false,
      desiredLayerCompression: 'compress',
      hasThreadSafePutBlob: true,
      acceptsForeignLayerURLs: true,
      // partial downloads beside the blobs, removed once their blob is written
      partialDownloads: { dir: join(dir, '.ferry-partial'), keepUntilCommit: false },
    });
    const keep = await open(`oci:${dir}:x`, { ociAcceptUncompressedLayers: true });
    expect(keep.properties.desiredLayerCompression).to.equal('preserve');
    await d.close();
    await keep.close();
  });

  it('writes blobs, manifest, oci-layout and index.json only at commit; reuses present blobs', async () => {
    const dir = join(await cleanup.tempDir('ocid-write'), 'new-layout');
    const d = await open(`oci:${dir}:v1`);
    const img = makeOciImage('w');
    expect(await d.tryReusingBlob({ digest: img.layer.digest, size: img.layer.size })).to.equal(undefined);
    const got = await d.putBlob(Readable.from([img.layer.bytes]), { digest: img.layer.digest, size: img.layer.size });
    expect(got).to.deep.include({ digest: img.layer.digest, size: img.layer.size });
    expect(await d.tryReusingBlob({ digest: img.layer.digest, size: img.layer.size })).to.deep.include({ digest: img.layer.digest });
    expect(await d.tryReusingBlob({ digest: img.layer.digest, size: img.layer.size + 1 })).to.equal(undefined);
    // unknown digest: computed and named by it
    const computed = await d.putBlob(Readable.from([img.config.bytes]), { digest: '', size: -1 });
    expect(computed).to.deep.include({ digest: img.config.digest, size: img.config.size });
    await d.putManifest({ bytes: img.manifest.bytes, mediaType: MediaType.OciManifest });
    expect(await readdir(dir)).to.deep.equal(['blobs']);
    await d.commit();
    await d.close();
    expect(JSON.parse(await readFile(join(dir, 'oci-layout'), 'utf8'))).to.deep.equal({ imageLayoutVersion: '1.0.0' });
    const index = await readIndexJson(dir);
    expect(index).to.deep.equal({
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [{ mediaType: MediaType.OciManifest, digest: img.manifest.digest, size: img.manifest.size, annotations: { [NAME]: 'v1' } }],
    });
    for (const b of [img.layer, img.config, img.manifest]) {
      expect(digestOf(await readFile(join(dir, 'blobs', 'sha256', b.digest.slice(7))))).to.equal(b.digest);
    }
    // The result reads back.
    const src = await parseImageName(`oci:${dir}:v1`).newImageSource({});
    expect((await src.getManifest()).bytes.equals(img.manifest.bytes)).to.equal(true);
    await src.close();
  });

  it('a wrong digest leaves nothing behind; close without commit leaves index.json untouched', async () => {
    const dir = await cleanup.tempDir('ocid-bad');
    await writeImage(await open(`oci:${dir}:old`), 'old');
    const before = await readFile(join(dir, 'index.json'));
    const d = await open(`oci:${dir}:new`);
    const wrong = blob('not what the digest says');
    const e = await rejection(d.putBlob(Readable.from([Buffer.from('something else entirely')]), { digest: wrong.digest, size: -1 }));
    expect(e.code).to.equal(ErrorCode.DigestMismatch);
    const img = makeOciImage('new');
    await d.putManifest({ bytes: img.manifest.bytes, mediaType: MediaType.OciManifest });
    await d.close();
    expect((await readFile(join(dir, 'index.json'))).equals(before)).to.equal(true);
    const names = await readdir(join(dir, 'blobs', 'sha256'));
    expect(names).to.not.include(wrong.digest.slice(7));
    expect(names.filter((n) => n.includes('.tmp-'))).to.deep.equal([]);
    expect((await readdir(dir)).filter((n) => n.includes('.tmp-'))).to.deep.equal([]);
  });

  it('images copied at once into one layout (sync): a failing copy leaves the blobs it created to another one reusing them', async () => {
    const dir = join(await cleanup.tempDir('ocid-shared'), 'new', 'layout');
    const img = makeOciImage('shared');
    const failing = await open(`oci:${dir}:a`); // creates the layout
    const other = await open(`oci:${dir}:b`);
    await failing.putBlob(Readable.from([img.layer.bytes]), { digest: img.layer.digest, size: img.layer.size });
    expect(await other.tryReusingBlob({ digest: img.layer.digest, size: img.layer.size }), 'reused').to.not.equal(undefined);
    await failing.close(); // its copy failed: nothing committed
    await other.putBlob(Readable.from([img.config.bytes]), { digest: img.config.digest, size: img.config.size });
    await other.putManifest({ bytes: img.manifest.bytes, mediaType: MediaType.OciManifest });
    await other.commit();
    await other.close();
    const names = await readdir(join(dir, 'blobs', 'sha256'));
    expect(names, 'every blob of the committed image').to.include.members([img.layer, img.config, img.manifest].map((b) => b.digest.slice(7)));
    expect((await readIndexJson(dir)).manifests.map((m) => m.annotations?.[NAME])).to.deep.equal(['b']);
  });

  it('images copied at once into one new layout, all failing: the last to close removes their blobs and the layout', async () => {
    const root = await cleanup.tempDir('ocid-shared-fail');
    const dir = join(root, 'new', 'layout');
    const img = makeOciImage('shared-fail');
    const a = await open(`oci:${dir}:a`);
    const b = await open(`oci:${dir}:b`);
    await a.putBlob(Readable.from([img.layer.bytes]), { digest: img.layer.digest, size: img.layer.size });
    await b.putBlob(Readable.from([img.config.bytes]), { digest: img.config.digest, size: img.config.size });
    await a.close();
    expect(await readdir(join(dir, 'blobs', 'sha256'))).to.have.length(2);
    await b.close();
    expect(await readdir(root)).to.deep.equal([]);
  });

  it('replaces the descriptor with the same ref name and keeps the others; refuses signatures, Docker manifests and @N', async () => {
    const dir = await cleanup.tempDir('ocid-replace');
    const a = await writeImage(await open(`oci:${dir}:a`), 'a1');
    await writeImage(await open(`oci:${dir}:b`), 'b');
    const a2 = await writeImage(await open(`oci:${dir}:a`), 'a2');
    expect(a2).to.not.equal(a);
    const index = await readIndexJson(dir);
    expect(index.manifests.map((m) => [m.annotations?.[NAME], m.digest])).to.deep.equal([
      ['b', makeOciImage('b').manifest.digest],
      ['a', a2],
    ]);
    const d = await open(`oci:${dir}:c`);
    expect((await rejection(d.putSignatures([Buffer.from('sig')]))).code).to.equal(ErrorCode.Unsupported);
    await d.putSignatures([]);
    const e = await rejection(d.putManifest({ bytes: Buffer.from('{}'), mediaType: MediaType.DockerManifest }));
    expect(e.code).to.equal(ErrorCode.Unsupported);
    await d.close();
    expect((await rejection(open(`oci:${dir}:@0`))).code).to.equal(ErrorCode.InvalidReference);
  });

  it('addManifestDescriptor: named entries replace the same name and unnamed same-digest entries', () => {
    const i = emptyIndex();
    addManifestDescriptor(i, manifestDescriptor(MediaType.OciManifest, 'sha256:' + 'a'.repeat(64), 1, ''));
    addManifestDescriptor(i, manifestDescriptor(MediaType.OciManifest, 'sha256:' + 'a'.repeat(64), 1, ''));
    expect(i.manifests).to.have.length(1);
    addManifestDescriptor(i, manifestDescriptor(MediaType.OciManifest, 'sha256:' + 'a'.repeat(64), 1, 'x'));
    expect(i.manifests.map((d) => d.annotations?.[NAME])).to.deep.equal(['x']);
    addManifestDescriptor(i, manifestDescriptor(MediaType.OciManifest, 'sha256:' + 'b'.repeat(64), 1, 'x'));
    addManifestDescriptor(i, manifestDescriptor(MediaType.OciManifest, 'sha256:' + 'b'.repeat(64), 1, 'y'));
    expect(i.manifests.map((d) => [d.annotations?.[NAME], d.digest.slice(7, 8)])).to.deep.equal([
      ['x', 'b'],
      ['y', 'b'],
    ]);
  });

  it('refuses a layout with an unsupported version or a corrupt index.json before writing anything', async () => {
    const dir = await cleanup.tempDir('ocid-ver');
    await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"2.0.0"}');
    expect((await rejection(open(`oci:${dir}:x`))).code).to.equal(ErrorCode.Unsupported);
    const dir2 = await cleanup.tempDir('ocid-corrupt');
    await writeFile(join(dir2, 'index.json'), '{not json');
    expect((await rejection(open(`oci:${dir2}:x`))).code).to.equal(ErrorCode.InvalidManifest);
  });

  it('several concurrent ferry copy processes into one layout all survive', async () => {
    const srcRoot = await cleanup.tempDir('ocid-conc-src');
    const dest = await cleanup.tempDir('ocid-conc-dest');
    const n = 5;
    const images = [];
    for (let i = 0; i < n; i++) {
      const dir = join(srcRoot, `s${i}`);
      await mkdir(dir);
      images.push(await buildImage(dir, { seed: 100 + i, layers: 2, layerSize: 50_000 }));
    }
    const script = `const { run } = await import(${JSON.stringify(join(ROOT, '.build', 'src', 'cli', 'main.js'))}); process.exitCode = await run(process.argv.slice(1));`;
    const results = await Promise.all(
      images.map((img, i) => run(process.execPath, ['--input-type=module', '-e', script, 'copy', '-q', `oci:${img.layoutDir}:latest`, `oci:${dest}:img${i}`], { timeoutMs: 60_000 })),
    );
    for (const r of results) expect(r.code, r.stderr).to.equal(0);
    const index = await readIndexJson(dest);
    expect(index.manifests.map((m) => m.annotations?.[NAME]).sort()).to.deep.equal(images.map((_, i) => `img${i}`));
    for (const [i, img] of images.entries()) {
      expect(index.manifests.find((m) => m.annotations?.[NAME] === `img${i}`)!.digest).to.equal(img.digest);
    }
    expect((await readdir(dest)).sort()).to.deep.equal(['blobs', 'index.json', 'oci-layout']);
  });
});
