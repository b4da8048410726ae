import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { compressStream, decompressStream, detectCompression } from '../../src/compression/index.js';
import { zstdAvailable, zstdProvider } from '../../src/compression/zstd.js';
import * as zlib from 'node:zlib';
import { ErrorCode, FerryError } from '../../src/errors.js';
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

  describe('xz and bzip2, as the xz and bzip2 CLIs write them', () => {
    const cases = [
      { alg: 'xz', cli: 'xz', args: [['-6'], ['-1', '--check=crc32'], ['-T2', '--block-size=1MiB']] },
      { alg: 'bzip2', cli: 'bzip2', args: [['-9'], ['-1']] },
    ] as const;
    async function cliCompress(cli: string, args: readonly string[], input: Buffer): Promise<Buffer> {
      const r = await runOk(cli, ['-c', ...args], { input });
      return r.stdoutBytes;
    }
    async function decompressAll(alg: 'xz' | 'bzip2', compressed: Buffer, chunk = 100_000): Promise<Buffer> {
      const d = collector();
      await pipeline(chunked(compressed, chunk), decompressStream(alg), d);
      return d.result();
    }
    async function failure(alg: 'xz' | 'bzip2', compressed: Buffer): Promise<FerryError> {
      let err: unknown;
      await pipeline(chunked(compressed, 4096), decompressStream(alg), collector()).catch((e) => (err = e));
      expect(err).to.be.instanceOf(FerryError);
      return err as FerryError;
    }
    for (const { alg, cli, args } of cases) {
      for (const a of args) {
        it(`${alg} ${a.join(' ')}: decompressed, detected, in small and large chunks`, async () => {
          const sample = Buffer.concat([data.subarray(0, 1 << 20), data.subarray(3 << 20)]);
          const compressed = await cliCompress(cli, a, sample);
          expect(detectCompression(compressed)).to.equal(alg);
          expect((await decompressAll(alg, compressed, 1000)).equals(sample)).to.equal(true);
          expect((await decompressAll(alg, compressed, 4 << 20)).equals(sample)).to.equal(true);
        });
      }
      it(`${alg}: truncated and corrupted data fail with E_INVALID_MANIFEST`, async () => {
        const compressed = await cliCompress(cli, [], data.subarray(0, 1 << 20));
        const truncated = await failure(alg, compressed.subarray(0, compressed.length - 100));
        expect(truncated.code).to.equal(ErrorCode.InvalidManifest);
        expect(truncated.message).to.include(alg);
        const bad = Buffer.from(compressed);
        for (let i = 200; i < bad.length - 200; i += 997) bad[i] = bad[i]! ^ 0x5a;
        expect((await failure(alg, bad)).code).to.equal(ErrorCode.InvalidManifest);
      });
      it(`${alg}: an empty input compresses to something that decompresses to nothing`, async () => {
        const compressed = await cliCompress(cli, [], Buffer.alloc(0));
        expect((await decompressAll(alg, compressed)).length).to.equal(0);
      });
    }
    it('xz: concatenated streams are read one after the other, as xz -d and Go\'s xz reader read them', async () => {
      const a = await cliCompress('xz', ['-1'], data.subarray(0, 300_000));
      const b = await cliCompress('xz', ['-1'], data.subarray(300_000, 700_000));
      expect((await decompressAll('xz', Buffer.concat([a, b]))).equals(data.subarray(0, 700_000))).to.equal(true);
    });
    it('bzip2: concatenated streams are read one after the other', async () => {
      const a = await cliCompress('bzip2', [], data.subarray(0, 300_000));
      const b = await cliCompress('bzip2', [], data.subarray(300_000, 700_000));
      expect((await decompressAll('bzip2', Buffer.concat([a, b]))).equals(data.subarray(0, 700_000))).to.equal(true);
    });
    it('xz: several decoders at once all finish, and one abandoned before reading holds none back', async () => {
      const compressed = await cliCompress('xz', ['-1'], data.subarray(0, 1 << 20));
      const abandoned = decompressStream('xz');
      abandoned.write(compressed.subarray(0, 1000));
      abandoned.destroy();
      const started = decompressStream('xz');
      started.write(compressed.subarray(0, 1000));
      started.once('data', () => started.destroy());
      const outs = await Promise.all([1, 2, 3].map(() => decompressAll('xz', compressed, 65536)));
      for (const o of outs) expect(o.equals(data.subarray(0, 1 << 20))).to.equal(true);
    });
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
});
