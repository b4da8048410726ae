/**
 * How much of a blob the copy pipeline holds in memory while its destination (or a stage before it) is slower than
 * the source: every blob in flight holds that much, six of them at once by default. A source serving 64 KiB chunks
 * (like network reads) on demand counts what it was made to produce while nobody downstream reads; the pipeline
 * must stop pulling after about one queue of each stage's size, not after several MiB.
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { copyBlob } from '../../src/copy/blob.js';
import { ResumingBlobReader } from '../../src/copy/resume.js';
import type { BlobInfo, ImageDestination, ImageSource } from '../../src/types/image.js';
import { readAll } from '../harness/expect.js';

const CHUNK = 64 * 1024;
const MiB = 1024 * 1024;

/** A blob served from memory in 64 KiB chunks, produced only when read; `produced` counts the bytes handed out. */
function countingSource(blob: Buffer): { source: ImageSource; produced: () => number } {
  let produced = 0;
  const source = {
    async getBlob(_info: BlobInfo, opts: { offset?: number } = {}) {
      let at = opts.offset ?? 0;
      const stream = new Readable({
        highWaterMark: CHUNK,
        read() {
          if (at >= blob.length) {
            this.push(null);
            return;
          }
          const c = blob.subarray(at, Math.min(at + CHUNK, blob.length));
          at += c.length;
          produced += c.length;
          this.push(c);
        },
      });
      return { stream, size: blob.length - (opts.offset ?? 0) };
    },
  } as unknown as ImageSource;
  return { source, produced: () => produced };
}

function blobOf(size: number): { blob: Buffer; info: BlobInfo } {
  const blob = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4) blob.writeUInt32LE((i * 2654435761) >>> 0, i);
  return { blob, info: { digest: `sha256:${createHash('sha256').update(blob).digest('hex')}`, size, mediaType: 'application/vnd.oci.image.layer.v1.tar' } };
}

/** Resolves once `count()` stayed the same over many turns of the event loop (the in-memory pipeline has stalled). */
async function settled(count: () => number): Promise<number> {
  let last = -1;
  for (let still = 0; still < 20; ) {
    await new Promise((r) => setImmediate(r));
    const n = count();
    still = n === last ? still + 1 : 0;
    last = n;
  }
  return last;
}

describe('copy: memory held per blob when the destination is slower than the source', function () {
  this.timeout(20_000);

  it('the resuming reader queues about one network read for a consumer that does not read', async () => {
    const { blob, info } = blobOf(8 * MiB);
    const { source, produced } = countingSource(blob);
    const reader = new ResumingBlobReader({ source, info, size: blob.length, signal: new AbortController().signal });
    await reader.prime();
    reader.read(0); // starts pulling, as a pipe does
    const held = await settled(produced);
    expect(held).to.be.greaterThan(0);
    expect(held).to.be.at.most(256 * 1024);
    expect((await readAll(reader)).equals(blob)).to.equal(true);
  });

  it('copyBlob pulls at most ~2.5 MiB ahead of a destination that does not read (reader, verifier, 1 MiB hand-over)', async () => {
    const { blob, info } = blobOf(16 * MiB);
    const { source, produced } = countingSource(blob);
    let held = -1;
    const dest = {
      reference: { toString: () => 'test:stalled' },
      properties: { supportedManifestMIMETypes: [], supportsSignatures: false, desiredLayerCompression: 'preserve', hasThreadSafePutBlob: true, acceptsForeignLayerURLs: false },
      async tryReusingBlob() {
        return undefined;
      },
      async putBlob(stream: Readable, target: BlobInfo) {
        held = await settled(produced); // nothing read yet: what the pipeline pulled is what it holds
        const got = await readAll(stream);
        expect(got.equals(blob)).to.equal(true);
        return { digest: target.digest, size: got.length };
      },
    } as unknown as ImageDestination;
    const copied = await copyBlob({ source, dest, signal: new AbortController().signal }, info, 'layer', { canModify: false, desired: 'preserve' });
    expect(copied.info.digest).to.equal(info.digest);
    expect(held).to.be.greaterThan(0);
    expect(held).to.be.at.most(2.5 * MiB);
  });
});
