/**
 * The work queue of a sync: a producer (the listing of the sources) feeds items into a queue while up to
 * `concurrency` workers take them in order, so the first image is copied while later repositories are still being
 * listed. Items keep the position the producer gave them; results are put back in that order by whoever needs it
 * (the report, the digest file), not by the queue.
 */
import { setMaxListeners } from 'node:events';
import { FerryError, ErrorCode } from '../errors.js';

/** An unbounded FIFO that workers wait on until the producer ends it. */
class WorkQueue<T> {
  private readonly items: T[] = [];
  private readonly waiters: Array<(v: IteratorResult<T>) => void> = [];
  private ended = false;

  push(item: T): void {
    const w = this.waiters.shift();
    if (w) w({ value: item, done: false });
    else this.items.push(item);
  }

  /** No more items: waiting workers (and later takers, once the queue is empty) get `done`. */
  end(): void {
    this.ended = true;
    for (const w of this.waiters.splice(0)) w({ value: undefined, done: true });
  }

  /** Drops what is still queued and ends the queue (a stopped job starts nothing more). */
  drain(): void {
    this.items.length = 0;
    this.end();
  }

  take(): Promise<IteratorResult<T>> {
    if (this.items.length > 0) return Promise.resolve({ value: this.items.shift()!, done: false });
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

/** Options of {@link runPipeline}. */
export interface PipelineOptions {
  /** Workers running at once (≥ 1). */
  concurrency: number;
  /** Stops the pipeline: nothing new is produced or started; running work is expected to watch it too. */
  signal: AbortSignal;
}

/**
 * Runs `produce` (which calls `push` for each item, in order) and, at the same time, `work` on the items with at most
 * `opts.concurrency` running at once, each in the order pushed. Resolves when the producer has ended and every item
 * taken has been worked on. A producer or worker that throws stops the pipeline (queued items are dropped, nothing new
 * starts) and its error is thrown once everything running has settled; `work` should catch what must not stop it.
 */
export async function runPipeline<T>(
  produce: (push: (item: T) => void, signal: AbortSignal) => Promise<void>,
  work: (item: T, signal: AbortSignal) => Promise<void>,
  opts: PipelineOptions,
): Promise<void> {
  if (!Number.isInteger(opts.concurrency) || opts.concurrency < 1) {
    throw new FerryError(ErrorCode.Usage, `parallel images must be a positive integer, got ${opts.concurrency}`);
  }
  const queue = new WorkQueue<T>();
  const stop = new AbortController();
  const signal = AbortSignal.any([opts.signal, stop.signal]);
  // every image in flight, and every blob of each, listens on it
  setMaxListeners(0, signal);
  let first: { e: unknown } | undefined;
  const fail = (e: unknown) => {
    if (!first) first = { e };
    stop.abort(e);
    queue.drain();
  };
  const onAbort = () => queue.drain();
  signal.addEventListener('abort', onAbort, { once: true });

  const producer = (async () => {
    try {
      await produce((item) => {
        if (!signal.aborted) queue.push(item);
      }, signal);
      queue.end();
    } catch (e) {
      fail(e);
    }
  })();
  const worker = async () => {
    for (;;) {
      const next = await queue.take();
      if (next.done || signal.aborted) return;
      try {
        await work(next.value, signal);
      } catch (e) {
        fail(e);
        return;
      }
    }
  };
  try {
    await Promise.all([producer, ...Array.from({ length: opts.concurrency }, worker)]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  if (first) throw first.e;
  if (opts.signal.aborted) throw new FerryError(ErrorCode.Aborted, 'sync aborted', { cause: opts.signal.reason });
}
