import { expect } from 'chai';
import { Readable } from 'node:stream';
import { isCode } from '../../src/errors.js';
import { readConfigBlob } from '../../src/image/config.js';
import { UnparsedImage } from '../../src/image/unparsed.js';
import { buildInspectInfo, repositoryName } from '../../src/image/inspect-info.js';
import { MediaType } from '../../src/manifest/media-types.js';
import { parseManifest } from '../../src/manifest/parse.js';
import type { ImageSource } from '../../src/types/image.js';
import type { ImageReference } from '../../src/types/reference.js';
import { blob, ociConfig, ociManifest, gzipLayer } from './fixtures.js';

function fakeSource(blobs: Map<string, Buffer>, top: Buffer, refDigest?: string): ImageSource & { manifestCalls: number } {
  const reference = { pinnedDigest: () => refDigest, toString: () => 'docker://x/y', transport: { name: 'docker' } } as unknown as ImageReference;
  return {
    reference,
    manifestCalls: 0,
    async getManifest(instanceDigest?: string) {
      this.manifestCalls++;
      return { bytes: instanceDigest ? blobs.get(instanceDigest)! : top, mediaType: '' };
    },
    async getBlob(info) {
      const b = blobs.get(info.digest)!;
      return { stream: Readable.from([b.subarray(0, 3), b.subarray(3)]), size: b.length };
    },
    async getSignatures() {
      return [];
    },
    async close() {},
  };
}

async function rejectsWith(p: Promise<unknown>, code: string, re: RegExp): Promise<void> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(isCode(e, code as never), String(e)).to.equal(true);
  expect((e as Error).message).to.match(re);
}

describe('image/unparsed, config, inspect-info', () => {
  const cfg = ociConfig();
  const layer = gzipLayer('x');
  const man = ociManifest(cfg, [layer]);
  const blobs = new Map([
    [man.digest, man.bytes],
    [cfg.digest, cfg.bytes],
  ]);

  it('fetches once, guesses the type, and verifies instance and reference digests', async () => {
    const src = fakeSource(blobs, man.bytes, man.digest);
    const u = new UnparsedImage(src);
    const [a, b] = await Promise.all([u.manifest(), u.manifest()]);
    expect(a).to.equal(b);
    expect(src.manifestCalls).to.equal(1);
    expect(a.mediaType).to.equal(MediaType.OciManifest);
    expect(a.digest).to.equal(man.digest);
    await rejectsWith(new UnparsedImage(fakeSource(blobs, man.bytes, cfg.digest)).manifest(), 'E_DIGEST_MISMATCH', /expected sha256:/);
    const tampered = new Map(blobs).set(man.digest, Buffer.concat([man.bytes, Buffer.from(' ')]));
    await rejectsWith(new UnparsedImage(fakeSource(tampered, man.bytes), man.digest).manifest(), 'E_DIGEST_MISMATCH', /digest mismatch/);
  });

  it('reads config blobs verified and capped', async () => {
    const src = fakeSource(blobs, man.bytes);
    expect((await readConfigBlob(src, { digest: cfg.digest, size: cfg.size })).equals(cfg.bytes)).to.equal(true);
    await rejectsWith(readConfigBlob(src, { digest: cfg.digest, size: cfg.size }, { maxSize: 10 }), 'E_INVALID_MANIFEST', /larger than 10 bytes/);
    await rejectsWith(readConfigBlob(src, { digest: cfg.digest, size: -1 }, { maxSize: 10 }), 'E_INVALID_MANIFEST', /larger than 10/);
    await rejectsWith(readConfigBlob(src, { digest: cfg.digest, size: cfg.size + 1 }), 'E_SIZE_MISMATCH', /size mismatch/);
    const other = blob('other');
    await rejectsWith(readConfigBlob(fakeSource(new Map([[other.digest, cfg.bytes]]), man.bytes), { digest: other.digest, size: cfg.size }), 'E_DIGEST_MISMATCH', /config blob/);
  });

  it('builds inspect data for schema1 from v1Compatibility and names docker repositories', () => {
    expect(repositoryName('127.0.0.1:5000/foo/bar:tag@sha256:abc')).to.equal('127.0.0.1:5000/foo/bar');
    expect(repositoryName('localhost:5000/foo')).to.equal('localhost:5000/foo');
    const s1 = Buffer.from(
      JSON.stringify({
        schemaVersion: 1,
        name: 'foo',
        tag: 'v1',
        architecture: 'amd64',
        fsLayers: [{ blobSum: layer.digest }],
        history: [{ v1Compatibility: '{"created":"2020-02-03T04:05:06Z","docker_version":"1.13","os":"linux","architecture":"amd64","config":{"Env":["A=1"]}}' }],
      }),
    );
    const m = parseManifest(s1, MediaType.DockerSchema1);
    if (m.kind !== 'image') return expect.fail('not an image');
    const info = buildInspectInfo({ dockerReference: 'docker.io/library/foo:v1', digest: 'sha256:top', manifest: m });
    expect(info.Name).to.equal('docker.io/library/foo');
    expect(info.Tag).to.equal('v1');
    expect(info.Created?.toJSON()).to.equal('2020-02-03T04:05:06Z');
    expect(info.DockerVersion).to.equal('1.13');
    expect(info.Env).to.deep.equal(['A=1']);
    expect(info.Labels).to.equal(null);
    expect(info.LayersData).to.deep.equal([{ MIMEType: '', Digest: layer.digest, Size: -1, Annotations: null }]);
  });
});
