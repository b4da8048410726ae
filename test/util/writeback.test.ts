import { expect } from 'chai';
import { WritebackPacer } from '../../src/util/writeback.js';

describe('util/writeback: early fdatasync while a big file is written', () => {
  it('starts a sync every N bytes, one at a time, and drain waits for the running one', async () => {
    const calls: number[] = [];
    let finish: (() => void) | undefined;
    const pacer = new WritebackPacer(42, 100, (fd, cb) => {
      calls.push(fd);
      finish = () => cb(null);
    });
    pacer.wrote(60);
    expect(calls).to.deep.equal([]);
    pacer.wrote(60); // 120 ≥ 100: a sync starts
    expect(calls).to.deep.equal([42]);
    pacer.wrote(500); // one is running: no second one
    expect(calls).to.have.length(1);
    let drained = false;
    const d = pacer.drain().then(() => (drained = true));
    await new Promise((r) => setImmediate(r));
    expect(drained).to.equal(false);
    finish!();
    await d;
    expect(drained).to.equal(true);
    pacer.wrote(100);
    expect(calls).to.have.length(2);
    finish!();
    await pacer.drain();
  });
});
