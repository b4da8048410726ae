import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { LayerSpool } from '../../../src/transports/docker-archive/layer-spool.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const write = (w: Writable, b: Buffer) => new Promise<void>((res, rej) => w.end(b, () => (w.errored ? rej(w.errored) : res())));

describe('transports/docker-archive/layer-spool', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry-spool-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('places layers in announced order even when they arrive out of order; a failed layer leaves nothing', async () => {
    const spool = new LayerSpool(join(dir, 'a.tar'));
    spool.announce('sha256:c1');
    spool.announce('sha256:c2');
    const d1 = Buffer.alloc(1000, 1);
    const d2 = Buffer.alloc(700, 2);
    // c2 arrives first (staged), then a failing c1 attempt, then c1 for real (streams in, then c2 is copied).
    const b2 = await spool.begin(join(dir, 's2'), 'sha256:c2');
    await write(b2.sink, d2);
    b2.done({ digest: sha(d2), size: d2.length });
    const bad = await spool.begin(join(dir, 'sbad'), 'sha256:c1');
    bad.sink.write(Buffer.alloc(300, 9));
    await bad.fail();
    const b1 = await spool.begin(join(dir, 's1'), 'sha256:c1');
    await write(b1.sink, d1);
    b1.done({ digest: sha(d1), size: d1.length });
    await spool.end();
    expect(spool.placed.map((p) => p.digest)).to.deep.equal([sha(d1), sha(d2)]);
    expect(spool.pos).to.equal(512 + 1024 + 512 + 1024);
    const f = await readFile(spool.sink!.tempPath);
    expect(f.subarray(0, 100).toString('latin1').replace(/\0+$/, '')).to.equal(`${sha(d1).slice(7)}.tar`);
    expect(f.subarray(124, 135).toString()).to.equal((1000).toString(8).padStart(11, '0'));
    expect(f.subarray(512, 1512).equals(d1)).to.equal(true);
    expect(f.subarray(1536, 1636).toString('latin1').replace(/\0+$/, '')).to.equal(`${sha(d2).slice(7)}.tar`);
    expect(f.subarray(2048, 2748).equals(d2)).to.equal(true);
    // staging files are gone
    expect((await readdir(dir)).filter((n) => n.startsWith('s'))).to.deep.equal([]);
    await spool.stop();
    await spool.sink!.abort();
  });
});
