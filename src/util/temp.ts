/**
 * Temporary directories and synchronous exit-time cleanup.
 *
 * Anything registered with {@link registerExitCleanup} runs once when the process exits (normally or
 * through `process.exit`), and on SIGINT/SIGTERM/SIGHUP when nobody else handles the signal (then the
 * signal is re-raised so the process still dies of it). When the CLI installs its own signal handler
 * (abort then exit), cleanup simply happens on the final `exit` event.
 */
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ioError } from '../errors.js';
import type { SystemContext } from '../types/context.js';
import { makeDirs } from './make-dirs.js';

type Action = () => void;

const actions = new Set<Action>();
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
let installed = false;

/** Runs (and forgets) every registered action, ignoring failures: the process is going away. */
function runAll(): void {
  for (const a of [...actions]) {
    actions.delete(a);
    try {
      a();
    } catch {
      // best effort
    }
  }
}

function onSignal(sig: NodeJS.Signals): void {
  // Somebody else (the CLI) handles this signal: it will abort work and exit, and `exit` cleans up.
  if (process.listenerCount(sig) > 1) return;
  runAll();
  uninstall();
  process.kill(process.pid, sig);
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', runAll);
  for (const s of SIGNALS) process.on(s, onSignal);
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  process.removeListener('exit', runAll);
  for (const s of SIGNALS) process.removeListener(s, onSignal);
}

/**
 * Registers a synchronous action to run when the process exits or is killed by a signal.
 * Returns a function that unregisters it (call it once the resource is committed or released).
 * Signal handlers are installed only while at least one action is registered.
 */
export function registerExitCleanup(action: () => void): () => void {
  actions.add(action);
  install();
  return () => {
    actions.delete(action);
    if (actions.size === 0) uninstall();
  };
}

/** A temporary directory that is removed at exit unless committed. */
export interface TempDir {
  /** Absolute path of the directory. */
  readonly path: string;
  /** Keeps the directory: it is no longer removed at exit (it became, or was moved to, something permanent). */
  commit(): void;
  /** Removes the directory now (idempotent) and forgets its exit cleanup. */
  remove(): Promise<void>;
}

/** Where an operation puts its temporary files: passed down with the operation's options. */
export interface TempOptions {
  /**
   * Directory for temporary files (`--tmpdir`, else `$TMPDIR`: {@link SystemContext.tmpDir}); default the OS temp
   * directory.
   */
  tmpDir?: string;
}

/** The directory temporary files go to: `opts.tmpDir`, else the OS temp directory (`$TMPDIR`, else `/tmp`). */
export function tempRoot(opts: TempOptions = {}): string {
  return opts.tmpDir || tmpdir();
}

/**
 * Creates a fresh directory `<under>/<prefix>XXXXXX` (`under` a directory, or {@link TempOptions} naming where
 * temporary files go, see {@link tempRoot}; it is created if missing). It is removed on process exit or a fatal signal
 * unless {@link TempDir.commit} is called.
 * @throws FerryError(E_IO, E_NO_SPACE) if it cannot be created.
 */
export async function makeTempDir(under: string | TempOptions | undefined, prefix: string): Promise<TempDir> {
  const parent = typeof under === 'string' ? under : tempRoot(under);
  const safe = prefix.replace(/[^A-Za-z0-9._-]/g, '-');
  let path: string;
  try {
    await makeDirs(parent);
    path = await mkdtemp(join(parent, safe));
  } catch (e) {
    throw ioError(`creating a temporary directory in ${parent}`, e);
  }
  const unregister = registerExitCleanup(() => rmSync(path, { recursive: true, force: true }));
  return {
    path,
    commit: unregister,
    async remove() {
      unregister();
      await rm(path, { recursive: true, force: true, maxRetries: 3 });
    },
  };
}
