/**
 * A concurrency limit (like p-limit) for parallel blob copies, with abort support: queued tasks whose
 * signal aborts never start and reject with E_ABORTED.
 */
import { FerryError, ErrorCode } from '../errors.js';

/** Runs tasks with at most `concurrency` of them in flight. */
export interface Limit {
  /**
   * Runs `fn` once fewer than `concurrency` tasks are running. If `signal` (or the limit's own signal)
   * aborts while the task waits, it is dropped and the promise rejects with FerryError(E_ABORTED);
   * a task already running is expected to watch the signal itself.
   */
  <T>(fn: () => Promise<T>, opts?: { signal?: AbortSignal }): Promise<T>;
  /** Tasks running now. */
  readonly active: number;
  /** Tasks waiting for a slot. */
  readonly pending: number;
  /** Rejects every waiting task with E_ABORTED (running ones continue). */
  clearQueue(): void;
}

interface Waiter {
  start: () => void;
  reject: (e: unknown) => void;
  dispose: () => void;
}

function aborted(signal: AbortSignal | undefined): FerryError {
  return new FerryError(ErrorCode.Aborted, 'operation aborted', { cause: signal?.reason });
}

/**
 * Creates a {@link Limit} allowing `concurrency` (≥ 1) tasks at once. With `opts.signal`, aborting it
 * rejects all waiting tasks and any task submitted afterwards.
 */
export function createLimit(concurrency: number, opts: { signal?: AbortSignal } = {}): Limit {
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new FerryError(ErrorCode.Usage, `concurrency must be a positive integer, got ${concurrency}`);
  }
  const queue: Waiter[] = [];
  let active = 0;

  const next = () => {
    if (active >= concurrency) return;
    const w = queue.shift();
    if (w) w.start();
  };

  const clearQueue = (reason?: AbortSignal) => {
    for (const w of queue.splice(0)) {
      w.dispose();
      w.reject(aborted(reason));
    }
  };
  opts.signal?.addEventListener('abort', () => clearQueue(opts.signal), { once: true });

  const limit = (<T>(fn: () => Promise<T>, taskOpts: { signal?: AbortSignal } = {}): Promise<T> => {
    const signals = [opts.signal, taskOpts.signal];
    const abortedBy = signals.find((s) => s?.aborted);
    if (abortedBy) return Promise.reject(aborted(abortedBy));
    return new Promise<T>((resolve, reject) => {
      const run = () => {
        active++;
        let p: Promise<T>;
        try {
          p = fn();
        } catch (e) {
          p = Promise.reject(e);
        }
        p.then(resolve, reject).finally(() => {
          active--;
          next();
        });
      };
      if (active < concurrency && queue.length === 0) {
        run();
        return;
      }
      const onAbort = () => {
        const i = queue.indexOf(waiter);
        if (i >= 0) queue.splice(i, 1);
        reject(aborted(taskOpts.signal));
      };
      const waiter: Waiter = {
        start: () => {
          waiter.dispose();
          run();
        },
        reject,
        dispose: () => taskOpts.signal?.removeEventListener('abort', onAbort),
      };
      taskOpts.signal?.addEventListener('abort', onAbort, { once: true });
      queue.push(waiter);
    });
  }) as Limit;

  Object.defineProperties(limit, {
    active: { get: () => active },
    pending: { get: () => queue.length },
    clearQueue: { value: () => clearQueue(undefined) },
  });
  return limit;
}
