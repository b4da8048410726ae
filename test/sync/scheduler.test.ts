/** The sync work queue: streaming from the listing into the workers, the concurrency bound, stopping on a failure. */
import { expect } from 'chai';
import { runPipeline } from '../../src/sync/scheduler.js';

/** A promise and its resolver. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

describe('sync/scheduler: runPipeline', () => {
  it('starts work on the first item before the producer ends (the producer waits on that work here)', async () => {
    const firstStarted = gate();
    const done: number[] = [];
    await runPipeline<number>(
      async (push) => {
        push(1);
        await firstStarted.promise; // would never resolve if items were only handed out once listing ended
        push(2);
      },
      async (n) => {
        if (n === 1) firstStarted.open();
        done.push(n);
      },
      { concurrency: 2, signal: new AbortController().signal },
    );
    expect(done.sort()).to.deep.equal([1, 2]);
  });

  it('runs at most `concurrency` items at once, each once, taken in order', async () => {
    let active = 0;
    let peak = 0;
    const started: number[] = [];
    const gates = Array.from({ length: 7 }, gate);
    const p = runPipeline<number>(
      async (push) => {
        for (let i = 0; i < 7; i++) push(i);
      },
      async (n) => {
        started.push(n);
        peak = Math.max(peak, ++active);
        await gates[n]!.promise;
        active--;
      },
      { concurrency: 3, signal: new AbortController().signal },
    );
    // release each one once it has started
    for (let i = 0; i < 7; i++) {
      while (started.length <= i) await new Promise((r) => setImmediate(r));
      gates[i]!.open();
    }
    await p;
    expect(peak).to.equal(3);
    expect(started).to.deep.equal([0, 1, 2, 3, 4, 5, 6]);
  });

  it('a failing item stops the pipeline: running work sees the abort, nothing new starts, the error is thrown', async () => {
    const started: number[] = [];
    let sawAbort = false;
    const err = new Error('boom');
    const p = runPipeline<number>(
      async (push) => {
        for (let i = 0; i < 10; i++) push(i);
      },
      async (n, signal) => {
        started.push(n);
        if (n === 1) throw err;
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
        sawAbort = signal.aborted;
      },
      { concurrency: 2, signal: new AbortController().signal },
    );
    let got: unknown;
    await p.catch((e: unknown) => (got = e));
    expect(got).to.equal(err);
    expect(started).to.deep.equal([0, 1]);
    expect(sawAbort).to.equal(true);
  });

  it('a producer failure is thrown after the running work settles', async () => {
    const err = new Error('listing failed');
    const done: number[] = [];
    let got: unknown;
    await runPipeline<number>(
      async (push) => {
        push(1);
        throw err;
      },
      async (n) => {
        done.push(n);
      },
      { concurrency: 1, signal: new AbortController().signal },
    ).catch((e: unknown) => (got = e));
    expect(got).to.equal(err);
  });
});
