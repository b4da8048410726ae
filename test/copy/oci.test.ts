import { expect } from 'chai';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ErrorCode } from '../../src/errors.js';
import { MediaType } from '../../src/manifest/media-types.js';
import { digestOf } from '../../src/util/digest.js';
import { buildImage, type BuiltImage } from '../harness/images.js';
import { useCleanup } from '../harness/tmp.js';
import { copy, entries, exists, layoutBlob, layoutIndex, layoutJson, rejection } from './helpers.js';

const threeArch = [
  { os: 'linux', architecture: 'amd64' },
  { os: 'linux', architecture: 'arm64', variant: 'v8' },
  { os: 'linux', architecture: 'ppc64le' },
];

describe('copy: oci → oci', function () {
  this.timeout(30_000);
  const cleanup = useCleanup();
  let single: BuiltImage;
  let multi: BuiltImage;

  before(async () => {
    single = await buildImage(await cleanup.tempDir('copy-src1'), { seed: 11, layers: 2, layerSize: 20_000, tag: 'v1' });
    multi = await buildImage(await cleanup.tempDir('copy-srcm'), { seed: 12, layers: 2, layerSize: 10_000, platforms: threeArch, tag: 'multi' });
  });

  it('copies a single image unchanged, with progress events, and skips every blob the second time', async () => {
    const dest = join(await cleanup.tempDir('copy-d1'), 'layout');
    const { digest, events } = await copy(`oci:${single.layoutDir}:v1`, `oci:${dest}:copied`, { progressIntervalMs: 0 });
    expect(digest).to.equal(single.digest);
    const index = await layoutIndex(dest);
    expect(index.manifests).to.deep.equal([
      { mediaType: MediaType.OciManifest, digest: single.digest, size: single.bytes.length, annotations: { 'org.opencontainers.image.ref.name': 'copied' } },
    ]);
    expect(JSON.parse(await readFile(join(dest, 'oci-layout'), 'utf8'))).to.deep.equal({ imageLayoutVersion: '1.0.0' });
    const m = single.manifests[0]!;
    for (const d of [m.digest, m.configDigest, ...m.layers.map((l) => l.digest)]) {
      expect(digestOf(await readFile(layoutBlob(dest, d)))).to.equal(d);
    }
    // Per blob: start, then done, in that order; the config is marked as such.
    for (const l of m.layers) {
      const mine = events.filter((e) => e.digest === l.digest).map((e) => e.kind);
      expect(mine[0]).to.equal('start');
      expect(mine.at(-1)).to.equal('done');
      expect(events.find((e) => e.digest === l.digest && e.kind === 'done')!.offset).to.equal(l.size);
    }
    expect(events.filter((e) => e.role === 'config' && e.kind !== 'bytes').map((e) => e.kind)).to.deep.equal(['start', 'done']);
    expect(events.filter((e) => e.kind === 'done')).to.have.length(m.layers.length + 1);

    const again = await copy(`oci:${single.layoutDir}:v1`, `oci:${dest}:copied`);
    expect(again.digest).to.equal(single.digest);
    expect(again.events.map((e) => e.kind)).to.deep.equal(new Array(m.layers.length + 1).fill('skipped'));
    expect(again.events.every((e) => e.reason === 'already exists')).to.equal(true);
    expect((await layoutIndex(dest)).manifests).to.have.length(1);
  });

  it('--all: copies every instance and the index with unchanged digests', async () => {
    const dest = await cleanup.tempDir('copy-all');
    const { digest } = await copy(`oci:${multi.layoutDir}:multi`, `oci:${dest}:m`, { multiArch: 'all' });
    expect(digest).to.equal(multi.digest);
    expect((await layoutIndex(dest)).manifests.map((d) => [d.digest, d.mediaType])).to.deep.equal([[multi.digest, MediaType.OciIndex]]);
    expect((await readFile(layoutBlob(dest, multi.digest))).equals(multi.bytes)).to.equal(true);
    for (const m of multi.manifests) {
      for (const d of [m.digest, m.configDigest, ...m.layers.map((l) => l.digest)]) expect(await exists(layoutBlob(dest, d)), d).to.equal(true);
    }
  });

  it('system: copies only the instance of the wanted platform, as a single image', async () => {
    const dest = await cleanup.tempDir('copy-sys');
    const arm = multi.manifests[1]!;
    const { digest } = await copy(`oci:${multi.layoutDir}:multi`, `oci:${dest}:arm`, { srcCtx: { platform: { os: 'linux', architecture: 'arm64' } } });
    expect(digest).to.equal(arm.digest);
    expect((await layoutIndex(dest)).manifests.map((d) => [d.digest, d.mediaType])).to.deep.equal([[arm.digest, MediaType.OciManifest]]);
    expect(await exists(layoutBlob(dest, multi.digest))).to.equal(false);
    expect(await exists(layoutBlob(dest, multi.manifests[0]!.layers[0]!.digest))).to.equal(false);
  });

  it('platforms: copies a subset and writes an index of just those', async () => {
    const dest = await cleanup.tempDir('copy-subset');
    const { digest } = await copy(`oci:${multi.layoutDir}:multi`, `oci:${dest}:sub`, {
      platforms: [
        { os: 'linux', architecture: 'ppc64le' },
        { os: 'linux', architecture: 'amd64' },
      ],
    });
    expect(digest).to.not.equal(multi.digest);
    const index = await layoutJson(dest, digest);
    expect(index.mediaType).to.equal(MediaType.OciIndex);
    expect(index.manifests.map((d: { digest: string }) => d.digest)).to.deep.equal([multi.manifests[0]!.digest, multi.manifests[2]!.digest]);
    expect(index.manifests[1].platform).to.deep.equal({ architecture: 'ppc64le', os: 'linux' });
    expect(await exists(layoutBlob(dest, multi.manifests[1]!.digest))).to.equal(false);
    expect(await exists(layoutBlob(dest, multi.manifests[2]!.layers[1]!.digest))).to.equal(true);
    const e = await rejection(copy(`oci:${multi.layoutDir}:multi`, `oci:${dest}:none`, { platforms: [{ os: 'linux', architecture: 's390x' }] }));
    expect(e.code).to.equal(ErrorCode.NoMatchingPlatform);
  });

  it('index-only: copies the index alone', async () => {
    const dest = await cleanup.tempDir('copy-idx');
    const { digest } = await copy(`oci:${multi.layoutDir}:multi`, `oci:${dest}:i`, { multiArch: 'index-only' });
    expect(digest).to.equal(multi.digest);
    expect(await entries(join(dest, 'blobs', 'sha256'))).to.deep.equal([multi.digest.slice(7)]);
  });

  it('a tampered source blob fails naming the blob, and nothing is committed', async () => {
    const src = await cleanup.tempDir('copy-tamper-src');
    const img = await buildImage(src, { seed: 13, layers: 2, layerSize: 10_000 });
    const victim = img.manifests[0]!.layers[1]!.digest;
    const bytes = await readFile(layoutBlob(src, victim));
    bytes[bytes.length - 10] ^= 0xff;
    await writeFile(layoutBlob(src, victim), bytes);
    const dest = await cleanup.tempDir('copy-tamper-dest');
    const e = await rejection(copy(`oci:${src}:latest`, `oci:${dest}:t`));
    expect(e.code).to.equal(ErrorCode.DigestMismatch);
    expect(e.message).to.contain(victim);
    expect(await exists(join(dest, 'index.json'))).to.equal(false);
    expect(await exists(layoutBlob(dest, victim))).to.equal(false);
    expect(await exists(layoutBlob(dest, img.digest))).to.equal(false);
    // no temporary files left anywhere
    const all = await entries(dest);
    expect(all.filter((n) => n.includes('.tmp-'))).to.deep.equal([]);
    expect((await entries(join(dest, 'blobs', 'sha256'))).filter((n) => n.includes('.tmp-'))).to.deep.equal([]);
  });

  it('aborting mid-copy fails with E_ABORTED and commits nothing', async () => {
    const src = await cleanup.tempDir('copy-abort-src');
    await buildImage(src, { seed: 14, layers: 3, layerSize: 3_000_000, compression: 'none' });
    const dest = await cleanup.tempDir('copy-abort-dest');
    const ac = new AbortController();
    const e = await rejection(
      copy(`oci:${src}:latest`, `oci:${dest}:a`, {
        signal: ac.signal,
        ociAcceptUncompressedLayers: true,
        progressIntervalMs: 0,
        onProgress: (ev) => {
          if (ev.kind === 'bytes' && ev.offset > 0) ac.abort(new Error('test abort'));
        },
      }),
    );
    expect(e.code).to.equal(ErrorCode.Aborted);
    expect(await exists(join(dest, 'index.json'))).to.equal(false);
    expect((await entries(dest)).filter((n) => n.includes('.tmp-'))).to.deep.equal([]);
    expect((await entries(join(dest, 'blobs', 'sha256'))).filter((n) => n.includes('.tmp-'))).to.deep.equal([]);
  });

  it('compresses uncompressed layers for oci: (unless told to accept them); diff IDs stay', async () => {
    const src = await cleanup.tempDir('copy-plain-src');
    const img = await buildImage(src, { seed: 15, layers: 2, layerSize: 8_000, compression: 'none' });
    const m = img.manifests[0]!;
    const dest = await cleanup.tempDir('copy-plain-dest');
    const { digest } = await copy(`oci:${src}:latest`, `oci:${dest}:gz`);
    expect(digest).to.not.equal(img.digest);
    const man = await layoutJson(dest, digest);
    expect(man.config.digest).to.equal(m.configDigest);
    expect(man.layers.map((l: { mediaType: string }) => l.mediaType)).to.deep.equal([MediaType.OciLayerGzip, MediaType.OciLayerGzip]);
    for (const [i, l] of (man.layers as { digest: string; size: number }[]).entries()) {
      const gz = await readFile(layoutBlob(dest, l.digest));
      expect(gz.length).to.equal(l.size);
      expect(digestOf(gunzipSync(gz))).to.equal(m.layers[i]!.diffId);
    }
    const kept = await copy(`oci:${src}:latest`, `oci:${dest}:plain`, { ociAcceptUncompressedLayers: true });
    expect(kept.digest).to.equal(img.digest);
    expect((await layoutIndex(dest)).manifests.map((d) => d.annotations?.['org.opencontainers.image.ref.name'])).to.deep.equal(['gz', 'plain']);
  });

  it('zstd: recompresses gzip layers when the format is given, and decompresses back', async () => {
    const dest = await cleanup.tempDir('copy-zstd');
    const m = single.manifests[0]!;
    const z = await copy(`oci:${single.layoutDir}:v1`, `oci:${dest}:z`, { compress: { mode: 'compress', format: 'zstd' } });
    const man = await layoutJson(dest, z.digest);
    expect(man.layers.map((l: { mediaType: string }) => l.mediaType)).to.deep.equal([MediaType.OciLayerZstd, MediaType.OciLayerZstd]);
    const first = await readFile(layoutBlob(dest, man.layers[0].digest));
    expect([...first.subarray(0, 4)]).to.deep.equal([0x28, 0xb5, 0x2f, 0xfd]);
    const plainDest = await cleanup.tempDir('copy-unz');
    const p = await copy(`oci:${dest}:z`, `oci:${plainDest}:p`, { compress: { mode: 'decompress' } });
    const pm = await layoutJson(plainDest, p.digest);
    expect(pm.layers.map((l: { mediaType: string }) => l.mediaType)).to.deep.equal([MediaType.OciLayer, MediaType.OciLayer]);
    expect(pm.layers.map((l: { digest: string }) => l.digest)).to.deep.equal(m.layers.map((l) => l.diffId));
    expect(pm.config.digest).to.equal(m.configDigest);
  });

  it('--format v2s2 is refused by oci: (it accepts OCI only); --preserve-digests refuses a conversion', async () => {
    const dest = await cleanup.tempDir('copy-v2s2');
    const docker = await buildImage(await cleanup.tempDir('copy-docker-src'), { seed: 16, format: 'docker', layers: 1, layerSize: 5_000 });
    const e = await rejection(copy(`oci:${docker.layoutDir}:latest`, `oci:${dest}:d`, { preserveDigests: true }));
    expect(e.code).to.equal(ErrorCode.Unsupported);
    expect(e.message).to.contain('--preserve-digests');
    const f = await rejection(copy(`oci:${single.layoutDir}:v1`, `oci:${dest}:d`, { format: 'v2s2' }));
    expect(f.code).to.equal(ErrorCode.Unsupported);
    expect(await entries(dest)).to.deep.equal([]);
    expect(await exists(join(dest, 'index.json'))).to.equal(false);
    const conv = await copy(`oci:${docker.layoutDir}:latest`, `oci:${dest}:d`);
    const man = await layoutJson(dest, conv.digest);
    expect(man.mediaType).to.equal(MediaType.OciManifest);
    expect(man.config.mediaType).to.equal(MediaType.OciConfig);
    expect(man.layers[0].digest).to.equal(docker.manifests[0]!.layers[0]!.digest);
    expect(man.layers[0].mediaType).to.equal(MediaType.OciLayerGzip);
    const config = await layoutJson(dest, man.config.digest);
    expect(config.rootfs.diff_ids).to.deep.equal([docker.manifests[0]!.layers[0]!.diffId]);
  });
});
