import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, FerryError } from '../../src/errors.js';
import { createLimit } from '../../src/util/limit.js';

describe('util/limit', () => {
  it('never runs more than n tasks at once and runs them all, in order of submission', async () => {
    const limit = createLimit(3);
    let running = 0;
    let peak = 0;
    const started: number[] = [];
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        limit(async () => {
          started.push(i);
          running++;
          peak = Math.max(peak, running);
          await sleep(2 + (i % 3));
          running--;
          return i * 2;
        }),
      ),
    );
    expect(results).to.deep.equal(Array.from({ length: 20 }, (_, i) => i * 2));
    expect(peak).to.equal(3);
    expect(started).to.deep.equal([...started].sort((a, b) => a - b));
    expect(limit.active).to.equal(0);
    expect(limit.pending).to.equal(0);
  });

  it('a failing task (sync or async) rejects alone and frees its slot', async () => {
    const limit = createLimit(1);
    const a = limit(async () => {
      throw new Error('a');
    });
    const b = limit(() => {
      throw new Error('b');
    });
    const c = limit(async () => 'c');
    expect(await a.catch((e: Error) => e.message)).to.equal('a');
    expect(await b.catch((e: Error) => e.message)).to.equal('b');
    expect(await c).to.equal('c');
  });

  it('a waiting task whose signal aborts is dropped with E_ABORTED; the others go on', async () => {
    const limit = createLimit(1);
    let release!: () => void;
    const first = limit(() => new Promise<string>((r) => (release = () => r('first'))));
    const ac = new AbortController();
    let ran = false;
    const second = limit(
      async () => {
        ran = true;
      },
      { signal: ac.signal },
    );
    const third = limit(async () => 'third');
    expect(limit.pending).to.equal(2);
    ac.abort();
    const e = (await second.catch((x) => x)) as FerryError;
    expect(e.code).to.equal(ErrorCode.Aborted);
    expect(limit.pending).to.equal(1);
    release();
    expect(await first).to.equal('first');
    expect(await third).to.equal('third');
    expect(ran).to.equal(false);
    const late = (await limit(async () => 1, { signal: ac.signal }).catch((x) => x)) as FerryError;
    expect(late.code).to.equal(ErrorCode.Aborted);
  });

  it("the limit's own signal rejects every waiting and later task", async () => {
    const ac = new AbortController();
    const limit = createLimit(2, { signal: ac.signal });
    const running = [limit(() => sleep(20).then(() => 'r1')), limit(() => sleep(20).then(() => 'r2'))];
    const waiting = [limit(async () => 'w1'), limit(async () => 'w2')];
    ac.abort();
    for (const w of waiting) expect(((await w.catch((x) => x)) as FerryError).code).to.equal(ErrorCode.Aborted);
    expect(await Promise.all(running)).to.deep.equal(['r1', 'r2']);
    expect(((await limit(async () => 1).catch((x) => x)) as FerryError).code).to.equal(ErrorCode.Aborted);
  });

  it('clearQueue rejects waiting tasks; invalid concurrency is refused', async () => {
    const limit = createLimit(1);
    const running = limit(() => sleep(5).then(() => 1));
    const waiting = limit(async () => 2);
    limit.clearQueue();
    expect(((await waiting.catch((x) => x)) as FerryError).code).to.equal(ErrorCode.Aborted);
    expect(await running).to.equal(1);
    expect(() => createLimit(0)).to.throw(FerryError);
    expect(() => createLimit(1.5)).to.throw(FerryError);
  });
});
