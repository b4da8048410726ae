/**
 * What `bin/ferry` runs: the bundled build (`lib/bundle/main.cjs`, one CommonJS file made by esbuild, see the
 * Makefile) compiled through `vm.Script` with a V8 code cache, or, without a bundle, tsc's `lib/cli/main.js`.
 *
 * Node 20 has no compile cache for modules (`module.enableCompileCache` came in Node 22), but a script compiled with
 * `vm.Script` can be given the code V8 produced for it in an earlier process (`cachedData`). After a command that
 * succeeded, when no usable cache was there, the code compiled so far (top level and every function that ran) is
 * saved under `$XDG_CACHE_HOME/ferry/code-cache/<key>/<command>.v8` (`~/.cache` by default), one file per command, since
 * each command runs different functions. `<key>` names the Node version, architecture and the bundle's size and
 * mtime: a rebuilt bundle or another Node gets new files (and the old key folders are removed); V8 itself also refuses
 * data made by another V8 version or flags. Any failure to read or write the cache only costs the time it saves.
 * `FERRY_NO_CODE_CACHE=1` turns it off.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script, constants as vmConstants } from 'node:vm';
import { COMMAND_NAMES } from './command-names.js';

/**
 * The code cache file name for a command line: its first word that names a command (see {@link COMMAND_NAMES}), else
 * `other` (`--version`, `--help`, a mistyped command).
 */
export function codeCacheName(argv: readonly string[]): string {
  return argv.find((a) => (COMMAND_NAMES as readonly string[]).includes(a)) ?? 'other';
}

/** `$XDG_CACHE_HOME/ferry/code-cache` (default `~/.cache/ferry/code-cache`), or undefined when turned off. */
export function codeCacheRoot(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env['FERRY_NO_CODE_CACHE'] === '1') return undefined;
  return join(env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'ferry', 'code-cache');
}

/** A CommonJS file compiled and run through `vm.Script`. */
export interface LoadedBundle {
  /** Its `module.exports`. */
  exports: unknown;
  /** How the code cache was used: `none` (no file or turned off), `accepted`, or `rejected` by V8. */
  cache: 'none' | 'accepted' | 'rejected';
  /** Writes the code cache if there was no accepted one (never throws). Call once the work worth caching has run. */
  saveCache(): void;
}

/**
 * Compiles and runs the CommonJS file `file` like `require` would (same wrapper and arguments), with the V8 code cache
 * `cacheName` from `cacheRoot` (no cache when `cacheRoot` is undefined).
 * @throws the file's own read or compile errors (ENOENT when there is no bundle).
 */
export function loadBundle(file: string, cacheRoot: string | undefined, cacheName: string): LoadedBundle {
  const st = statSync(file);
  const source = readFileSync(file, 'utf8');
  const keyDir = cacheRoot === undefined ? undefined : join(cacheRoot, `${process.version}-${process.arch}-${st.size}-${Math.trunc(st.mtimeMs)}`);
  const cacheFile = keyDir === undefined ? undefined : join(keyDir, `${cacheName}.v8`);
  let cachedData: Buffer | undefined;
  if (cacheFile !== undefined) {
    try {
      cachedData = readFileSync(cacheFile);
    } catch {
      cachedData = undefined;
    }
  }
  // The CommonJS module wrapper (as Node's own `Module.wrap`).
  const wrapped = `(function (exports, require, module, __filename, __dirname) { ${source}\n});`;
  const script = new Script(wrapped, {
    filename: file,
    cachedData,
    importModuleDynamically: vmConstants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  const cache = cachedData === undefined ? 'none' : script.cachedDataRejected ? 'rejected' : 'accepted';
  const fn = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: { exports: unknown }, filename: string, dirname: string) => void;
  const mod = { exports: {} as unknown };
  fn.call(mod.exports, mod.exports, createRequire(file), mod, file, dirname(file));
  let saved = false;
  return {
    exports: mod.exports,
    cache,
    saveCache() {
      if (saved || cache === 'accepted' || keyDir === undefined || cacheFile === undefined || cacheRoot === undefined) return;
      saved = true;
      writeCache(cacheRoot, keyDir, cacheFile, () => script.createCachedData());
    },
  };
}

function writeCache(root: string, keyDir: string, file: string, data: () => Buffer): void {
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    mkdirSync(keyDir, { recursive: true, mode: 0o700 });
    writeFileSync(tmp, data(), { mode: 0o600 });
    renameSync(tmp, file);
  } catch {
    try {
      unlinkSync(tmp);
    } catch {
      // nothing was written
    }
    return;
  }
  // Caches of other bundles or Node versions are stale: remove them.
  try {
    for (const d of readdirSync(root)) {
      if (join(root, d) !== keyDir) rmSync(join(root, d), { recursive: true, force: true });
    }
  } catch {
    // another process may be cleaning up too
  }
}

/** The bundle next to this file's folder: `lib/bundle/main.cjs`. */
export function bundlePath(): string {
  return fileURLToPath(new URL('../bundle/main.cjs', import.meta.url));
}

type Run = (argv: string[]) => Promise<number>;

/**
 * Runs ferry with `argv` from the bundle (code-cached), or from tsc's lib/ when there is no bundle; resolves to the exit
 * status. The code cache is written only after a command that succeeded, so it holds that command's code.
 */
export async function launch(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const file = bundlePath();
  let loaded: LoadedBundle;
  try {
    loaded = loadBundle(file, codeCacheRoot(env), codeCacheName(argv));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || (e as NodeJS.ErrnoException).path !== file) throw e;
    const { run } = (await import('./main.js')) as { run: Run };
    return run(argv);
  }
  const status = await (loaded.exports as { run: Run }).run(argv);
  if (status === 0) loaded.saveCache();
  return status;
}
