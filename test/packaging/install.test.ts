/**
 * The package as users get it: `npm pack` (here of the tree `make test` built, plus `make man`), then
 * `npm install -g --prefix` of the tarball into a clean temp prefix — the same steps `make install PREFIX=…` runs —
 * and the installed `ferry` run from there, with the man pages found by `man`.
 */
import { expect } from 'chai';
import path from 'node:path';
import { readdir, readFile } from 'node:fs/promises';
import { useCleanup } from '../harness/tmp.js';
import { ROOT } from '../harness/cli.js';
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
    // a home of its own: nothing of the machine's npm configuration or ferry's code cache is used
    env = { HOME: dir, npm_config_cache: path.join(process.env['HOME'] ?? '/root', '.npm'), PATH: `${path.join(prefix, 'bin')}:${process.env['PATH']}` };
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
});
