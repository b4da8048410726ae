import { expect } from 'chai';
import { writeFile, rm, mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { ErrorCode, FerryError } from '../../../src/errors.js';
import { MediaType } from '../../../src/manifest/media-types.js';
import { parseImageName } from '../../../src/transports/registry.js';
import { OciLayoutSource } from '../../../src/transports/oci-layout/source.js';
import type { ImageSource } from '../../../src/types/image.js';
import { useCleanup } from '../../harness/tmp.js';
import { blob, makeOciImage, writeOciBlob, writeOciImageBlobs, writeOciIndex } from '../fixtures.js';
import { readAll, rejection } from '../../harness/expect.js';
import { ferry } from '../../harness/cli.js';

function open(name: string, signal?: AbortSignal): Promise<ImageSource> {
  return parseImageName(name).newImageSource({}, { signal });
}

describe('transports/oci-layout/source', () => {
  const cleanup = useCleanup();
  const one = makeOciImage('one');
  const two = makeOciImage('two');
  let single: string; // one image, no name
  let multi: string; // two named images
  let root: string;

  before(async () => {
    root = await cleanup.tempDir('oci-source');
    single = join(root, 'single');
    await writeOciImageBlobs(single, one);
    await writeOciIndex(single, [{ blob: one.manifest, mediaType: MediaType.OciManifest }]);
    multi = join(root, 'multi');
    await writeOciImageBlobs(multi, one);
    await writeOciImageBlobs(multi, two);
    await writeOciIndex(multi, [
      { blob: one.manifest, mediaType: MediaType.OciManifest, refName: 'first' },
      { blob: two.manifest, mediaType: MediaType.OciManifest, refName: 'second' },
    ]);
  });

  it('reads the only image when no name is given: manifest bytes, media type, blobs', async () => {
    const src = await open(`oci:${single}`);
    expect(src).to.be.instanceOf(OciLayoutSource);
    expect(src.reference.toString()).to.equal(`oci:${single}`);
    const m = await src.getManifest();
    expect(m.bytes.equals(one.manifest.bytes)).to.equal(true);
    expect(m.mediaType).to.equal(MediaType.OciManifest);
    const { stream, size } = await src.getBlob({ digest: one.layer.digest, size: one.layer.size });
    expect(size).to.equal(one.layer.size);
    expect((await readAll(stream)).equals(one.layer.bytes)).to.equal(true);
    const cfg = await src.getBlob({ digest: one.config.digest, size: -1 }, { offset: 5 });
    expect(cfg.size).to.equal(one.config.size);
    expect((await readAll(cfg.stream)).equals(one.config.bytes.subarray(5))).to.equal(true);
    expect(await src.getSignatures()).to.deep.equal([]);
    await src.close();
  });

  it('selects by ref name and by @N', async () => {
    const second = await open(`oci:${multi}:second`);
    expect((await second.getManifest()).bytes.equals(two.manifest.bytes)).to.equal(true);
    const byIndex = await open(`oci:${multi}:@0`);
    expect((await byIndex.getManifest()).bytes.equals(one.manifest.bytes)).to.equal(true);
    expect((byIndex as OciLayoutSource).descriptor.annotations?.['org.opencontainers.image.ref.name']).to.equal('first');
  });

  it('with two images and no name, fails listing both names', async () => {
    const e = await rejection(open(`oci:${multi}`));
    expect(e.code).to.equal(ErrorCode.InvalidReference);
    expect(e.message).to.include('"first"');
    expect(e.message).to.include('"second"');
    expect(e.message).to.include(multi);
  });

  it('an unknown name is E_NOT_FOUND naming the ref, the layout and what is there', async () => {
    const e = await rejection(open(`oci:${multi}:third`));
    expect(e.code).to.equal(ErrorCode.NotFound);
    expect(e.message).to.include('"third"');
    expect(e.message).to.include(multi);
    expect(e.message).to.include('"first", "second"');
  });

  it('@N out of range is E_NOT_FOUND', async () => {
    const e = await rejection(open(`oci:${multi}:@2`));
    expect(e.code).to.equal(ErrorCode.NotFound);
    expect(e.message).to.include('2 entries');
  });

  it('a missing directory, a missing oci-layout and an empty layout are E_NOT_FOUND', async () => {
    expect((await rejection(open(`oci:${join(root, 'nope')}`))).code).to.equal(ErrorCode.NotFound);
    const bare = join(root, 'bare');
    await mkdir(bare);
    const e = await rejection(open(`oci:${bare}`));
    expect(e.code).to.equal(ErrorCode.NotFound);
    expect(e.message).to.include('not an OCI image layout');
    const empty = join(root, 'empty');
    await writeOciIndex(empty, []);
    expect((await rejection(open(`oci:${empty}`))).message).to.include('holds no images');
  });

  it('checks imageLayoutVersion and index.json', async () => {
    const v2 = join(root, 'v2');
    await writeOciImageBlobs(v2, one);
    await writeOciIndex(v2, [{ blob: one.manifest, mediaType: MediaType.OciManifest }], '2.0.0');
    expect((await rejection(open(`oci:${v2}`))).code).to.equal(ErrorCode.Unsupported);
    const v11 = join(root, 'v11');
    await writeOciImageBlobs(v11, one);
    await writeOciIndex(v11, [{ blob: one.manifest, mediaType: MediaType.OciManifest }], '1.1.0');
    expect((await (await open(`oci:${v11}`)).getManifest()).bytes.equals(one.manifest.bytes)).to.equal(true);
    const broken = join(root, 'broken');
    await writeOciIndex(broken, []);
    await writeFile(join(broken, 'index.json'), '{"schemaVersion": 2, "manifests": [{"digest": 3}]}');
    expect((await rejection(open(`oci:${broken}`))).code).to.equal(ErrorCode.InvalidManifest);
    await writeFile(join(broken, 'index.json'), 'not json');
    expect((await rejection(open(`oci:${broken}`))).code).to.equal(ErrorCode.InvalidManifest);
    await rm(join(broken, 'index.json'));
    expect((await rejection(open(`oci:${broken}`))).code).to.equal(ErrorCode.NotFound);
  });

  it('reads a multi-platform index and its instances', async () => {
    const dir = join(root, 'multiarch');
    const amd = makeOciImage('m', 'amd64');
    const arm = makeOciImage('m', 'arm64');
    await writeOciImageBlobs(dir, amd);
    await writeOciImageBlobs(dir, arm);
    const index = blob(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: [
          { mediaType: MediaType.OciManifest, digest: amd.manifest.digest, size: amd.manifest.size, platform: { architecture: 'amd64', os: 'linux' } },
          { mediaType: MediaType.OciManifest, digest: arm.manifest.digest, size: arm.manifest.size, platform: { architecture: 'arm64', os: 'linux' } },
        ],
      }),
    );
    await writeOciBlob(dir, index);
    // No mediaType on the descriptor: detected from the JSON.
    await writeOciIndex(dir, [{ blob: index, refName: 'multi' }]);
    const src = await open(`oci:${dir}:multi`);
    const top = await src.getManifest();
    expect(top.bytes.equals(index.bytes)).to.equal(true);
    expect(top.mediaType).to.equal(MediaType.OciIndex);
    const inst = await src.getManifest(arm.manifest.digest);
    expect(inst.bytes.equals(arm.manifest.bytes)).to.equal(true);
    expect(inst.mediaType).to.equal(MediaType.OciManifest);
    const missing = await rejection(src.getManifest('sha256:' + '0'.repeat(64)));
    expect(missing.code).to.equal(ErrorCode.NotFound);
  });

  it('a missing blob is E_NOT_FOUND; an invalid digest cannot escape the layout', async () => {
    const src = await open(`oci:${single}`);
    const e = await rejection(src.getBlob({ digest: 'sha256:' + '1'.repeat(64), size: -1 }));
    expect(e.code).to.equal(ErrorCode.NotFound);
    expect(e.message).to.include('sha256:' + '1'.repeat(64));
    expect((await rejection(src.getBlob({ digest: 'sha256:../../etc/passwd', size: -1 }))).code).to.equal(ErrorCode.InvalidManifest);
  });

  it("the image's manifest must be what its digest says: a file linked or written over is refused, its content not returned", async () => {
    const dir = join(root, 'swapped');
    await writeOciImageBlobs(dir, one);
    await writeOciIndex(dir, [{ blob: one.manifest, mediaType: MediaType.OciManifest, refName: 'app' }]);
    const path = join(dir, 'blobs', 'sha256', one.manifest.digest.slice('sha256:'.length));
    const secret = join(root, 'secret.json');
    await writeFile(secret, '{"schemaVersion":2,"secret":"do not print"}');
    for (const swap of [() => symlink(secret, path), () => writeFile(path, '{"schemaVersion":2,"layers":[]}')]) {
      await rm(path);
      await swap();
      const src = await open(`oci:${dir}:app`);
      const e = await rejection(src.getManifest());
      expect(e.code).to.equal(ErrorCode.DigestMismatch);
      expect(e.message).to.include(one.manifest.digest).and.not.include('do not print');
      // the CLI prints nothing of it either
      const r = await ferry(['inspect', '--raw', `oci:${dir}:app`]);
      expect(r.code).to.equal(1);
      expect(r.stdout).to.equal('');
      expect(r.stderr).to.match(/^Error: manifest sha256:\S+ in OCI layout .*: digest mismatch/).and.not.include('do not print');
    }
  });

  it('rejects a name whose descriptor is not an image type', async () => {
    const dir = join(root, 'artifact');
    const b = blob('{}');
    await writeOciBlob(dir, b);
    await writeOciIndex(dir, [{ blob: b, mediaType: 'application/vnd.example.thing', refName: 'x' }]);
    expect((await rejection(open(`oci:${dir}:x`))).code).to.equal(ErrorCode.Unsupported);
  });

  it('an aborted signal stops opening', async () => {
    const ac = new AbortController();
    ac.abort();
    expect((await rejection(open(`oci:${single}`, ac.signal))).code).to.equal(ErrorCode.Aborted);
  });
});
