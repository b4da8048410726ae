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

  describe('planned sizes (reserved places)', () => {
    const d1 = Buffer.alloc(1000, 1);
    const d2 = Buffer.alloc(700, 2);
    const plan = (s1: number, s2: number) => [
      { digest: 'sha256:c1', writtenSize: s1 },
      { digest: 'sha256:c2', writtenSize: s2 },
    ];
    async function put(spool: LayerSpool, origin: string, data: Buffer): Promise<void> {
      const b = await spool.begin(join(dir, `s-${origin.slice(7)}`), origin);
      await write(b.sink, data);
      b.done({ digest: sha(data), size: data.length });
    }
    const name = (f: Buffer, at: number) => f.subarray(at, at + 100).toString('latin1').replace(/\0+$/, '');

    it('exact sizes: layers arriving in any order stream straight to their places; nothing is staged', async () => {
      const spool = new LayerSpool(join(dir, 'a.tar'));
      spool.plan(plan(1000, 700));
      expect(spool.pos).to.equal(512 + 1024 + 512 + 1024);
      await put(spool, 'sha256:c2', d2);
      expect((await readdir(dir)).filter((n) => n.startsWith('s-'))).to.deep.equal([]);
      await put(spool, 'sha256:c1', d1);
      await spool.end();
      expect(spool.contiguous).to.equal(true);
      expect(spool.placed).to.deep.equal([
        { digest: sha(d1), offset: 512, size: 1000 },
        { digest: sha(d2), offset: 2048, size: 700 },
      ]);
      const f = await readFile(spool.sink!.tempPath);
      expect(name(f, 0)).to.equal(`${sha(d1).slice(7)}.tar`);
      expect(f.subarray(512, 1512).equals(d1)).to.equal(true);
      expect(f.subarray(1512, 1536).equals(Buffer.alloc(24))).to.equal(true);
      expect(name(f, 1536)).to.equal(`${sha(d2).slice(7)}.tar`);
      expect(f.subarray(2048, 2748).equals(d2)).to.equal(true);
      await spool.stop();
      await spool.sink!.abort();
    });

    it('a layer bigger than planned leaves its place for the end of the file; the layers are no longer contiguous', async () => {
      const spool = new LayerSpool(join(dir, 'a.tar'));
      spool.plan(plan(600, 700)); // c1 is really 1000 bytes: its first 500 go to its place, then it moves
      const b1 = await spool.begin(join(dir, 's-c1'), 'sha256:c1');
      await new Promise<void>((res, rej) => b1.sink.write(d1.subarray(0, 500), (e) => (e ? rej(e) : res())));
      await write(b1.sink, d1.subarray(500));
      b1.done({ digest: sha(d1), size: d1.length });
      await put(spool, 'sha256:c2', d2);
      await spool.end();
      expect(spool.contiguous).to.equal(false);
      const f = await readFile(spool.sink!.tempPath);
      const at = (d: Buffer) => spool.placed.find((p) => p.digest === sha(d))!;
      // c2 in its reserved place (after c1's 512 + 1024), c1 after both places, whole
      expect(at(d2).offset).to.equal(512 + 1024 + 512);
      expect(at(d1).offset).to.equal(512 + 1024 + 512 + 1024 + 512);
      expect(f.subarray(at(d1).offset, at(d1).offset + 1000).equals(d1)).to.equal(true);
      expect(f.subarray(at(d2).offset, at(d2).offset + 700).equals(d2)).to.equal(true);
      expect(spool.placed.map((p) => p.offset)).to.deep.equal([...spool.placed.map((p) => p.offset)].sort((a, b) => a - b));
      expect((await readdir(dir)).filter((n) => n.startsWith('s-'))).to.deep.equal([]);
      await spool.stop();
      await spool.sink!.abort();
    });

    it('a layer smaller than planned, or one that never comes, leaves a gap: not contiguous', async () => {
      const smaller = new LayerSpool(join(dir, 'a.tar'));
      smaller.plan(plan(1200, 700));
      await put(smaller, 'sha256:c1', d1);
      await put(smaller, 'sha256:c2', d2);
      await smaller.end();
      expect(smaller.contiguous).to.equal(false);
      expect(smaller.placed[0]).to.deep.equal({ digest: sha(d1), offset: 512, size: 1000 });
      const f = await readFile(smaller.sink!.tempPath);
      expect(f.subarray(124, 135).toString()).to.equal((1000).toString(8).padStart(11, '0'));
      await smaller.stop();
      await smaller.sink!.abort();

      const missing = new LayerSpool(join(dir, 'b.tar'));
      missing.plan(plan(1000, 700));
      await put(missing, 'sha256:c1', d1);
      await missing.end();
      expect(missing.contiguous).to.equal(false);
      await missing.stop();
      await missing.sink!.abort();
    });

    it('a planned layer that fails leaves its place empty; the others are kept', async () => {
      const spool = new LayerSpool(join(dir, 'a.tar'));
      spool.plan(plan(1000, 700));
      const bad = await spool.begin(join(dir, 's-bad'), 'sha256:c1');
      bad.sink.write(Buffer.alloc(300, 9));
      await bad.fail();
      await put(spool, 'sha256:c2', d2);
      await spool.end();
      expect(spool.contiguous).to.equal(false);
      expect(spool.placed).to.deep.equal([{ digest: sha(d2), offset: 2048, size: 700 }]);
      await spool.stop();
      await spool.sink!.abort();
    });
  });
});
