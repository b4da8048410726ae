/**
 * The copy engine with sources that serve other layers than their manifest lists (`layerInfosForCopy`,
 * like containers-storage): an `oci:` image whose wrapped source serves its gzip layers only uncompressed.
 */
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { copyImage, type CopyOptions } from '../../src/copy/index.js';
import { layerTypeInFamily } from '../../src/copy/layer-infos.js';
import { ErrorCode, notFound } from '../../src/errors.js';
import { MediaType } from '../../src/manifest/media-types.js';
import { parseImageName } from '../../src/transports/registry.js';
import { PolicyContext } from '../../src/signature/policy/evaluate.js';
import type { BlobInfo, ImageSource } from '../../src/types/image.js';
import type { ImageReference } from '../../src/types/reference.js';
import { digestOf } from '../../src/util/digest.js';
import { buildImage, type BuiltImage } from '../harness/images.js';
import { useCleanup } from '../harness/tmp.js';
import { layoutBlob, layoutIndex, rejection } from './helpers.js';

interface Served {
  /** What layerInfosForCopy returns (default: the uncompressed layers). */
  infos?: (img: BuiltImage) => BlobInfo[] | undefined;
  signatures?: Buffer[];
  /** Also serve the manifest's (compressed) layers (default: only the uncompressed ones). */
  compressedToo?: boolean;
}

/** An `oci:` reference whose source serves layers only uncompressed, by diff ID, and says so. */
function unpackedSource(img: BuiltImage, served: Served = {}): ImageReference {
  const inner = parseImageName(`oci:${img.layoutDir}:${img.tag}`);
  const m = img.manifests[0]!;
  const uncompressed = async (digest: string) => {
    const l = m.layers.find((x) => x.diffId === digest);
    if (!l) return undefined;
    return gunzipSync(await readFile(layoutBlob(img.layoutDir, l.digest)));
  };
  const defaultInfos = async (): Promise<BlobInfo[]> =>
    Promise.all(
      m.layers.map(async (l) => ({
        digest: l.diffId,
        size: (await uncompressed(l.diffId))!.length,
        mediaType: m.mediaType === MediaType.OciManifest ? MediaType.OciLayer : MediaType.DockerLayer,
      })),
    );
  const ref: ImageReference = {
    transport: inner.transport,
    stringWithinTransport: () => inner.stringWithinTransport(),
    toString: () => inner.toString(),
    dockerReference: () => inner.dockerReference(),
    policyIdentity: () => inner.policyIdentity(),
    policyNamespaces: () => inner.policyNamespaces(),
    newImageDestination: (ctx, o) => inner.newImageDestination(ctx, o),
    deleteImage: (ctx, o) => inner.deleteImage(ctx, o),
    async newImageSource(ctx, o) {
      const src = await inner.newImageSource(ctx, o);
      const wrapped: ImageSource = {
        reference: ref,
        getManifest: (d, op) => src.getManifest(d, op),
        getSignatures: async () => served.signatures ?? [],
        close: () => src.close(),
        async layerInfosForCopy() {
          return served.infos ? served.infos(img) : defaultInfos();
        },
        async getBlob(info, op) {
          if (!served.compressedToo && m.layers.some((l) => l.digest === info.digest)) throw notFound(`${info.digest}: only served uncompressed`);
          const data = await uncompressed(info.digest);
          if (data) return { stream: Readable.from([data.subarray(op?.offset ?? 0)]), size: data.length };
          return src.getBlob(info, op);
        },
      };
      return wrapped;
    },
  };
  return ref;
}

interface Written {
  manifest: { mediaType: string; config: BlobInfo; layers: BlobInfo[] };
  bytes: Buffer;
  blob: (digest: string) => Promise<Buffer>;
}

/** Copies to `dir:` and reads the result. */
async function copyToDir(src: ImageReference, dir: string, opts: Partial<CopyOptions> = {}): Promise<Written> {
  await copyImage(src, parseImageName(`dir:${dir}`), { policy: PolicyContext.acceptAnything(), ...opts });
  const bytes = await readFile(join(dir, 'manifest.json'));
  return { manifest: JSON.parse(bytes.toString()) as Written['manifest'], bytes, blob: (d) => readFile(join(dir, d.slice(7))) };
}

describe('copy: sources serving other layers than their manifest lists (layerInfosForCopy)', function () {
  this.timeout(30_000);
  const cleanup = useCleanup();
  let oci: BuiltImage;
  let docker: BuiltImage;

  before(async () => {
    [oci, docker] = await Promise.all([
      buildImage(await cleanup.tempDir('li-oci'), { seed: 71, layers: 2, layerSize: 5000, tag: 'v1' }),
      buildImage(await cleanup.tempDir('li-docker'), { seed: 72, layers: 2, layerSize: 5000, tag: 'v1', format: 'docker' }),
    ]);
  });

  it('copies the served uncompressed layers to a destination keeping them so, with uncompressed media types, config untouched', async () => {
    for (const [img, layerType] of [
      [oci, MediaType.OciLayer],
      [docker, MediaType.DockerLayer],
    ] as const) {
      const m = img.manifests[0]!;
      const w = await copyToDir(unpackedSource(img), await cleanup.tempDir('li-dir'));
      expect(w.manifest.mediaType).to.equal(m.mediaType);
      expect(w.manifest.config.digest, 'config kept').to.equal(m.configDigest);
      expect(w.manifest.layers.map((l) => [l.digest, l.mediaType])).to.deep.equal(m.layers.map((l) => [l.diffId, layerType]));
      for (const l of w.manifest.layers) {
        const b = await w.blob(l.digest);
        expect([digestOf(b), b.length]).to.deep.equal([l.digest, l.size]);
      }
      expect(digestOf(w.bytes)).to.not.equal(m.digest);
    }
  });

  it('compresses them for a destination that wants gzip; the diff IDs stay those of the config', async () => {
    const dest = await cleanup.tempDir('li-oci-dest');
    const r = await copyImage(unpackedSource(docker), parseImageName(`oci:${dest}:x`), { policy: PolicyContext.acceptAnything() });
    const index = await layoutIndex(dest);
    expect(index.manifests[0]!.digest).to.equal(r.manifestDigest);
    const written = JSON.parse((await readFile(layoutBlob(dest, r.manifestDigest))).toString()) as Written['manifest'];
    expect(written.mediaType, 'converted to OCI').to.equal(MediaType.OciManifest);
    expect(written.layers.map((l) => l.mediaType)).to.deep.equal([MediaType.OciLayerGzip, MediaType.OciLayerGzip]);
    const diffIds = await Promise.all(written.layers.map(async (l) => digestOf(gunzipSync(await readFile(layoutBlob(dest, l.digest))))));
    expect(diffIds).to.deep.equal(docker.manifests[0]!.layers.map((l) => l.diffId));
    const config = JSON.parse((await readFile(layoutBlob(dest, written.config.digest))).toString()) as { rootfs: { diff_ids: string[] } };
    expect(config.rootfs.diff_ids).to.deep.equal(diffIds);
  });

  it('maps the served media types to the manifest format written (Docker rootfs.diff.tar → OCI layer.v1.tar)', async () => {
    const w = await copyToDir(unpackedSource(docker), await cleanup.tempDir('li-fmt'), { format: 'oci' });
    expect(w.manifest.mediaType).to.equal(MediaType.OciManifest);
    expect(w.manifest.layers.map((l) => [l.digest, l.mediaType])).to.deep.equal(docker.manifests[0]!.layers.map((l) => [l.diffId, MediaType.OciLayer]));
    expect(layerTypeInFamily(MediaType.DockerLayer, MediaType.OciLayerGzip, 'oci')).to.equal(MediaType.OciLayer);
    expect(layerTypeInFamily(MediaType.OciLayerGzip, MediaType.DockerLayer, 'docker')).to.equal(MediaType.DockerLayerGzip);
    expect(layerTypeInFamily(undefined, MediaType.DockerLayerGzip, 'docker'), 'none served: the manifest type').to.equal(MediaType.DockerLayerGzip);
    expect(layerTypeInFamily('application/x-custom', undefined, 'oci'), 'unknown types unchanged').to.equal('application/x-custom');
  });

  it('keeps the manifest bytes when the source needs no change (undefined, or the same layers)', async () => {
    const same = (img: BuiltImage) => img.manifests[0]!.layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType }));
    for (const infos of [() => undefined, same]) {
      const w = await copyToDir(unpackedSource(oci, { infos, compressedToo: true }), await cleanup.tempDir('li-same'), { preserveDigests: true });
      expect(w.bytes.equals(oci.bytes)).to.equal(true);
    }
  });

  it('refuses with the reason when signatures or --preserve-digests forbid changing the manifest', async () => {
    const signed = unpackedSource(oci, { signatures: [Buffer.from('sig')] });
    const e1 = await rejection(copyToDir(signed, await cleanup.tempDir('li-sig')));
    expect(e1.code).to.equal(ErrorCode.Unsupported);
    expect(e1.message).to.match(/layers .* can serve .*--remove-signatures/);
    const ok = await copyToDir(signed, await cleanup.tempDir('li-sig-removed'), { removeSignatures: true });
    expect(ok.manifest.layers.map((l) => l.digest)).to.deep.equal(oci.manifests[0]!.layers.map((l) => l.diffId));
    const e2 = await rejection(copyToDir(unpackedSource(oci), await cleanup.tempDir('li-pd'), { preserveDigests: true }));
    expect(e2.code).to.equal(ErrorCode.Unsupported);
    expect(e2.message).to.include('--preserve-digests');
  });

  it('refuses a source naming a different number of layers than its manifest', async () => {
    const e = await rejection(copyToDir(unpackedSource(oci, { infos: (img) => [{ digest: img.manifests[0]!.layers[0]!.diffId, size: 1 }] }), await cleanup.tempDir('li-count')));
    expect(e.code).to.equal(ErrorCode.InvalidManifest);
  });
});
