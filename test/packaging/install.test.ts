/**
 * The package as users get it: `npm pack` (here of the tree `make test` built, plus `make man`), then
 * `npm install -g --prefix` of the tarball into a clean temp prefix — the same steps `make install PREFIX=…` runs —
 * and the installed `ferry` run from there, with the man pages found by `man`.
 */
import { expect } from 'chai';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { readdir, readFile, mkdir, symlink, access } from 'node:fs/promises';
import * as zlib from 'node:zlib';
import { useCleanup } from '../harness/tmp.js';
import { ROOT, ferry } from '../harness/cli.js';
import { buildImage } from '../harness/images.js';
import { run, runOk } from '../harness/procs.js';

describe('packaging: npm pack, npm install -g into a temp prefix, man pages', function () {
  // npm installs the production dependencies (from its cache when it has them)
  this.timeout(300_000);
  const cleanup = useCleanup('after');
  let prefix: string;
  let env: Record<string, string | undefined>;
  before(async () => {
    const dir = await cleanup.tempDir('ferry-pack-');
    prefix = path.join(dir, 'prefix');
    // `make test` built lib/ already: make the man pages, and pack without prepack's rebuild
    await runOk('make', ['--no-print-directory', 'man'], { cwd: ROOT, timeoutMs: 120_000 });
    const pack = await runOk('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: ROOT, timeoutMs: 120_000 });
    const tarball = path.join(dir, pack.stdout.trim().split('\n').at(-1)!);
    // the installed ferry runs on this test's Node; a home of its own: nothing of the machine's npm configuration or ferry's code cache is used
    env = { HOME: dir, npm_config_cache: path.join(process.env['HOME'] ?? '/root', '.npm'), PATH: `${path.join(prefix, 'bin')}:${path.dirname(process.execPath)}:${process.env['PATH']}` };
    // --ignore-scripts: as on a machine without a compiler, the native parts (zstd binding, store add-on) are not built
    await runOk('npm', ['install', '-g', '--prefix', prefix, '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', tarball], { env, cwd: dir, timeoutMs: 250_000 });
  });

  it('installs a ferry that runs from the prefix: --version and inspect of an oci: layout', async () => {
    const v = await runOk(path.join(prefix, 'bin/ferry'), ['--version'], { env });
    expect(v.stdout).to.equal('ferry version 0.1.0\n');
    const image = await buildImage(path.join(await cleanup.tempDir('ferry-pack-img-'), 'layout'), { seed: 71 });
    const raw = await runOk('ferry', ['inspect', '--raw', `oci:${image.layoutDir}:${image.tag}`], { env });
    expect(raw.stdoutBytes.equals(image.bytes)).to.equal(true);
    const info = JSON.parse((await runOk('ferry', ['inspect', `oci:${image.layoutDir}:${image.tag}`], { env })).stdout);
    expect(info.Digest).to.equal(image.digest);
  });

  it('installs one man page per docs/*.1.md, which man finds and renders', async () => {
    const pages = (await readdir(path.join(ROOT, 'docs'))).filter((f) => f.endsWith('.1.md')).map((f) => f.slice(0, -3)).sort();
    expect((await readdir(path.join(prefix, 'share/man/man1'))).sort()).to.deep.equal(pages);
    const manpath = path.join(prefix, 'share/man');
    const where = await runOk('man', ['-w', 'ferry-copy'], { env: { ...env, MANPATH: manpath } });
    expect(where.stdout.trim()).to.match(/ferry-copy\.1$/);
    const text = await runOk('man', ['ferry-copy'], { env: { ...env, MANPATH: manpath, MANWIDTH: '100', MAN_KEEP_FORMATTING: undefined, PAGER: 'cat', MANPAGER: 'cat' } });
    expect(text.stdout).to.match(/^FERRY-COPY\(1\)/);
    expect(text.stdout).to.contain('NAME\n       ferry-copy - ');
    expect(text.stdout).to.contain('--image-parallel-copies');
  });

  it("package.json's man list is docs/*.1.md", async () => {
    const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { man: string[] };
    const pages = (await readdir(path.join(ROOT, 'docs'))).filter((f) => f.endsWith('.1.md')).map((f) => `lib/man/man1/${f.slice(0, -3)}`).sort();
    expect([...pkg.man].sort()).to.deep.equal(pages);
  });

  it('without the store add-on, a copy into containers-storage: fails with one line naming it', async () => {
    const image = await buildImage(path.join(await cleanup.tempDir('ferry-pack-img-'), 'layout'), { seed: 72 });
    const store = await cleanup.tempDir('ferry-pack-store-');
    const r = await run('ferry', ['--insecure-policy', 'copy', '--quiet', `oci:${image.layoutDir}:${image.tag}`, `containers-storage:[vfs@${store}/root+${store}/run]x:1`], { env });
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/^Error: .*ferry-store-native addon, which is not built/m);
    expect(r.stderr).not.to.match(/^\s+at /m);
  });
  it("zstd without zstd-napi built: from Node's zlib where it has it, else one line saying how to get it", async () => {
    const image = await buildImage(path.join(await cleanup.tempDir('ferry-pack-img-'), 'layout'), { seed: 73 });
    const out = path.join(await cleanup.tempDir('ferry-pack-out-'), 'layout');
    const r = await run('ferry', ['--insecure-policy', 'copy', '--quiet', '--dest-compress-format', 'zstd', `oci:${image.layoutDir}:${image.tag}`, `oci:${out}:x`], { env });
    if ('createZstdCompress' in zlib) {
      expect(r.code, r.stderr).to.equal(0);
      const index = JSON.parse(await readFile(path.join(out, 'index.json'), 'utf8'));
      const digest = (index.manifests[0].digest as string).replace(':', '/');
      const manifest = JSON.parse(await readFile(path.join(out, 'blobs', digest), 'utf8'));
      expect(manifest.layers.map((l: { mediaType: string }) => l.mediaType)).to.include('application/vnd.oci.image.layer.v1.tar+zstd');
    } else {
      // it used to die of an unhandled 'error' event on the blob reader, with a stack dump
      expect(r.code).to.equal(1);
      expect(r.stderr).to.match(/^Error: compressing layers with zstd: zstd needs Node ≥ 22\.15 \(this is Node [\d.]+\) or the optional zstd-napi package, which is not built: /m);
      expect(r.stderr.trim().split('\n')).to.have.length(1);
      // checked before anything is opened: the destination was never created
      expect(existsSync(out), 'destination created').to.equal(false);
    }
  });

  it('decompressing a zstd layer without zstd: one line before any blob moves', async function () {
    if ('createZstdCompress' in zlib) this.skip();
    const dir = await cleanup.tempDir('ferry-pack-zstd-');
    const image = await buildImage(path.join(dir, 'layout'), { seed: 75 });
    // the image with zstd layers, made by the tree under test (which has zstd-napi built)
    const made = await ferry(['--insecure-policy', 'copy', '-q', '--dest-compress-format', 'zstd', `oci:${image.layoutDir}:${image.tag}`, `oci:${path.join(dir, 'zstd')}:z`]);
    expect(made.code, made.stderr).to.equal(0);
    const out = path.join(dir, 'out');
    const r = await run('ferry', ['--insecure-policy', 'copy', '--quiet', '--dest-decompress', `oci:${path.join(dir, 'zstd')}:z`, `dir:${out}`], { env });
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/^Error: decompressing the zstd layer sha256:[0-9a-f]{64}: zstd needs Node ≥ 22\.15 .* which is not built: /);
    expect(r.stderr.trim().split('\n')).to.have.length(1);
    // no blob was written (a dir: destination keeps blobs as files named by their hex digest)
    const written = existsSync(out) ? (await readdir(out)).filter((f) => /^[0-9a-f]{64}$/.test(f)) : [];
    expect(written).to.deep.equal([]);
  });
});

describe('packaging: npm install without a compiler', function () {
  this.timeout(300_000);
  const cleanup = useCleanup('after');
  let prefix: string;
  let env: Record<string, string | undefined>;
  before(async () => {
    const dir = await cleanup.tempDir('ferry-nocc-');
    prefix = path.join(dir, 'prefix');
    await runOk('make', ['--no-print-directory', 'man'], { cwd: ROOT, timeoutMs: 120_000 });
    const pack = await runOk('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: ROOT, timeoutMs: 120_000 });
    const tarball = path.join(dir, pack.stdout.trim().split('\n').at(-1)!);
    // a PATH with node and a shell only: no cc, c++, make or python3, so node-gyp cannot build the addons
    const bin = path.join(dir, 'bin');
    await mkdir(bin);
    await symlink(process.execPath, path.join(bin, 'node'));
    await symlink('/bin/sh', path.join(bin, 'sh'));
    const npm = (await runOk('sh', ['-c', 'command -v npm'])).stdout.trim();
    env = { HOME: dir, npm_config_cache: path.join(process.env['HOME'] ?? '/root', '.npm'), PATH: `${path.join(prefix, 'bin')}:${bin}` };
    // install scripts run (and fail): npm drops the optional dependencies whose build failed
    await runOk(npm, ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', tarball], { env, cwd: dir, timeoutMs: 250_000 });
  });

  it('installs a ferry without the store add-on that copies and inspects', async () => {
    const modules = path.join(prefix, 'lib/node_modules/ferry/node_modules');
    let present = true;
    await access(path.join(modules, 'ferry-store-native')).catch(() => (present = false));
    expect(present, 'ferry-store-native installed').to.equal(false);
    const image = await buildImage(path.join(await cleanup.tempDir('ferry-nocc-img-'), 'layout'), { seed: 74 });
    const out = path.join(await cleanup.tempDir('ferry-nocc-out-'), 'layout');
    await runOk(path.join(prefix, 'bin/ferry'), ['--insecure-policy', 'copy', '--quiet', `oci:${image.layoutDir}:${image.tag}`, `oci:${out}:x`], { env });
    const info = JSON.parse((await runOk(path.join(prefix, 'bin/ferry'), ['inspect', `oci:${out}:x`], { env })).stdout);
    expect(info.Digest).to.equal(image.digest);
  });

  it('containers-storage: and ferry store say in one line that the add-on is not installed', async () => {
    const image = await buildImage(path.join(await cleanup.tempDir('ferry-nocc-img-'), 'layout'), { seed: 75 });
    const store = await cleanup.tempDir('ferry-nocc-store-');
    const ferry = path.join(prefix, 'bin/ferry');
    const copy = await run(ferry, ['--insecure-policy', 'copy', '--quiet', `oci:${image.layoutDir}:${image.tag}`, `containers-storage:[vfs@${store}/root+${store}/run]x:1`], { env });
    const list = await run(ferry, ['store', 'images', '--root', `${store}/root`, '--runroot', `${store}/run`, '--storage-driver', 'vfs'], { env });
    for (const r of [copy, list]) {
      expect(r.code).to.equal(1);
      expect(r.stderr).to.match(/^Error: .*the local image store needs the optional ferry-store-native addon, which is not installed: reinstall ferry with install scripts enabled and a C compiler/);
      expect(r.stderr.trim().split('\n')).to.have.length(1);
    }
  });
});
