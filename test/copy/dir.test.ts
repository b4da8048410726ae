import { expect } from 'chai';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode } from '../../src/errors.js';
import { MediaType } from '../../src/manifest/media-types.js';
import { digestOf } from '../../src/util/digest.js';
import { buildImage, type BuiltImage } from '../harness/images.js';
import { useCleanup } from '../harness/tmp.js';
import { copy, entries, exists, layoutBlob, layoutIndex, layoutJson, rejection } from './helpers.js';

const hex = (d: string) => d.slice('sha256:'.length);

describe('copy: oci ⇄ dir', function () {
  this.timeout(30_000);
  const cleanup = useCleanup();
  let single: BuiltImage;
  let multi: BuiltImage;

  before(async () => {
    single = await buildImage(await cleanup.tempDir('dcopy-src1'), { seed: 21, layers: 2, layerSize: 12_000 });
    multi = await buildImage(await cleanup.tempDir('dcopy-srcm'), {
      seed: 22,
      layers: 1,
      layerSize: 8_000,
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64', variant: 'v8' },
      ],
    });
  });

  it('oci → dir → oci keeps every digest (single image)', async () => {
    const d = join(await cleanup.tempDir('dcopy-1'), 'img');
    const r = await copy(`oci:${single.layoutDir}`, `dir:${d}`);
    expect(r.digest).to.equal(single.digest);
    const m = single.manifests[0]!;
    expect((await readFile(join(d, 'manifest.json'))).equals(m.bytes)).to.equal(true);
    expect(await readFile(join(d, 'version'), 'utf8')).to.equal('Directory Transport Version: 1.1\n');
    expect(await entries(d)).to.deep.equal([hex(m.configDigest), ...m.layers.map((l) => hex(l.digest))].concat(['manifest.json', 'version']).sort());
    for (const l of m.layers) expect(digestOf(await readFile(join(d, hex(l.digest))))).to.equal(l.digest);

    const back = await cleanup.tempDir('dcopy-1b');
    const r2 = await copy(`dir:${d}`, `oci:${back}:again`);
    expect(r2.digest).to.equal(single.digest);
    expect((await layoutIndex(back)).manifests[0]!.digest).to.equal(single.digest);
  });

  it('oci → dir → oci keeps every digest (--all, multi-arch)', async () => {
    const d = await cleanup.tempDir('dcopy-m');
    const r = await copy(`oci:${multi.layoutDir}`, `dir:${d}`, { multiArch: 'all' });
    expect(r.digest).to.equal(multi.digest);
    expect((await readFile(join(d, 'manifest.json'))).equals(multi.bytes)).to.equal(true);
    for (const m of multi.manifests) expect((await readFile(join(d, `${hex(m.digest)}.manifest.json`))).equals(m.bytes)).to.equal(true);
    const back = await cleanup.tempDir('dcopy-mb');
    const r2 = await copy(`dir:${d}`, `oci:${back}:m`, { multiArch: 'all' });
    expect(r2.digest).to.equal(multi.digest);
    for (const m of multi.manifests) expect(await exists(layoutBlob(back, m.layers[0]!.digest))).to.equal(true);
  });

  it('--format v2s2 from OCI into dir:, and back to OCI', async () => {
    const d = await cleanup.tempDir('dcopy-v2s2');
    const m = single.manifests[0]!;
    const r = await copy(`oci:${single.layoutDir}`, `dir:${d}`, { format: 'v2s2' });
    const man = JSON.parse(await readFile(join(d, 'manifest.json'), 'utf8'));
    expect(digestOf(await readFile(join(d, 'manifest.json')))).to.equal(r.digest);
    expect(man.mediaType).to.equal(MediaType.DockerManifest);
    expect(man.config).to.deep.equal({ mediaType: MediaType.DockerConfig, size: m.config.length, digest: m.configDigest });
    expect(man.layers.map((l: { mediaType: string; digest: string }) => [l.mediaType, l.digest])).to.deep.equal(m.layers.map((l) => [MediaType.DockerLayerGzip, l.digest]));

    const back = await cleanup.tempDir('dcopy-v2s2-back');
    const r2 = await copy(`dir:${d}`, `oci:${back}:oci`);
    const oci = await layoutJson(back, r2.digest);
    expect(oci.mediaType).to.equal(MediaType.OciManifest);
    expect(oci.layers.map((l: { mediaType: string; digest: string }) => [l.mediaType, l.digest])).to.deep.equal(m.layers.map((l) => [MediaType.OciLayerGzip, l.digest]));
    expect((await layoutJson(back, oci.config.digest)).rootfs.diff_ids).to.deep.equal(m.layers.map((l) => l.diffId));
  });

  it('replaces an existing dir: image, reusing its blobs; refuses a directory that is not one', async () => {
    const d = await cleanup.tempDir('dcopy-over');
    await copy(`oci:${multi.layoutDir}`, `dir:${d}`, { multiArch: 'all' });
    await writeFile(join(d, 'signature-1'), 'old signature');
    const r = await copy(`oci:${single.layoutDir}`, `dir:${d}`);
    expect(r.events.filter((e) => e.kind === 'skipped')).to.have.length(0);
    const m = single.manifests[0]!;
    expect(await entries(d)).to.deep.equal([hex(m.configDigest), ...m.layers.map((l) => hex(l.digest)), 'manifest.json', 'version'].sort());
    // Copying the same image again reuses the blobs already there.
    const again = await copy(`oci:${single.layoutDir}`, `dir:${d}`);
    expect(again.events.map((e) => e.kind)).to.deep.equal(['skipped', 'skipped', 'skipped']);
    expect(await entries(d)).to.have.length(5);

    const other = await cleanup.tempDir('dcopy-refuse');
    await writeFile(join(other, 'precious.txt'), 'keep me');
    const e = await rejection(copy(`oci:${single.layoutDir}`, `dir:${other}`));
    expect(e.code).to.equal(ErrorCode.InvalidReference);
    expect(e.message).to.contain('not empty');
    expect(await entries(other)).to.deep.equal(['precious.txt']);
  });

  it('a failed copy leaves an existing dir: image untouched and adds nothing', async () => {
    const d = await cleanup.tempDir('dcopy-fail');
    await copy(`oci:${single.layoutDir}`, `dir:${d}`);
    const before = await entries(d);
    const src = await cleanup.tempDir('dcopy-fail-src');
    const img = await buildImage(src, { seed: 23, layers: 2, layerSize: 9_000 });
    const victim = img.manifests[0]!.layers[0]!.digest;
    const bytes = await readFile(layoutBlob(src, victim));
    bytes[100] ^= 0x01;
    await writeFile(layoutBlob(src, victim), bytes);
    const e = await rejection(copy(`oci:${src}`, `dir:${d}`));
    expect(e.code).to.equal(ErrorCode.DigestMismatch);
    expect(e.message).to.contain(victim);
    expect(await entries(d)).to.deep.equal(before);
    expect((await readFile(join(d, 'manifest.json'))).equals(single.manifests[0]!.bytes)).to.equal(true);

    const fresh = join(await cleanup.tempDir('dcopy-fail2'), 'new');
    await rejection(copy(`oci:${src}`, `dir:${fresh}`));
    expect(await entries(fresh)).to.deep.equal([]);
  });

  it('stores signatures as signature-N and carries them from dir: to dir:, refuses them for oci:', async () => {
    const d = await cleanup.tempDir('dcopy-sig');
    await copy(`oci:${single.layoutDir}`, `dir:${d}`);
    await writeFile(join(d, 'signature-1'), 'sig one');
    await writeFile(join(d, 'signature-2'), 'sig two');
    const d2 = await cleanup.tempDir('dcopy-sig2');
    const r = await copy(`dir:${d}`, `dir:${d2}`);
    expect(r.digest).to.equal(single.digest);
    expect(await readFile(join(d2, 'signature-2'), 'utf8')).to.equal('sig two');
    // Signed images cannot be converted, and oci: cannot store signatures.
    const e1 = await rejection(copy(`dir:${d}`, `dir:${await cleanup.tempDir('dcopy-sig3')}`, { format: 'v2s2' }));
    expect(e1.message).to.contain('signatures');
    const oci = await cleanup.tempDir('dcopy-sig-oci');
    const e2 = await rejection(copy(`dir:${d}`, `oci:${oci}:x`));
    expect(e2.code).to.equal(ErrorCode.Unsupported);
    const ok = await copy(`dir:${d}`, `oci:${oci}:x`, { removeSignatures: true });
    expect(ok.digest).to.equal(single.digest);
  });

  it('--dest-decompress / --dest-compress rewrite layers for dir:', async () => {
    const d = await cleanup.tempDir('dcopy-decomp');
    const m = single.manifests[0]!;
    const r = await copy(`oci:${single.layoutDir}`, `dir:${d}`, { compress: { mode: 'decompress' } });
    const man = JSON.parse(await readFile(join(d, 'manifest.json'), 'utf8'));
    expect(man.layers.map((l: { digest: string }) => l.digest)).to.deep.equal(m.layers.map((l) => l.diffId));
    expect(man.layers[0].mediaType).to.equal(MediaType.OciLayer);
    expect(r.digest).to.equal(digestOf(await readFile(join(d, 'manifest.json'))));
    const d2 = await cleanup.tempDir('dcopy-recomp');
    const r2 = await copy(`dir:${d}`, `dir:${d2}`, { compress: { mode: 'compress' } });
    const man2 = JSON.parse(await readFile(join(d2, 'manifest.json'), 'utf8'));
    expect(man2.layers[0].mediaType).to.equal(MediaType.OciLayerGzip);
    expect(r2.digest).to.not.equal(r.digest);
  });
});
