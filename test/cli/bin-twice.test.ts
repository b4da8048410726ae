/**
 * The real `bin/ferry`, started as users start it (a program found through its `#!` line), runs every command twice
 * in a row with one cache folder (`XDG_CACHE_HOME`) for both runs: whatever the first run leaves there for start-up
 * (Node's compile cache, Node ≥ 22.1) must not change what the second one does. Same exit status, output and written
 * files both times, and nothing on stderr but the command's own messages (no Node warnings). The in-process harness
 * (`ferry()`) skips bin/ferry and the bundle, so only these runs see launcher bugs. Real registries, gpg, store.
 */
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { COMMAND_NAMES } from '../../src/cli/command-names.js';
import { ferry, FERRY_BIN } from '../harness/cli.js';
import { buildImage, pushImage, type BuiltImage } from '../harness/images.js';
import { run } from '../harness/procs.js';
import { useRegistry, type TestRegistry } from '../harness/registry.js';
import { useCleanup } from '../harness/tmp.js';
import { makeGpgHome, type GpgHome } from '../signature/gpg-home.js';
import { isRoot, removeStore, tempStore } from '../store/helpers.js';

/** What the cases are built from (made once, in `before`). */
interface Fixture {
  reg: TestRegistry;
  basic: TestRegistry;
  dir: string;
  img: BuiltImage;
  gpg: GpgHome;
  fingerprint: string;
  manifest: string;
  signature: string;
  store: string[];
}

/** One command line, run twice. */
interface Case {
  args: string[];
  /** Resets what the previous run changed (run before each of the two runs). */
  prepare?: () => Promise<void>;
  stdin?: string;
  /** Run on a terminal (through script(1)), typing this line once the command asks for it. */
  typed?: { prompt: string; answer: string };
  /** The output lines may come in another order (layers are copied in parallel). */
  unordered?: boolean;
  /** Files the command writes: their contents are compared too. */
  files?: string[];
  env?: Record<string, string>;
  /** The expected exit status (default 0). */
  status?: number;
}

const REF = 'registry.example.com/twice/app:1';

/** The test suite's accept-anything policy (test/setup.ts): copy and sync never read the machine's policy.json. */
const testPolicy = () => process.env['FERRY_TEST_POLICY']!;

/** Each command, with the command name it covers (`--version` and `--help` as themselves). */
const CASES: Array<[covers: string, title: string, make: (f: Fixture) => Case]> = [
  ['inspect', 'inspect a registry image', (f) => ({ args: ['inspect', '--tls-verify=false', `docker://${f.reg.host}/twice/app:1`] })],
  ['inspect', 'inspect --raw', (f) => ({ args: ['inspect', '--raw', '--tls-verify=false', `docker://${f.reg.host}/twice/app:1`] })],
  [
    'copy',
    'copy --digestfile, registry to OCI layout',
    (f) => ({
      args: ['--policy', testPolicy(), 'copy', '--src-tls-verify=false', '--digestfile', path.join(f.dir, 'copy.digest'), `docker://${f.reg.host}/twice/app:1`, `oci:${path.join(f.dir, 'copy-out')}:x`],
      prepare: () => removeAll(path.join(f.dir, 'copy-out'), path.join(f.dir, 'copy.digest')),
      unordered: true,
      files: [path.join(f.dir, 'copy.digest')],
    }),
  ],
  [
    'sync',
    'sync --digestfile, registry to directory',
    (f) => ({
      args: ['--policy', testPolicy(), 'sync', '--src', 'docker', '--dest', 'dir', '--parallel-images', '1', '--src-tls-verify=false', '--digestfile', path.join(f.dir, 'sync.digest'), `${f.reg.host}/twice/app:1`, path.join(f.dir, 'sync-out')],
      prepare: () => removeAll(path.join(f.dir, 'sync-out'), path.join(f.dir, 'sync.digest')),
      unordered: true,
      files: [path.join(f.dir, 'sync.digest')],
    }),
  ],
  [
    'delete',
    'delete',
    (f) => ({
      args: ['delete', '--tls-verify=false', `docker://${f.reg.host}/twice/del:1`],
      prepare: () => pushImage(f.img, f.reg, 'twice/del:1'),
    }),
  ],
  ['list-tags', 'list-tags', (f) => ({ args: ['list-tags', '--tls-verify=false', `docker://${f.reg.host}/twice/app`] })],
  ['manifest-digest', 'manifest-digest', (f) => ({ args: ['manifest-digest', f.manifest] })],
  [
    'login',
    'login --password-stdin',
    (f) => ({
      args: ['login', '--authfile', path.join(f.dir, 'auth.json'), '--cert-dir', f.basic.certDir!, '-u', f.basic.username!, '--password-stdin', f.basic.host],
      stdin: `${f.basic.password!}\n`,
      prepare: () => removeAll(path.join(f.dir, 'auth.json')),
    }),
  ],
  [
    'login',
    'login asking for the username on the terminal',
    (f) => ({
      args: ['login', '--authfile', path.join(f.dir, 'auth.json'), '--cert-dir', f.basic.certDir!, '--password', f.basic.password!, f.basic.host],
      typed: { prompt: 'Username: ', answer: f.basic.username! },
      prepare: () => removeAll(path.join(f.dir, 'auth.json')),
    }),
  ],
  [
    'logout',
    'logout',
    (f) => ({
      args: ['logout', '--authfile', path.join(f.dir, 'auth.json'), f.basic.host],
      prepare: () => writeFile(path.join(f.dir, 'auth.json'), JSON.stringify({ auths: { [f.basic.host]: { auth: Buffer.from('u:p').toString('base64') } } })),
    }),
  ],
  [
    'standalone-sign',
    'standalone-sign',
    (f) => ({
      args: ['standalone-sign', f.manifest, REF, f.fingerprint, '--output', path.join(f.dir, 'signed.sig')],
      prepare: () => removeAll(path.join(f.dir, 'signed.sig')),
      env: f.gpg.env,
    }),
  ],
  ['standalone-verify', 'standalone-verify', (f) => ({ args: ['standalone-verify', f.manifest, REF, f.fingerprint, f.signature], env: f.gpg.env })],
  ['store', 'store images', (f) => ({ args: ['store', 'images', ...f.store] })],
  ['store', 'store inspect', (f) => ({ args: ['store', 'inspect', 'example.com/twice:1', ...f.store] })],
  ['untrusted-signature-dump-without-verification', 'untrusted-signature-dump-without-verification', (f) => ({ args: ['untrusted-signature-dump-without-verification', f.signature] })],
  [
    'generate-sigstore-key',
    'generate-sigstore-key',
    (f) => ({
      args: ['generate-sigstore-key', '--output-prefix', path.join(f.dir, 'sigstore'), '--passphrase-file', f.manifest],
      prepare: () => removeAll(path.join(f.dir, 'sigstore.pub'), path.join(f.dir, 'sigstore.private')),
    }),
  ],
  ['completion', 'completion bash', () => ({ args: ['completion', 'bash'] })],
  [
    'verify-archive',
    'verify-archive of an OCI archive',
    (f) => ({
      args: ['verify-archive', path.join(f.dir, 'twice.tar')],
      prepare: async () => {
        if (existsSync(path.join(f.dir, 'twice.tar'))) return;
        const c = await ferry(['copy', '--quiet', `oci:${f.img.layoutDir}:latest`, `oci-archive:${path.join(f.dir, 'twice.tar')}:twice/app:1`]);
        expect(c.code, c.stderr).to.equal(0);
      },
    }),
  ],
  ['--version', '--version', () => ({ args: ['--version'] })],
  ['--help', '--help', () => ({ args: ['--help'] })],
  ['copy', 'copy without arguments: a usage error', () => ({ args: ['copy'], status: 1 })],
];

async function removeAll(...paths: string[]): Promise<void> {
  for (const p of paths) await rm(p, { recursive: true, force: true });
}

/** A shell word for `s`. */
const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Runs `bin/ferry args` on a pseudo-terminal (script(1)), types `answer` and Enter once `prompt` was printed; the
 * terminal's output (stdout and stderr of ferry, `\r\n` line ends) and the exit status.
 */
function runOnTerminal(args: string[], env: NodeJS.ProcessEnv, typed: { prompt: string; answer: string }): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', [FERRY_BIN, ...args].map(quote).join(' '), '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    let answered = false;
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString('utf8');
      if (!answered && output.includes(typed.prompt)) {
        answered = true;
        child.stdin.write(`${typed.answer}\r`);
      }
    });
    child.stderr.on('data', (d: Buffer) => (output += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => {
      child.stdin.destroy();
      resolve({ code, output });
    });
  });
}

describe('bin/ferry: every command twice in a row, one cache folder (real processes)', function () {
  this.timeout(120_000);
  const cleanup = useCleanup('after');
  const reg = useRegistry('http');
  const basic = useRegistry('basic');
  let f: Fixture;
  let env: Record<string, string | undefined>;
  let storeDir: string | undefined;

  before(async () => {
    const dir = await cleanup.tempDir('bin-twice');
    const img = await buildImage(path.join(dir, 'img'), { seed: 81, layers: 2, layerSize: 2048 });
    await pushImage(img, reg(), 'twice/app:1');
    const gpg = await makeGpgHome(cleanup, 'bin-twice-gpg');
    const fingerprint = await gpg.generateKey('Twice <twice@example.com>');
    const manifest = path.join(dir, 'manifest.json');
    await writeFile(manifest, img.bytes);
    const signature = path.join(dir, 'made.sig');
    const s = await ferry(['standalone-sign', manifest, REF, fingerprint, '--output', signature], { env: gpg.env });
    expect(s.code, s.stderr).to.equal(0);
    let store: string[] = [];
    if (isRoot) {
      const t = tempStore('bin-twice-store-');
      storeDir = t.dir;
      store = ['--root', t.G, '--runroot', t.R, '--storage-driver', 'vfs'];
      const c = await ferry(['copy', '--quiet', `oci:${img.layoutDir}:latest`, `containers-storage:[vfs@${t.G}+${t.R}]example.com/twice:1`]);
      expect(c.code, c.stderr).to.equal(0);
    }
    f = { reg: reg(), basic: basic(), dir, img, gpg, fingerprint, manifest, signature, store };
    const registriesConf = path.join(dir, 'registries.conf');
    await writeFile(registriesConf, '');
    env = {
      // one cache for every run; nothing that would move or turn off Node's compile cache
      XDG_CACHE_HOME: path.join(dir, 'cache'),
      NODE_COMPILE_CACHE: undefined,
      NODE_DISABLE_COMPILE_CACHE: undefined,
      NODE_OPTIONS: undefined,
      // bin/ferry's `#!/usr/bin/env node` finds the Node that runs these tests
      PATH: `${path.dirname(process.execPath)}:${process.env['PATH'] ?? ''}`,
      REGISTRY_AUTH_FILE: path.join(dir, 'no-auth.json'),
      CONTAINERS_REGISTRIES_CONF: registriesConf,
    };
  });
  after(() => {
    if (storeDir !== undefined) removeStore(storeDir);
  });

  /** One run: exit status, output and the files the command wrote. */
  async function once(c: Case): Promise<{ code: number | null; stdout: string; stderr: string; files: string[] }> {
    await c.prepare?.();
    const e = { ...env, ...c.env };
    let r: { code: number | null; stdout: string; stderr: string };
    if (c.typed) {
      const t = await runOnTerminal(c.args, Object.fromEntries(Object.entries(e).filter(([, v]) => v !== undefined)), c.typed);
      // Typed before ferry's line reader has the terminal in raw mode, the answer is echoed by the terminal and then
      // again by the line reader: the same line twice, or once, depending on timing.
      const { prompt, answer } = c.typed;
      const output = t.output.replace(/\r/g, '').replace(`${prompt}${answer}\n${answer}\n`, `${prompt}${answer}\n`);
      r = { code: t.code, stdout: output, stderr: '' };
    } else {
      r = await run(FERRY_BIN, c.args, { env: e, input: c.stdin, timeoutMs: 60_000 });
    }
    const files = await Promise.all((c.files ?? []).map((p) => readFile(p, 'utf8').catch(() => '(missing)')));
    const lines = (s: string) => (c.unordered ? s.split('\n').sort().join('\n') : s);
    return { code: r.code, stdout: lines(r.stdout), stderr: lines(r.stderr), files };
  }

  for (const [covers, title, make] of CASES) {
    it(`${title} (ferry ${covers})`, async function () {
      if (covers === 'store' && !isRoot) this.skip(); // the store's image is put there as root
      const c = make(f);
      const first = await once(c);
      const second = await once(c);
      expect(first.code, first.stdout + first.stderr).to.equal(c.status ?? 0);
      expect(second, 'the second run, with the cache of the first').to.deep.equal(first);
      const all = first.stdout + first.stderr;
      // Node's own warnings start with `(node:PID)`; ferry's start with `Warning: ` and are its output.
      expect(all).not.to.match(/\(node:\d+\)|ExperimentalWarning|DeprecationWarning|dynamic import/);
      if (c.status === 1) expect(first.stderr).to.match(/^Error: /m);
      for (const content of first.files) expect(content).not.to.equal('(missing)');
    });
  }

  it('the digest files hold the copied digest, the prompt got the typed username', async () => {
    expect(await readFile(path.join(f.dir, 'copy.digest'), 'utf8')).to.equal(f.img.digest);
    expect(await readFile(path.join(f.dir, 'sync.digest'), 'utf8')).to.contain(f.img.digest);
    const t = await once(CASES.find(([, title]) => title.includes('terminal'))![2](f));
    expect(t.stdout).to.equal(`Username: ${f.basic.username!}\nLogin Succeeded!\n`);
  });

  it('covers every command', () => {
    const covered = new Set(CASES.map(([c]) => c));
    for (const name of [...COMMAND_NAMES, '--version', '--help']) expect(covered, name).to.include(name);
  });
});
