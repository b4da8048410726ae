/**
 * Crash safety of `dir:` destinations: the real `bin/ferry copy` process is SIGKILLed by strace exactly on entry
 * to its k-th rename or unlink (the call is not carried out), for every k of a whole copy. strace counts calls
 * per thread, so the process runs with one libuv worker thread (UV_THREADPOOL_SIZE=1), which makes every
 * asynchronous file-system call of a run happen on one thread, in a fixed count. Whatever k, the
 * directory then holds the old image, no image, or the new image — never a mix — and running the same copy again
 * replaces it.
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FERRY_BIN, ferryProcess } from '../../harness/cli.js';
import { buildImage, pushImage } from '../../harness/images.js';
import { run } from '../../harness/procs.js';
import { useRegistry } from '../../harness/registry.js';
import { useCleanup } from '../../harness/tmp.js';

const CALLS = 'rename,renameat,renameat2,unlink,unlinkat';
const sha256 = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

describe('dir: destination killed at every rename and unlink (strace, real bin/ferry)', function () {
  this.timeout(300_000);
  const registry = useRegistry('http');
  const cleanup = useCleanup();
  let home: string;
  let env: Record<string, string>;
  const digests: Record<'old' | 'new', string> = { old: '', new: '' };

  before(async () => {
    home = await cleanup.tempDir('dir-crash');
    await writeFile(join(home, 'empty.conf'), '');
    env = { HOME: home, CONTAINERS_REGISTRIES_CONF: join(home, 'empty.conf'), REGISTRY_AUTH_FILE: join(home, 'no-auth.json') };
    for (const [name, seed] of [['old', 95], ['new', 96]] as const) {
      const img = await buildImage(join(home, `src-${name}`), { seed, layers: 2, layerSize: 4096 });
      await pushImage(img, registry(), `crash/${name}:v1`);
      digests[name] = img.manifests[0]!.digest;
    }
  });

  const copyArgs = (name: string, dir: string) => ['copy', '--quiet', '--src-tls-verify=false', `docker://${registry().host}/crash/${name}:v1`, `dir:${dir}`];

  /** Runs the copy under strace, killed on entry to its k-th traced call (0: not killed); returns how many calls it made. */
  async function tracedCopy(dir: string, k: number): Promise<{ calls: number; killed: boolean }> {
    const log = join(home, 'strace.log');
    const inject = k > 0 ? ['-e', `inject=${CALLS}:signal=SIGKILL:when=${k}`] : [];
    const r = await run('strace', ['-f', '-qq', '-o', log, '-e', `trace=${CALLS}`, ...inject, process.execPath, FERRY_BIN, ...copyArgs('new', dir)], {
      env: { ...env, UV_THREADPOOL_SIZE: '1' },
      timeoutMs: 60_000,
    });
    const perThread = new Map<string, number>();
    for (const line of (await readFile(log, 'utf8')).split('\n')) {
      const m = /^(\d+)\s+(rename|renameat2?|unlink|unlinkat)\(/.exec(line);
      if (m) perThread.set(m[1]!, (perThread.get(m[1]!) ?? 0) + 1);
    }
    const calls = Math.max(0, ...perThread.values());
    if (k === 0) expect(r.code, r.stderr).to.equal(0);
    return { calls, killed: r.code !== 0 };
  }

  /** Which image the directory holds: 'old', 'new' or 'none'; fails for a manifest whose blobs are not all there. */
  async function state(dir: string): Promise<'old' | 'new' | 'none'> {
    const bytes = await readFile(join(dir, 'manifest.json')).catch(() => undefined);
    if (bytes === undefined) return 'none';
    const digest = sha256(bytes);
    const which = digest === digests.old ? 'old' : digest === digests.new ? 'new' : undefined;
    expect(which, `manifest.json is neither image (${digest})`).to.not.equal(undefined);
    const m = JSON.parse(bytes.toString('utf8')) as { config: { digest: string; size: number }; layers: { digest: string; size: number }[] };
    for (const d of [m.config, ...m.layers]) {
      const st = await stat(join(dir, d.digest.slice(7))).catch(() => undefined);
      expect(st?.size, `${which} image: blob ${d.digest}`).to.equal(d.size);
    }
    return which!;
  }

  for (const start of ['empty', 'old'] as const) {
    it(`into ${start === 'empty' ? 'a new directory' : 'a directory holding another image'}: old, nothing or new after every kill; a re-run replaces it`, async () => {
      const prepare = async (dir: string) => {
        if (start === 'old') {
          const r = await ferryProcess(copyArgs('old', dir), { env, timeoutMs: 60_000 });
          expect(r.code, r.stderr).to.equal(0);
        }
      };
      const probe = join(home, `probe-${start}`);
      await prepare(probe);
      const { calls } = await tracedCopy(probe, 0);
      expect(calls).to.be.greaterThan(3);
      const seen = new Set<string>();
      for (let k = 1; k <= calls; k++) {
        const dir = join(home, `${start}-${k}`);
        await prepare(dir);
        const { killed } = await tracedCopy(dir, k);
        const s = await state(dir);
        if (killed) expect(s === 'new' || s === 'none' || (start === 'old' && s === 'old'), `killed at call ${k}: ${s}`).to.equal(true);
        seen.add(s);
        const again = await ferryProcess(copyArgs('new', dir), { env, timeoutMs: 60_000 });
        expect(again.code, `re-run after a kill at call ${k}: ${again.stderr}`).to.equal(0);
        expect(await state(dir)).to.equal('new');
        await run('rm', ['-rf', dir]);
      }
      expect(seen.has('none') || seen.has('old')).to.equal(true);
    });
  }
});
