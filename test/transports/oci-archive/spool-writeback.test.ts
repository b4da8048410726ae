/**
 * The spool of `sync --dest oci-archive` (one tar the blobs are written into as they arrive, fsynced once at the end)
 * has its pages written back while blobs still arrive, so that the final fsync is left only the last few: an early
 * sync is started as each interval's worth of bytes is written, and closing waits for one still running.
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { fdatasync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { ArchiveSpool } from '../../../src/transports/oci-archive/spool.js';
import { useCleanup } from '../../harness/tmp.js';

function blob(size: number, seed: number): { bytes: Buffer; digest: string } {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4) bytes.writeUInt32LE((i * 2654435761 + seed) >>> 0, i);
  return { bytes, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}` };
}

/** The bytes in 64 KiB chunks, as a network source gives them. */
const chunks = (b: Buffer) => Readable.from(Array.from({ length: Math.ceil(b.length / 65536) }, (_, i) => b.subarray(i * 65536, (i + 1) * 65536)));

describe('transports/oci-archive: the spool writes its pages back early', () => {
  const cleanup = useCleanup();

  it('an early sync per interval of bytes written, none before; finish and close wait for the one running', async () => {
    const dir = await cleanup.tempDir('spool-writeback');
    const synced: number[] = [];
    let running = 0;
    const spool = await ArchiveSpool.create(dir, {
      every: 256 << 10,
      sync: (fd, cb) => {
        running++;
        fdatasync(fd, (e) => {
          synced.push(fd);
          running--;
          cb(e);
        });
      },
    });
    const small = blob(100 << 10, 1);
    await spool.put(chunks(small.bytes), { digest: small.digest, size: small.bytes.length, mediaType: 'application/octet-stream' });
    expect(synced.length + running, 'less than an interval written').to.equal(0);
    const big = blob(2 << 20, 2);
    await spool.put(chunks(big.bytes), { digest: big.digest, size: big.bytes.length, mediaType: 'application/octet-stream' });
    expect(synced.length + running, 'syncs started while the blobs were written').to.be.greaterThan(0);
    await spool.finish(async () => {});
    expect(running, 'finish waits for the early sync').to.equal(0);
    await spool.close();
    const file = await readFile(spool.path);
    const at = file.indexOf(big.bytes.subarray(0, 64));
    expect(file.subarray(at, at + big.bytes.length).equals(big.bytes)).to.equal(true);
  });
});
