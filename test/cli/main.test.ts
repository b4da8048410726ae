import { expect } from 'chai';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ferry, ferryProcess, ROOT } from '../harness/cli.js';
import { VERSION } from '../../src/version.js';
import { rewriteGlobalWords } from '../../src/cli/main.js';
import { run, runOk } from '../harness/procs.js';
import { useCleanup } from '../harness/tmp.js';
import { buildImage } from '../harness/images.js';

describe('cli/main', () => {
  const cleanup = useCleanup('after');
  it('prints the version from package.json as skopeo does ("ferry version N.N.N"), for --version and -v', async () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    expect(VERSION).to.equal(pkg.version);
    for (const flag of ['--version', '-v']) {
      const r = await ferry([flag]);
      expect(r.code, flag).to.equal(0);
      expect(r.stdout, flag).to.equal(`ferry version ${VERSION}\n`);
    }
    // scripts written for skopeo take the third word
    const s = await run('skopeo', ['--version']);
    expect(s.stdout).to.match(/^skopeo version \d+\.\d+\.\d+\n$/);
    expect((await ferry(['-v'])).stdout.split(' ')[2]!.trim()).to.equal(VERSION);
  });

  it('"help" is the command only where a command can stand: after global flags and their values', () => {
    expect(rewriteGlobalWords(['help', 'copy'])).to.deep.equal(['copy', '--help']);
    expect(rewriteGlobalWords(['--policy', 'p.json', '--debug', 'help', 'copy'])).to.deep.equal(['--policy', 'p.json', '--debug', 'copy', '--help']);
    expect(rewriteGlobalWords(['--tmpdir', 'help', 'inspect', 'x'])).to.deep.equal(['--tmpdir', 'help', 'inspect', 'x']);
    expect(rewriteGlobalWords(['copy', 'help', 'x'])).to.deep.equal(['copy', 'help', 'x']);
    // -v is --version before the command only: after it, it is the command's (login -v is --verbose)
    expect(rewriteGlobalWords(['--debug', '-v'])).to.deep.equal(['--debug', '--version']);
    expect(rewriteGlobalWords(['login', '-v', 'host'])).to.deep.equal(['login', '-v', 'host']);
  });

  it('"ferry help COMMAND" prints the help of COMMAND, "ferry help" the overview, as skopeo help does', async () => {
    for (const c of ['inspect', 'copy', 'sync']) {
      const h = await ferry(['help', c]);
      const direct = await ferry([c, '--help']);
      expect(h.code, h.stderr).to.equal(0);
      expect(h.stdout, c).to.equal(direct.stdout);
      expect(h.stdout).to.contain(`ferry ${c} `);
    }
    const overview = await ferry(['help']);
    expect(overview.code).to.equal(0);
    expect(overview.stdout).to.equal((await ferry(['--help'])).stdout);
    expect(overview.stdout).to.contain('ferry help COMMAND');
    // global flags may come first; a global flag's value is not the help command
    expect((await ferry(['--debug', 'help', 'inspect'])).stdout).to.equal((await ferry(['inspect', '--help'])).stdout);
    const notHelp = await ferry(['--override-arch', 'help', 'inspect']);
    expect(notHelp.code).to.equal(1);
    expect(notHelp.stderr).to.contain('IMAGE-NAME');
  });

  it('lists every command in --help', async () => {
    const r = await ferry(['--help']);
    expect(r.code).to.equal(0);
    for (const c of ['inspect', 'list-tags', 'manifest-digest', 'login', 'logout']) expect(r.stdout).to.contain(c);
  });

  it('prints command help with its flags', async () => {
    const r = await ferry(['inspect', '--help']);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.contain('--raw').and.contain('--tls-verify').and.contain('--override-arch');
  });

  it('fails with one line and status 1 on an unknown command', async () => {
    const r = await ferry(['frobnicate']);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/^Error: .*frobnicate/);
    expect(r.stdout).to.equal('');
  });

  it('does not run a command whose arguments failed validation', async () => {
    const { mkdtemp, readdir, rm, writeFile } = await import('node:fs/promises');
    const os = await import('node:os');
    const { openpgp } = await import('../../src/signature/openpgp.js');
    const pgp = await openpgp();
    const { privateKey } = await pgp.generateKey({ type: 'ecc', userIDs: [{ name: 't', email: 't@example.com' }], format: 'armored' });
    const fingerprint = (await pgp.readPrivateKey({ armoredKey: privateKey })).getFingerprint().toUpperCase();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-cwd-'));
    const cwd = process.cwd();
    try {
      await writeFile(path.join(dir, 'key.asc'), privateKey);
      await writeFile(path.join(dir, 'manifest.json'), '{"schemaVersion":2}');
      process.chdir(dir);
      // everything a signature needs except the required --output: the handler must not run (it once wrote "undefined")
      const r = await ferry(['standalone-sign', '--key', 'key.asc', 'manifest.json', 'example.com/a:1', fingerprint]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.contain('output');
      expect((await readdir(dir)).sort()).to.deep.equal(['key.asc', 'manifest.json']);
    } finally {
      process.chdir(cwd);
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('fails on a missing argument and on an unknown flag', async () => {
    expect((await ferry(['inspect'])).code).to.equal(1);
    const r = await ferry(['inspect', '--no-such-flag', 'docker://x']);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain('no-such-flag');
  });

  it('names the missing arguments and the unknown words, as a command run by name does', async () => {
    const cases: Array<[string[], string]> = [
      [['inspect'], 'Missing required argument: IMAGE-NAME'],
      [['copy', 'oci:/x'], 'Missing required argument: DESTINATION-IMAGE'],
      [['sync'], 'Missing required arguments: SOURCE, DESTINATION, src, dest'],
      [['--debug', 'login'], 'Missing required argument: REGISTRY'],
      [['inspect', 'oci:/x', 'extra'], 'Unknown argument: extra'],
      [['inspect', '--no-such-flag', 'oci:/x'], 'Unknown argument: no-such-flag'],
    ];
    for (const [args, message] of cases) {
      const r = await ferry(args);
      const command = args.find((a) => !a.startsWith('-'));
      expect(r.code, args.join(' ')).to.equal(1);
      expect(r.stderr, args.join(' ')).to.equal(`Error: ${message}\nSee 'ferry ${command} --help'.\n`);
    }
  });

  it('suggests the command or flag a typo was meant to be, as skopeo (cobra) does', async () => {
    const cases: Array<[string[], string]> = [
      [['inspct', 'docker://x/y'], `Error: unknown command "inspct" for "ferry"; did you mean "inspect"?\nSee 'ferry --help'.\n`],
      [['--debug', 'lsit-tags', 'docker://x/y'], `Error: unknown command "lsit-tags" for "ferry"; did you mean "list-tags"?\nSee 'ferry --help'.\n`],
      [['frobnicate'], `Error: unknown command "frobnicate" for "ferry"\nSee 'ferry --help'.\n`],
      [['inspect', '--formt', '{{.Digest}}', 'oci:/x'], `Error: Unknown argument: formt (did you mean --format?)\nSee 'ferry inspect --help'.\n`],
      [['copy', '--dest-compres-format=zstd', 'oci:/x', 'oci:/y'], `Error: Unknown argument: dest-compres-format (did you mean --dest-compress-format?)\nSee 'ferry copy --help'.\n`],
      [['inspect', '--tls-verfy=false', '--raww', 'oci:/x'], `Error: Unknown arguments: tls-verfy, raww (did you mean --tls-verify for --tls-verfy, --raw for --raww?)\nSee 'ferry inspect --help'.\n`],
      [['inspect', '--zzzzzz', 'oci:/x'], `Error: Unknown argument: zzzzzz\nSee 'ferry inspect --help'.\n`],
      [[], `Error: a command is required\nSee 'ferry --help'.\n`],
    ];
    for (const [args, stderr] of cases) {
      const r = await ferry(args);
      expect(r.code, args.join(' ')).to.equal(1);
      expect(r.stderr, args.join(' ')).to.equal(stderr);
    }
    // `help WORD` still prints the help, whatever the word
    expect((await ferry(['help', 'frobnicate'])).code).to.equal(0);
  });

  it('the command is the word after the global flags, even when a flag before it has a command name as its value', async () => {
    const { mkdtemp, rm } = await import('node:fs/promises');
    const os = await import('node:os');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-cmdword-'));
    try {
      const img = await buildImage(path.join(dir, 'img'), { seed: 3, layers: 1, layerSize: 64 });
      // `copy` is the value of --tmpdir, `inspect` the command; and an image named like a command is an image
      const r = await ferry(['--tmpdir', 'copy', 'inspect', '--raw', `oci:${img.layoutDir}:${img.tag}`]);
      expect(r.code, r.stderr).to.equal(0);
      expect(JSON.parse(r.stdout).schemaVersion).to.equal(2);
      const named = await ferry(['inspect', 'copy']);
      expect(named.code).to.equal(1);
      expect(named.stderr).to.contain('invalid image name "copy"');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a command that runs has yargs lay out no help text (only --help does)', async function () {
    this.timeout(60_000);
    // yargs renders the help of a command it runs by name before the handler, in case the handler fails; the CLI runs
    // the command as yargs' default command, for which it does not. The hook counts those renderings in a fresh
    // process and fails loudly if yargs no longer has the function it wraps.
    const { mkdtemp, rm, writeFile } = await import('node:fs/promises');
    const os = await import('node:os');
    const { pathToFileURL } = await import('node:url');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-helpcache-'));
    try {
      const hooks = `export async function load(url, context, next) {
          const r = await next(url, context);
          if (!url.endsWith('/yargs/build/lib/usage.js')) return r;
          const src = String(r.source);
          const at = 'self.cacheHelpMessage = function () {';
          if (!src.includes(at)) throw new Error('yargs usage.js has no cacheHelpMessage');
          return { ...r, source: src.replace(at, at + ' globalThis.helpRenderings = (globalThis.helpRenderings ?? 0) + 1;') };
        }`;
      const setup = `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hooks)}`)});`;
      await writeFile(path.join(dir, 'm.json'), '{"schemaVersion":2}');
      const main = pathToFileURL(path.join(ROOT, '.build/src/cli/main.js')).href;
      const renderings = async (body: string) => {
        const r = await run(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(setup)}`, '--input-type=module', '-e', body], { cwd: dir });
        expect(r.code, r.stderr).to.equal(0);
        return r.stdout.trim().split('\n').pop();
      };
      const runs = `const { run } = await import(${JSON.stringify(main)});
        const codes = [await run(['manifest-digest', 'm.json']), await run(['--debug', 'manifest-digest', 'm.json']), await run(['inspect'])];
        console.log(JSON.stringify(codes), globalThis.helpRenderings ?? 0);`;
      expect(await renderings(runs)).to.equal('[0,0,1] 0');
      // the hook sees a rendering when yargs makes one: a command run by name
      const control = `const { default: yargs } = await import(${JSON.stringify(import.meta.resolve('yargs'))});
        await yargs(['x']).command('x', 'd', () => {}, () => {}).parseAsync();
        console.log(globalThis.helpRenderings ?? 0);`;
      expect(await renderings(control)).to.equal('1');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a flag that takes a value takes the next word even when it starts with "-", as skopeo (pflag) does', async function () {
    this.timeout(60_000);
    const dir = await cleanup.tempDir('cli-dash-value');
    const image = await buildImage(path.join(dir, 'img'), { seed: 71, layers: 1, layerSize: 100 });
    const src = `oci:${image.layoutDir}:${image.tag}`;
    for (const value of ['-x', '--help', '--', '-v']) {
      const f = await ferry(['inspect', '--format', value, src]);
      const s = await run('skopeo', ['inspect', '--format', value, src]);
      expect(s.code, s.stderr).to.equal(0);
      expect(f.code, f.stderr).to.equal(0);
      expect(f.stdout, value).to.equal(s.stdout).and.equal(`${value}\n`);
    }
    // global flags too, before the command
    const g = await ferry(['--override-variant', '-x', 'inspect', '--format', '{{.Digest}}', src]);
    expect(g.code, g.stderr).to.equal(0);
    // booleans still take no word; a value flag at the end is a usage error
    const b = await ferry(['inspect', '--no-tags', '--format', '-', src]);
    expect(b.code, b.stderr).to.equal(0);
    const missing = await ferry(['inspect', src, '--format']);
    expect(missing.code).to.equal(1);
    expect(missing.stderr).to.contain('Not enough arguments following: format');
  });

  it('runs as a real process through bin/ferry', async () => {
    const r = await ferryProcess(['--version']);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.equal(`ferry version ${VERSION}\n`);
  });
});

describe('cli/main --tmpdir and $TMPDIR', function () {
  this.timeout(60_000);
  const cleanup = useCleanup('after');
  let dir = '';
  let archive = '';
  let dockerArchive = '';

  before(async () => {
    dir = await cleanup.tempDir('ferry-tmpdir-');
    const img = await buildImage(path.join(dir, 'layout'), { seed: 21, tag: 'v1' });
    archive = path.join(dir, 'app.tar');
    dockerArchive = path.join(dir, 'app-docker.tar');
    await runOk('skopeo', ['--insecure-policy', 'copy', `oci:${img.layoutDir}:v1`, `oci-archive:${archive}:v1`]);
    await runOk('skopeo', ['--insecure-policy', 'copy', `oci:${img.layoutDir}:v1`, `docker-archive:${dockerArchive}:team/app:v1`]);
    await runOk('gzip', ['-k', dockerArchive]);
    await runOk('gzip', ['-k', archive]);
  });

  // A gzip'd archive (oci-archive or docker-archive; plain ones are read in place) is decompressed into a temporary
  // directory, removed afterwards: the directory it was made in is created if missing, and cannot be made inside a
  // regular file.
  it('puts the temporary files of archives where --tmpdir says, else in $TMPDIR', async () => {
    const viaFlag = path.join(dir, 'flag', 'tmp');
    const r = await ferry(['--tmpdir', viaFlag, 'inspect', `oci-archive:${archive}.gz:v1`]);
    expect(r.code, r.stderr).to.equal(0);
    expect(readdirSync(viaFlag)).to.deep.equal([]);

    const viaEnv = path.join(dir, 'env', 'tmp');
    const e = await ferry(['list-tags', `docker-archive:${dockerArchive}.gz`], { env: { TMPDIR: viaEnv } });
    expect(e.code, e.stderr).to.equal(0);
    expect(readdirSync(viaEnv)).to.deep.equal([]);

    // the flag wins over $TMPDIR; after the command name too (a global flag)
    const file = path.join(dir, 'not-a-dir');
    writeFileSync(file, '');
    const copy = await ferry(['copy', '--tmpdir', file, `docker-archive:${dockerArchive}.gz`, `dir:${path.join(dir, 'out')}`], { env: { TMPDIR: viaEnv } });
    expect(copy.code).to.equal(1);
    expect(copy.stderr.startsWith(`Error: creating a temporary directory in ${file}: `), copy.stderr).to.equal(true);
    expect(copy.stderr.trimEnd().split('\n')).to.have.length(1);
  });
});
