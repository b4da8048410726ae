import { expect } from 'chai';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode } from '../../../src/errors.js';
import { MediaType } from '../../../src/manifest/media-types.js';
import { OciArchiveReference } from '../../../src/transports/oci-archive/reference.js';
import { parseImageName } from '../../../src/transports/registry.js';
import type { ImageDestination, ImageSource } from '../../../src/types/image.js';
import { buildImage, layoutBlobPath, type BuiltImage } from '../../harness/images.js';
import { runOk } from '../../harness/procs.js';
import { useCleanup } from '../../harness/tmp.js';
import { gzipFile, readAll, rejection, sha256, writeTar } from '../docker-archive/helpers.js';

async function withSource<T>(name: string, f: (s: ImageSource) => Promise<T>): Promise<T> {
  const s = await parseImageName(name).newImageSource({});
  try {
    return await f(s);
  } finally {
    await s.close();
  }
}

/** Copies a single-arch built OCI image as it is (what the engine does oci → oci-archive). */
async function copyAsIs(img: BuiltImage, dest: ImageDestination): Promise<void> {
  const m = img.manifests[0]!;
  for (const l of m.layers) await dest.putBlob(createReadStream(layoutBlobPath(img.layoutDir, l.digest)), { digest: l.digest, size: l.size });
  await dest.putBlob(createReadStream(layoutBlobPath(img.layoutDir, m.configDigest)), { digest: m.configDigest, size: m.config.length });
  await dest.putManifest({ bytes: img.bytes, mediaType: img.mediaType });
  await dest.putSignatures([]);
  await dest.commit();
}

const unpackedDirs = async () => (await readdir(tmpdir())).filter((n) => n.startsWith('ferry-oci-archive-')).length;

describe('transports/oci-archive', function () {
  this.timeout(60_000);
  const cleanup = useCleanup();
  let root: string;
  let img: BuiltImage;
  let other: BuiltImage;

  before(async () => {
    root = await cleanup.tempDir('oci-archive');
    img = await buildImage(join(root, 'img'), { seed: 31, tag: 'v1', layers: 2, layerSize: 8192 });
    other = await buildImage(join(root, 'other'), { seed: 32, tag: 'v2', layers: 1, layerSize: 4096 });
  });

  it('parses references like oci:', () => {
    const r = parseImageName('oci-archive:/tmp/a.tar:name:tag') as OciArchiveReference;
    expect(r).to.be.instanceOf(OciArchiveReference);
    expect([r.path, r.image, r.sourceIndex]).to.deep.equal(['/tmp/a.tar', 'name:tag', undefined]);
    expect(r.toString()).to.equal('oci-archive:/tmp/a.tar:name:tag');
    expect((parseImageName('oci-archive:/tmp/a.tar:@3') as OciArchiveReference).sourceIndex).to.equal(3);
    expect(r.policyIdentity()).to.equal('/tmp/a.tar');
    expect(() => parseImageName('oci-archive::x')).to.throw().with.property('code', ErrorCode.InvalidReference);
    expect(() => parseImageName('oci-archive:/a:@x')).to.throw().with.property('code', ErrorCode.InvalidReference);
  });

  it('reads an archive written by skopeo (plain and gzip-compressed), removing its unpacked copy on close', async () => {
    const file = join(root, 'skopeo.tar');
    await runOk('skopeo', ['--insecure-policy', 'copy', '-q', `oci:${img.layoutDir}:v1`, `oci-archive:${file}:app`]);
    const gz = join(root, 'skopeo.tar.gz');
    await gzipFile(file, gz);
    const before = await unpackedDirs();
    for (const name of [`oci-archive:${file}:app`, `oci-archive:${file}`, `oci-archive:${gz}:app`, `oci-archive:${file}:@0`]) {
      await withSource(name, async (s) => {
        const m = await s.getManifest();
        expect(m.mediaType).to.equal(MediaType.OciManifest);
        expect(sha256(m.bytes)).to.equal(img.digest);
        const l = img.manifests[0]!.layers[1]!;
        expect(sha256(await readAll((await s.getBlob({ digest: l.digest, size: l.size })).stream))).to.equal(l.digest);
      });
    }
    expect(await unpackedDirs()).to.equal(before);
    expect((await rejection(parseImageName(`oci-archive:${file}:nope`).newImageSource({}))).code).to.equal(ErrorCode.NotFound);
    expect(await unpackedDirs()).to.equal(before);
  });

  it('writes an archive skopeo reads and copies back to a layout', async () => {
    const file = join(root, 'ours.tar');
    const dest = await parseImageName(`oci-archive:${file}:app`).newImageDestination({});
    expect(await stat(file).then(() => true, () => false)).to.equal(false);
    await copyAsIs(img, dest);
    await dest.close();
    const raw = (await runOk('skopeo', ['inspect', '--raw', `oci-archive:${file}:app`])).stdoutBytes;
    expect(raw.equals(img.bytes)).to.equal(true);
    const out = join(root, 'back');
    await runOk('skopeo', ['--insecure-policy', 'copy', '-q', `oci-archive:${file}:app`, `oci:${out}:x`]);
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    expect(index.manifests[0]!.digest).to.equal(img.digest);
    // and our own source reads it back
    await withSource(`oci-archive:${file}:app`, async (s) => expect(sha256((await s.getManifest()).bytes)).to.equal(img.digest));
    // no staging directory is left next to the archive
    expect((await readdir(root)).filter((n) => n.startsWith('.ferry-oci-archive-'))).to.deep.equal([]);
  });

  it('selects among several images of an archive', async () => {
    const file = join(root, 'two.tar');
    const layout = join(root, 'two-layout');
    await runOk('skopeo', ['--insecure-policy', 'copy', '-q', `oci:${img.layoutDir}:v1`, `oci:${layout}:a`]);
    await runOk('skopeo', ['--insecure-policy', 'copy', '-q', `oci:${other.layoutDir}:v2`, `oci:${layout}:b`]);
    await runOk('tar', ['-cf', file, '-C', layout, '.']);
    await withSource(`oci-archive:${file}:b`, async (s) => expect(sha256((await s.getManifest()).bytes)).to.equal(other.digest));
    await withSource(`oci-archive:${file}:@0`, async (s) => expect(sha256((await s.getManifest()).bytes)).to.equal(img.digest));
    expect((await rejection(parseImageName(`oci-archive:${file}`).newImageSource({}))).code).to.equal(ErrorCode.InvalidReference);
  });

  it("an image's manifest must be what its digest says: an archive whose manifest entry was rewritten is refused", async () => {
    const layout = join(root, 'rewritten-layout');
    const file = join(root, 'rewritten.tar');
    await runOk('skopeo', ['--insecure-policy', 'copy', '-q', `oci:${img.layoutDir}:v1`, `oci:${layout}:a`]);
    // same size, other bytes: only the digest tells
    const path = layoutBlobPath(layout, img.digest);
    const bytes = await readFile(path);
    await writeFile(path, Buffer.from(bytes.toString('utf8').replace('"schemaVersion":2', '"schemaVersion":3')));
    await runOk('tar', ['-cf', file, '-C', layout, '.']);
    await withSource(`oci-archive:${file}:a`, async (s) => {
      const e = await rejection(s.getManifest());
      expect(e.code).to.equal(ErrorCode.DigestMismatch);
      expect(e.message).to.include(`manifest ${img.digest} in OCI archive ${file}`);
    });
  });

  it('discards everything when closed without commit', async () => {
    const dir = join(root, 'discard');
    await runOk('mkdir', ['-p', dir]);
    const dest = await parseImageName(`oci-archive:${join(dir, 'x.tar')}:t`).newImageDestination({});
    const m = img.manifests[0]!;
    await dest.putBlob(createReadStream(layoutBlobPath(img.layoutDir, m.configDigest)), { digest: m.configDigest, size: m.config.length });
    await dest.close();
    expect(await readdir(dir)).to.deep.equal([]);
    expect((await rejection(parseImageName(`oci-archive:${join(dir, 'x.tar')}:@1`).newImageDestination({}))).code).to.equal(
      ErrorCode.InvalidReference,
    );
  });

  it('refuses hostile archives before writing anything', async () => {
    const outside = join(tmpdir(), `ferry-oci-hostile-${process.pid}`);
    const before = await unpackedDirs();
    const cases = [
      [{ name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' }, { name: `../../..${outside}/x`, data: 'x' }],
      [{ name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' }, { name: `${outside}/x`, data: 'x' }],
      [{ name: 'blobs', symlink: '../../../..' }, { name: 'index.json', data: '{}' }],
    ];
    for (const [i, entries] of cases.entries()) {
      const file = join(root, `hostile-${i}.tar`);
      await writeTar(file, entries);
      const e = await rejection(parseImageName(`oci-archive:${file}`).newImageSource({}));
      expect(e.code, e.message).to.equal(ErrorCode.HostileArchive);
    }
    expect(await stat(outside).then(() => true, () => false)).to.equal(false);
    expect(await unpackedDirs()).to.equal(before);
  });
});
