import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import {
  compressionOfMediaType,
  compressStream,
  decompressStream,
  detectCompression,
  layerMediaTypeFor,
  layerMediaTypeWithCompression,
} from '../../src/compression/index.js';
import { zstdAvailable, zstdProvider } from '../../src/compression/zstd.js';
import * as zlib from 'node:zlib';
import { ErrorCode, FerryError } from '../../src/errors.js';
import { MediaType } from '../../src/manifest/media-types.js';
import { runOk } from '../harness/procs.js';
import { useCleanup } from '../harness/tmp.js';
import { chunked, collector, compressible, seededRandom } from '../util/fixtures.js';

const hasZstdCli = spawnSync('zstd', ['--version']).status === 0;

async function roundTrip(alg: 'gzip' | 'zstd', data: Buffer, level?: number): Promise<{ compressed: Buffer; back: Buffer }> {
  const c = collector();
  await pipeline(chunked(data, 1 << 20), compressStream(alg, level), c);
  const compressed = c.result();
  const d = collector();
  await pipeline(chunked(compressed, 100_000), decompressStream(alg), d);
  return { compressed, back: d.result() };
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as FerryError).code;
  }
  return undefined;
}

describe('compression streams', () => {
  const cleanup = useCleanup();
  const data = Buffer.concat([seededRandom(2 * 1024 * 1024, 42), compressible(3 * 1024 * 1024)]);

  for (const alg of ['gzip', 'zstd'] as const) {
    it(`${alg} round-trips random + compressible data and is detected`, async function () {
      if (alg === 'zstd' && !zstdAvailable()) this.skip();
      const { compressed, back } = await roundTrip(alg, data);
      expect(back.equals(data)).to.equal(true);
      expect(detectCompression(compressed)).to.equal(alg);
      expect(compressed.length).to.be.below(data.length * 0.5);
    });
  }

  it('compression is deterministic (same bytes → same digest)', async () => {
    const a = await roundTrip('zstd', data.subarray(0, 3 << 20));
    const b = await roundTrip('zstd', data.subarray(0, 3 << 20));
    expect(a.compressed.equals(b.compressed)).to.equal(true);
    const g1 = await roundTrip('gzip', data.subarray(0, 1 << 20), 1);
    const g2 = await roundTrip('gzip', data.subarray(0, 1 << 20), 1);
    expect(g1.compressed.equals(g2.compressed)).to.equal(true);
  });

  it('none passes through; corrupt input fails', async () => {
    const d = collector();
    await pipeline(chunked(data), decompressStream('none'), d);
    expect(d.result().equals(data)).to.equal(true);
    let err: unknown;
    await pipeline(chunked(Buffer.from([0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7])), decompressStream('gzip'), collector()).catch((e) => (err = e));
    expect(err).to.be.instanceOf(Error);
    err = undefined;
    await pipeline(chunked(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0xff, 0xff, 0xff, 0xff])), decompressStream('zstd'), collector()).catch((e) => (err = e));
    expect(err).to.be.instanceOf(Error);
  });

  it('bzip2 and xz are detected but not decompressed (E_UNSUPPORTED)', () => {
    expect(codeOf(() => decompressStream('bzip2'))).to.equal(ErrorCode.Unsupported);
    expect(codeOf(() => decompressStream('xz'))).to.equal(ErrorCode.Unsupported);
  });

  it("zstd comes from Node's zlib where Node has it (22.15+, 23.8+), else from zstd-napi", () => {
    expect(zstdProvider()).to.equal('createZstdCompress' in zlib ? 'node' : 'zstd-napi');
  });

  it('zstd written here is read by the zstd CLI, and the other way round', async function () {
    if (!hasZstdCli || !zstdAvailable()) this.skip();
    const dir = await cleanup.tempDir('zstd');
    const raw = join(dir, 'raw');
    await writeFile(raw, data);
    await pipeline(createReadStream(raw), compressStream('zstd', 3), createWriteStream(join(dir, 'ours.zst')));
    await runOk('zstd', ['-d', '-q', '-f', join(dir, 'ours.zst'), '-o', join(dir, 'ours.out')]);
    expect((await readFile(join(dir, 'ours.out'))).equals(data)).to.equal(true);
    await runOk('zstd', ['-q', '-9', '-f', raw, '-o', join(dir, 'cli.zst')]);
    const d = collector();
    await pipeline(createReadStream(join(dir, 'cli.zst')), decompressStream('zstd'), d);
    expect(d.result().equals(data)).to.equal(true);
  });

  it('maps media types to and from compression', () => {
    expect(layerMediaTypeFor('oci', 'gzip')).to.equal(MediaType.OciLayerGzip);
    expect(layerMediaTypeFor('oci', 'zstd')).to.equal(MediaType.OciLayerZstd);
    expect(layerMediaTypeFor('oci', 'none')).to.equal(MediaType.OciLayer);
    expect(layerMediaTypeFor('docker', 'gzip')).to.equal(MediaType.DockerLayerGzip);
    expect(layerMediaTypeFor('docker', 'none')).to.equal(MediaType.DockerLayer);
    expect(codeOf(() => layerMediaTypeFor('docker', 'zstd'))).to.equal(ErrorCode.Unsupported);
    expect(codeOf(() => layerMediaTypeFor('oci', 'xz'))).to.equal(ErrorCode.Unsupported);
    expect(compressionOfMediaType(MediaType.OciLayerZstd)).to.equal('zstd');
    expect(compressionOfMediaType(MediaType.DockerLayer)).to.equal('none');
    expect(compressionOfMediaType(MediaType.DockerForeignLayerGzip)).to.equal('gzip');
    expect(compressionOfMediaType(MediaType.OciConfig)).to.equal(undefined);
    expect(layerMediaTypeWithCompression(MediaType.DockerLayerGzip, 'none')).to.equal(MediaType.DockerLayer);
    expect(layerMediaTypeWithCompression(MediaType.OciLayerNondistributableGzip, 'none')).to.equal(MediaType.OciLayerNondistributable);
    expect(layerMediaTypeWithCompression(MediaType.OciLayer, 'zstd')).to.equal(MediaType.OciLayerZstd);
    expect(codeOf(() => layerMediaTypeWithCompression(MediaType.DockerLayerGzip, 'zstd'))).to.equal(ErrorCode.Unsupported);
    expect(codeOf(() => layerMediaTypeWithCompression(MediaType.OciConfig, 'gzip'))).to.equal(ErrorCode.Unsupported);
  });
});
