/**
 * How bin/ferry starts: the bundle (lib/bundle/ferry.mjs and the chunks it loads as commands need them, ES modules
 * holding ferry and its dependencies) and, on Node ≥ 22.1, Node's compile cache in
 * `$XDG_CACHE_HOME/ferry/compile-cache`. Each test pins an assumption those
 * two rely on; the start-up time they buy is measured in docs/performance.md ("Start-up").
 */
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import module, { builtinModules } from 'node:module';
import path from 'node:path';
import { FERRY_BIN, ROOT } from '../harness/cli.js';
import { run } from '../harness/procs.js';
import { makeTempDir, removeDir } from '../harness/tmp.js';

const BUNDLE = path.join(ROOT, 'lib/bundle/ferry.mjs');
/** `module.enableCompileCache` (Node ≥ 22.1; not in the Node 20 types). */
const hasCompileCache = typeof (module as { enableCompileCache?: unknown }).enableCompileCache === 'function';

/** Every file under `dir` (none when it does not exist), with its size and modification time. */
async function filesUnder(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (!existsSync(dir)) return out;
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const p = path.join(e.parentPath, e.name);
    const st = await stat(p);
    out.set(p, `${st.size} ${st.mtimeMs}`);
  }
  return out;
}

describe('cli/launch: bin/ferry, the bundle and the compile cache', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await makeTempDir('ferry-launch-');
  });
  afterEach(async () => {
    await removeDir(dir);
  });

  /** bin/ferry as a program, run by the Node that runs the tests, with `$XDG_CACHE_HOME` in the temp folder. */
  const ferryBin = (args: string[], env: Record<string, string | undefined> = {}) =>
    run(FERRY_BIN, args, {
      env: { XDG_CACHE_HOME: dir, NODE_COMPILE_CACHE: undefined, NODE_DISABLE_COMPILE_CACHE: undefined, PATH: `${path.dirname(process.execPath)}:${process.env['PATH'] ?? ''}`, ...env },
    });

  it('the bundle holds all of ferry and its dependencies: its files import nothing but each other and Node built-in modules', async function () {
    if (!existsSync(BUNDLE)) this.skip(); // needs `make build`
    const files = [...(await filesUnder(path.dirname(BUNDLE))).keys()].filter((f) => f.endsWith('.mjs'));
    expect(files.length, 'split into chunks').to.be.greaterThan(1);
    const builtins = new Set(builtinModules);
    const outside: string[] = [];
    let found = 0;
    for (const file of files) {
      const text = await readFile(file, 'utf8');
      for (const re of [/\b(?:from|import)\s*"([\w@./:-]+)"/g, /\bimport\s*\(\s*"([\w@./:-]+)"\s*\)/g, /require\s*\(\s*"([\w@./:-]+)"\s*\)/g]) {
        for (const m of text.matchAll(re)) {
          const s = m[1]!;
          found++;
          // `node:` names only ever resolve to Node's own modules (some, like node:sqlite, exist only with the prefix)
          if (s.startsWith('node:') || builtins.has(s)) continue;
          const target = s.startsWith('.') ? path.resolve(path.dirname(file), s) : '';
          if (target === '' || !files.includes(target)) outside.push(`${path.relative(ROOT, file)} → ${s}`);
        }
      }
    }
    expect(found).to.be.greaterThan(5); // the patterns still find esbuild's import forms
    expect(outside).to.deep.equal([]);
  });

  it('a command loads only its part of the bundle: --version leaves the chunks of the commands and of undici unread', async function () {
    if (!existsSync(BUNDLE)) this.skip(); // needs `make build`
    const script = `const { run } = await import(${JSON.stringify(BUNDLE)}); await run(['--version']);
      console.error(JSON.stringify(process.moduleLoadList ? process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice(13)) : []));`;
    // as the user running the tests, and as a user other than root (ferry asks, before every command, whether a
    // non-root user's command needs the store's user namespace, whose code starts processes)
    const nonRoot = process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : [];
    for (const prefix of nonRoot.length ? [[], nonRoot] : [[]]) {
      const [cmd, ...args] = [...prefix, process.execPath, '--input-type=module', '-e', script];
      const r = await run(cmd!, args, { cwd: '/' });
      expect(r.code, r.stderr).to.equal(0);
      const loaded = new Set(JSON.parse(r.stderr.trim().split('\n').pop()!) as string[]);
      // what only registry commands (undici), archives (tar) or the store need is not initialized
      for (const m of ['http', 'https', 'tls', 'zlib', 'child_process']) expect(loaded.has(m), `${m} ${prefix.join(' ')}`).to.equal(false);
    }
  });

  it('start-up reads nothing of the working directory: yargs looks for no package.json there or above', async function () {
    if (!existsSync(BUNDLE)) this.skip(); // needs `make build`
    // yargs() guesses a version from the first package.json in the working directory or a parent, listing every
    // directory on the way; ferry sets its own version, so the bundle leaves that search out (src/cli/no-find-up.ts)
    const cwd = path.join(dir, 'project', 'deep');
    await mkdir(cwd, { recursive: true });
    await writeFile(path.join(dir, 'project', 'package.json'), JSON.stringify({ version: '9.9.9' }));
    const trace = path.join(dir, 'strace.log');
    for (const args of [['--version'], ['manifest-digest', '--help']]) {
      const r = await run('strace', ['-f', '-qq', '-e', 'trace=open,openat,stat,statx,newfstatat,lstat,access', '-e', 'signal=none', '-o', trace, process.execPath, FERRY_BIN, ...args], {
        cwd,
        env: { XDG_CACHE_HOME: path.join(dir, 'cache') },
      });
      expect(r.code, r.stderr).to.equal(0);
      const touched = (await readFile(trace, 'utf8')).split('\n').filter((l) => l.includes(path.join(dir, 'project')));
      expect(touched, args.join(' ')).to.deep.equal([]);
    }
  });

  it('a chunk makes its `require` (for the CommonJS parts, undici) only when it first requires something', async function () {
    if (!existsSync(BUNDLE)) this.skip(); // needs `make build`
    // counts module.createRequire calls (the bundle imports it from node:module; syncBuiltinESMExports updates that import)
    const hook = path.join(dir, 'count.mjs');
    await writeFile(
      hook,
      `import module from 'node:module';
      const create = module.createRequire;
      let calls = 0;
      module.createRequire = (...a) => (calls++, create(...a));
      module.syncBuiltinESMExports();
      process.on('exit', () => process.stderr.write('createRequire calls: ' + calls + '\\n'));`,
    );
    const ferry = (args: string[]) => run(process.execPath, ['--import', hook, FERRY_BIN, ...args], { env: { XDG_CACHE_HOME: path.join(dir, 'cache') } });
    const version = await ferry(['--version']);
    expect(version.code, version.stderr).to.equal(0);
    // yargs-parser and yargs' platform shim make one each when they load; the other files --version loads make none
    expect(version.stderr).to.equal('createRequire calls: 2\n');
    // a command that loads undici (a registry on a closed port) still gets the built-in modules undici requires
    const inspect = await ferry(['inspect', '--tls-verify=false', '--retry-times=0', 'docker://127.0.0.1:1/a:b']);
    expect(inspect.stderr).not.to.match(/Dynamic require|is not supported/);
    expect(inspect.stderr).to.match(/^Error: .*\ncreateRequire calls: [2-9]\d*\n$/);
  });

  it("a registry command does not make Node load its own copy of undici (the bundle's undici reads no globalThis.Headers)", async function () {
    if (!existsSync(BUNDLE)) this.skip(); // needs `make build`
    // Node defines fetch's globals (Headers, Request, …) lazily: the first read of one loads and compiles Node's
    // built-in undici. The bundled undici's cookie helpers read globalThis.Headers when they load; the bundle defines
    // that read away (Makefile, BUNDLE_FLAGS). A newer undici reading another of those globals would show here too.
    const hook = path.join(dir, 'internal-undici.mjs');
    await writeFile(
      hook,
      `process.on('exit', () => process.stderr.write('internal undici: ' + process.moduleLoadList.some((m) => m === 'NativeModule internal/deps/undici/undici') + '\\n'));`,
    );
    const r = await run(process.execPath, ['--import', hook, FERRY_BIN, 'inspect', '--tls-verify=false', '--retry-times=0', 'docker://127.0.0.1:1/a:b'], {
      env: { XDG_CACHE_HOME: path.join(dir, 'cache') },
    });
    expect(r.stderr).to.match(/^Error: .*\n/); // it got as far as a connection
    expect(r.stderr).to.match(/internal undici: false\n$/);
    // the check itself sees the load when it happens
    const seen = await run(process.execPath, ['--import', hook, '-e', 'globalThis.Headers']);
    expect(seen.stderr).to.equal('internal undici: true\n');
  });

  it('a registry command that runs no credential helper does not initialize node:child_process', async function () {
    if (!existsSync(BUNDLE)) this.skip(); // needs `make build`
    const hook = path.join(dir, 'child-process.mjs');
    await writeFile(hook, `process.on('exit', () => process.stderr.write('child_process: ' + process.moduleLoadList.includes('NativeModule child_process') + '\\n'));`);
    const r = await run(process.execPath, ['--import', hook, FERRY_BIN, 'inspect', '--tls-verify=false', '--retry-times=0', 'docker://127.0.0.1:1/a:b'], {
      env: { XDG_CACHE_HOME: path.join(dir, 'cache') },
    });
    expect(r.stderr).to.match(/^Error: .*\n/); // it got as far as a connection
    expect(r.stderr).to.match(/child_process: false\n$/);
    // the check itself sees the load when it happens
    const seen = await run(process.execPath, ['--import', hook, '-e', 'require("node:child_process")']);
    expect(seen.stderr).to.equal('child_process: true\n');
  });

  it('the bundle leaves out node:http2 (undici loads it, ferry speaks HTTP/1.1 only)', async function () {
    if (!existsSync(BUNDLE)) this.skip(); // needs `make build`
    const files = [...(await filesUnder(path.dirname(BUNDLE))).keys()].filter((f) => f.endsWith('.mjs'));
    const text = (await Promise.all(files.map((f) => readFile(f, 'utf8')))).join('\n');
    expect(text).not.to.match(/(require|import)\(["']node:http2["']\)/);
    expect(text).to.contain('node:http2 is not part of the ferry bundle');
  });

  it('Node ≥ 22.1 keeps the bundle compiled in $XDG_CACHE_HOME/ferry/compile-cache and accepts it on the next run; Node 20 loads it plainly', async function () {
    if (!existsSync(BUNDLE)) this.skip(); // needs `make build`
    const cache = path.join(dir, 'ferry', 'compile-cache');
    const first = await ferryBin(['--version']);
    expect(first.code, first.stderr).to.equal(0);
    expect(first.stderr).to.equal('');
    if (!hasCompileCache) {
      expect((await filesUnder(cache)).size, 'no compile cache on this Node').to.equal(0);
      return;
    }
    const written = await filesUnder(cache);
    expect(written.size).to.be.greaterThan(0);
    // Node's debug output says whether V8 accepted the cached code for the bundle (it is dropped silently otherwise).
    const second = await ferryBin(['--version'], { NODE_DEBUG_NATIVE: 'COMPILE_CACHE' });
    expect(second.code, second.stderr).to.equal(0);
    expect(second.stdout).to.equal(first.stdout);
    expect(second.stderr).to.match(/V8 code cache for ESM \S*\/lib\/bundle\/ferry\.mjs was accepted/);
    expect(await filesUnder(cache)).to.deep.equal(written);
  });

  it('NODE_DISABLE_COMPILE_CACHE=1 turns the compile cache off, NODE_COMPILE_CACHE moves it', async function () {
    if (!existsSync(BUNDLE) || !hasCompileCache) this.skip(); // Node ≥ 22.1, `make build`
    const off = await ferryBin(['--version'], { NODE_DISABLE_COMPILE_CACHE: '1' });
    expect(off.code, off.stderr).to.equal(0);
    expect((await filesUnder(dir)).size).to.equal(0);
    const elsewhere = path.join(dir, 'elsewhere');
    const moved = await ferryBin(['--version'], { NODE_COMPILE_CACHE: elsewhere });
    expect(moved.code, moved.stderr).to.equal(0);
    expect((await filesUnder(path.join(dir, 'ferry'))).size).to.equal(0);
    expect((await filesUnder(elsewhere)).size).to.be.greaterThan(0);
  });
});
