#!/usr/bin/env node
// Micro-benchmark: gunzip throughput by zlib chunkSize (and sha256 / zstd for scale).
// Usage: node bench/micro/gunzip.mjs [MiB=64 | path/to/file.tar]
// Data: the given file (e.g. a tar of /usr/lib: realistic layer content), or half pseudo-random and
// half text-like bytes; gzipped once at level 6 in memory; each run streams
// the compressed bytes in 1 MiB chunks through a Gunzip into a counting sink. Best of 3 runs.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, gzipSync } from 'node:zlib';

import { readFileSync } from 'node:fs';

const arg = process.argv[2] ?? '64';
const fromFile = !/^\d+$/.test(arg);
const size = fromFile ? 0 : Number(arg) << 20;

function makeData() {
  const buf = Buffer.allocUnsafe(size);
  let x = 12345;
  for (let i = 0; i + 4 <= size / 2; i += 4) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    buf.writeUInt32LE(x, i);
  }
  let off = size / 2, n = 0;
  while (off < size) off += buf.write(`line ${n++} of some layer content /usr/lib/x/file-${n % 97}.so\n`, off);
  return buf;
}

const source = (buf) => Readable.from((function* () { for (let i = 0; i < buf.length; i += 1 << 20) yield buf.subarray(i, i + (1 << 20)); })());
const sink = () => new Writable({ highWaterMark: 1 << 20, write(_c, _e, cb) { cb(); } });

async function best(name, fn) {
  let min = Infinity;
  for (let i = 0; i < 3; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    min = Math.min(min, Number(process.hrtime.bigint() - t0) / 1e6);
  }
  console.log(`${name.padEnd(28)} ${min.toFixed(0).padStart(6)} ms  ${(mib / (min / 1000)).toFixed(0).padStart(5)} MiB/s (uncompressed)`);
}

const data = fromFile ? readFileSync(arg) : makeData();
const mib = data.length / 2 ** 20;
const gz = gzipSync(data, { level: 6 });
console.log(`data: ${fromFile ? arg : 'generated'}, ${mib.toFixed(0)} MiB, gzip -6: ${(gz.length / 2 ** 20).toFixed(1)} MiB`);
for (const chunkSize of [16 << 10, 64 << 10, 256 << 10, 1 << 20]) {
  await best(`gunzip chunkSize ${chunkSize >> 10} KiB`, () => pipeline(source(gz), createGunzip({ chunkSize }), sink()));
}
await best('sha256', async () => { createHash('sha256').update(data).digest(); });
try {
  const zstd = createRequire(import.meta.url)('zstd-napi');
  const zst = zstd.compress(data);
  await best('zstd-napi decompress', () => pipeline(source(zst), new zstd.DecompressStream(), sink()));
} catch (e) {
  console.log(`zstd-napi unavailable: ${e.message}`);
}
