import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { codeCacheName, codeCacheRoot, loadBundle } from '../../src/cli/launch.js';
import { COMMAND_NAMES } from '../../src/cli/command-names.js';
import { ferryProcess, ROOT } from '../harness/cli.js';
import { runOk } from '../harness/procs.js';
import { makeTempDir, removeDir } from '../harness/tmp.js';

const LAUNCH = fileURLToPath(new URL('../../src/cli/launch.js', import.meta.url));

/**
 * loadBundle in a fresh process (within one process V8 reuses the script it compiled and never reads cachedData):
 * how the cache was used and `exports.twice(21)`; saves the cache when `save`.
 */
async function loadInChild(file: string, root: string, name: string, save = true): Promise<{ cache: string; twice: number }> {
  const code = `const { loadBundle } = await import(${JSON.stringify(LAUNCH)});
    const l = loadBundle(${JSON.stringify(file)}, ${JSON.stringify(root)}, ${JSON.stringify(name)});
    const twice = l.exports.twice(21);
    if (${save}) l.saveCache();
    process.stdout.write(JSON.stringify({ cache: l.cache, twice }));`;
  const r = await runOk(process.execPath, ['--input-type=module', '-e', code]);
  return JSON.parse(r.stdout) as { cache: string; twice: number };
}

/** The single key folder under `root` and the cache files in it. */
async function cacheFiles(root: string): Promise<{ keys: string[]; files: string[] }> {
  const keys = existsSync(root) ? await readdir(root) : [];
  const files = keys.length === 1 ? (await readdir(path.join(root, keys[0]!))).sort() : [];
  return { keys, files };
}

describe('cli/launch', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await makeTempDir('ferry-launch-');
  });
  afterEach(async () => {
    await removeDir(dir);
  });

  it('names the cache after the first word that is a command, else "other"', () => {
    expect(codeCacheName(['inspect', '--raw', 'docker://x'])).to.equal('inspect');
    expect(codeCacheName(['--debug', '--registries-conf', 'conf', 'list-tags', 'docker://x'])).to.equal('list-tags');
    expect(codeCacheName(['--version'])).to.equal('other');
    expect(codeCacheName(['frobnicate'])).to.equal('other');
    expect(COMMAND_NAMES).to.include('store').and.include('copy');
  });

  it('keeps the cache under $XDG_CACHE_HOME/ferry/code-cache, off with FERRY_NO_CODE_CACHE=1', () => {
    expect(codeCacheRoot({ XDG_CACHE_HOME: '/xdg' })).to.equal('/xdg/ferry/code-cache');
    expect(codeCacheRoot({ HOME: '/h' })).to.match(/\/\.cache\/ferry\/code-cache$/);
    expect(codeCacheRoot({ XDG_CACHE_HOME: '/xdg', FERRY_NO_CODE_CACHE: '1' })).to.equal(undefined);
  });

  it('runs a CommonJS file like require, writes its code cache once, uses it, and replaces it for a new build', async () => {
    const file = path.join(dir, 'main.cjs');
    const root = path.join(dir, 'cache');
    const src = `'use strict';
      exports.twice = function twice(n) { return 2 * n; };
      exports.where = [__filename, __dirname, typeof require('node:path').join, module.exports === exports];
      exports.strict = (function () { return this; })() === undefined;`;
    await writeFile(file, src);

    const first = loadBundle(file, root, 'inspect');
    const ex = first.exports as { twice: (n: number) => number; where: unknown[]; strict: boolean };
    expect(first.cache).to.equal('none');
    expect(ex.twice(21)).to.equal(42);
    expect(ex.where).to.deep.equal([file, dir, 'function', true]);
    expect(ex.strict).to.equal(true);
    expect((await cacheFiles(root)).files).to.deep.equal([]);
    first.saveCache();
    const { keys, files } = await cacheFiles(root);
    expect(keys).to.have.length(1);
    expect(keys[0]).to.contain(process.version);
    expect(files).to.deep.equal(['inspect.v8']);
    const cacheFile = path.join(root, keys[0]!, 'inspect.v8');
    expect((await stat(cacheFile)).mode & 0o777).to.equal(0o600);

    expect(await loadInChild(file, root, 'inspect')).to.deep.equal({ cache: 'accepted', twice: 42 });
    const before = await readFile(cacheFile);
    expect(await loadInChild(file, root, 'inspect')).to.deep.equal({ cache: 'accepted', twice: 42 });
    expect((await readFile(cacheFile)).equals(before), 'an accepted cache is not rewritten').to.equal(true);
    expect(await loadInChild(file, root, 'copy', false)).to.deep.equal({ cache: 'none', twice: 42 });

    // A corrupt cache is rejected by V8 and replaced.
    await writeFile(cacheFile, Buffer.alloc(before.length, 1));
    expect(await loadInChild(file, root, 'inspect')).to.deep.equal({ cache: 'rejected', twice: 42 });
    expect(await loadInChild(file, root, 'inspect')).to.deep.equal({ cache: 'accepted', twice: 42 });

    // A rebuilt bundle (other size/mtime) gets a new key folder; saving there removes the old one.
    await writeFile(file, src + '\nexports.extra = 1;');
    await utimes(file, new Date(), new Date(Date.now() + 5000));
    expect(await loadInChild(file, root, 'inspect')).to.deep.equal({ cache: 'none', twice: 42 });
    const after = await cacheFiles(root);
    expect(after.keys).to.have.length(1);
    expect(after.keys[0]).not.to.equal(keys[0]);
    expect(after.files).to.deep.equal(['inspect.v8']);
    expect(await loadInChild(file, root, 'inspect')).to.deep.equal({ cache: 'accepted', twice: 42 });
  });

  it('without a cache folder it only runs the file', async () => {
    const file = path.join(dir, 'main.cjs');
    await writeFile(file, 'exports.ok = true;');
    const l = loadBundle(file, undefined, 'inspect');
    expect(l.cache).to.equal('none');
    expect((l.exports as { ok: boolean }).ok).to.equal(true);
    l.saveCache();
    expect(await readdir(dir)).to.deep.equal(['main.cjs']);
  });

  it('bin/ferry writes the code cache of a command that succeeded (not of one that failed), then uses it', async function () {
    if (!existsSync(path.join(ROOT, 'lib/bundle/main.cjs'))) this.skip(); // needs `make build`
    const root = path.join(dir, 'ferry', 'code-cache');
    const env = { XDG_CACHE_HOME: dir, FERRY_NO_CODE_CACHE: undefined };
    const bad = await ferryProcess(['manifest-digest', path.join(dir, 'missing.json')], { env });
    expect(bad.code).to.not.equal(0);
    expect((await cacheFiles(root)).files).to.deep.equal([]);
    const v = await ferryProcess(['--version'], { env });
    expect(v.code, v.stderr).to.equal(0);
    expect((await cacheFiles(root)).files).to.deep.equal(['other.v8']);
    const again = await ferryProcess(['--version'], { env });
    expect(again.stdout).to.equal(v.stdout);
    expect((await cacheFiles(root)).files).to.deep.equal(['other.v8']);
  });

  it('the bundle leaves out node:http2 (undici loads it, ferry speaks HTTP/1.1 only)', async function () {
    const file = path.join(ROOT, 'lib/bundle/main.cjs');
    if (!existsSync(file)) this.skip(); // needs `make build`
    const text = await readFile(file, 'utf8');
    expect(text).not.to.match(/require\(["']node:http2["']\)/);
    expect(text).to.contain('node:http2 is not part of the ferry bundle');
  });
});
