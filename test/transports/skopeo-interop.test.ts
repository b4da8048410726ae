/**
 * Interop with real skopeo: layouts skopeo writes (dir:, oci:) read back with ferry's sources,
 * byte for byte. Skipped when skopeo is not installed.
 */
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { MediaType } from '../../src/manifest/media-types.js';
import { parseImageName } from '../../src/transports/registry.js';
import { digestOf } from '../../src/util/digest.js';
import { run, runOk } from '../harness/procs.js';
import { useCleanup } from '../harness/tmp.js';
import { makeOciImage, writeOciImageBlobs, writeOciIndex } from './fixtures.js';
import { readAll } from '../harness/expect.js';

describe('transports: layouts written by skopeo', function () {
  const cleanup = useCleanup();
  const img = makeOciImage('interop');
  let root: string;
  let skopeoEnv: Record<string, string>;

  before(async function () {
    const probe = await run('skopeo', ['--version']).catch(() => undefined);
    if (!probe || probe.code !== 0) this.skip();
    root = await cleanup.tempDir('skopeo-interop');
    skopeoEnv = { HOME: root, XDG_RUNTIME_DIR: root, XDG_CONFIG_HOME: join(root, '.config') };
    const src = join(root, 'A');
    await writeOciImageBlobs(src, img);
    await writeOciIndex(src, [{ blob: img.manifest, mediaType: MediaType.OciManifest, refName: 'tag' }]);
    await runOk('skopeo', ['--insecure-policy', 'copy', '--quiet', `oci:${src}:tag`, `dir:${join(root, 'B')}`], { env: skopeoEnv });
    await runOk('skopeo', ['--insecure-policy', 'copy', '--quiet', `oci:${src}:tag`, `oci:${join(root, 'C')}:tag2`], { env: skopeoEnv });
    // A second image in C, so that C holds two names.
    const other = makeOciImage('interop-2');
    const d = join(root, 'D');
    await writeOciImageBlobs(d, other);
    await writeOciIndex(d, [{ blob: other.manifest, mediaType: MediaType.OciManifest }]);
    await runOk('skopeo', ['--insecure-policy', 'copy', '--quiet', `oci:${d}`, `oci:${join(root, 'C')}:other`], { env: skopeoEnv });
  });

  it('dir: skopeo keeps the manifest bytes and names blobs by hex; ferry reads them', async () => {
    const b = join(root, 'B');
    expect(await readFile(join(b, 'version'), 'utf8')).to.equal('Directory Transport Version: 1.1\n');
    const src = await parseImageName(`dir:${b}`).newImageSource({});
    const m = await src.getManifest();
    expect(digestOf(m.bytes)).to.equal(img.manifest.digest);
    expect(m.mediaType).to.equal(MediaType.OciManifest);
    for (const blob of [img.config, img.layer]) {
      const { stream, size } = await src.getBlob({ digest: blob.digest, size: blob.size });
      expect(size).to.equal(blob.size);
      expect(digestOf(await readAll(stream))).to.equal(blob.digest);
    }
    expect(await src.getSignatures()).to.deep.equal([]);
  });

  it('oci: ferry reads an image skopeo wrote under a ref name, among two', async () => {
    const c = join(root, 'C');
    const src = await parseImageName(`oci:${c}:tag2`).newImageSource({});
    const m = await src.getManifest();
    expect(m.bytes.equals(img.manifest.bytes)).to.equal(true);
    expect(m.mediaType).to.equal(MediaType.OciManifest);
    const layer = await src.getBlob({ digest: img.layer.digest, size: img.layer.size });
    expect((await readAll(layer.stream)).equals(img.layer.bytes)).to.equal(true);
    let message = '';
    try {
      await parseImageName(`oci:${c}`).newImageSource({});
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).to.include('"tag2"').and.to.include('"other"');
  });

  it('skopeo reads what ferry reads: same manifest digest from skopeo inspect', async () => {
    const r = await runOk('skopeo', ['inspect', '--raw', `oci:${join(root, 'C')}:tag2`], { env: skopeoEnv });
    const ours = await (await parseImageName(`oci:${join(root, 'C')}:tag2`).newImageSource({})).getManifest();
    expect(r.stdoutBytes.equals(ours.bytes)).to.equal(true);
  });
});
