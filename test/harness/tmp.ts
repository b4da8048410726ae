/**
 * Temporary directories and a small cleanup stack for tests.
 * Everything created here lives under the OS temp dir and is removed by the helpers below.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Creates a fresh, empty directory under the OS temp dir whose name starts with `ferry-<prefix>`. */
export async function makeTempDir(prefix: string): Promise<string> {
  const safe = prefix.replace(/[^A-Za-z0-9._-]/g, '-');
  return mkdtemp(join(tmpdir(), `ferry-${safe}-`));
}

/** Removes a directory tree; missing directories are fine. */
export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

/** Anything that can be stopped (registries, token servers, fault proxies). */
export interface Stoppable {
  stop(): Promise<void>;
}

/**
 * A LIFO stack of cleanup actions. `run()` executes them all (last added first),
 * even when some fail, then throws the first failure.
 */
export class Cleanup {
  private readonly actions: (() => Promise<void> | void)[] = [];

  /** Registers an action to run at cleanup time. */
  defer(action: () => Promise<void> | void): void {
    this.actions.push(action);
  }

  /** Registers `x.stop()` and returns `x`, for one-line use: `const reg = cleanup.track(await startRegistry('http'))`. */
  track<T extends Stoppable>(x: T): T {
    this.defer(() => x.stop());
    return x;
  }

  /** Creates a temp dir that is removed at cleanup time. */
  async tempDir(prefix: string): Promise<string> {
    const dir = await makeTempDir(prefix);
    this.defer(() => removeDir(dir));
    return dir;
  }

  /** Runs and forgets every registered action. */
  async run(): Promise<void> {
    let first: unknown;
    while (this.actions.length > 0) {
      const action = this.actions.pop()!;
      try {
        await action();
      } catch (e) {
        first ??= e;
      }
    }
    if (first !== undefined) throw first;
  }
}

/**
 * Mocha helper: returns a {@link Cleanup} that runs in an `after` (default) or `afterEach` hook of the
 * enclosing `describe`. Call it at describe-level, not inside a test.
 *
 * ```ts
 * describe('x', () => {
 *   const cleanup = useCleanup();
 *   it('...', async () => { const dir = await cleanup.tempDir('x'); ... });
 * });
 * ```
 */
export function useCleanup(hook: 'after' | 'afterEach' = 'after'): Cleanup {
  const cleanup = new Cleanup();
  const register = hook === 'after' ? after : afterEach;
  register(async function () {
    this.timeout(30_000);
    await cleanup.run();
  });
  return cleanup;
}
