/**
 * What a pull killed with SIGKILL leaves in the store (staging directories, tar-split files; for vfs, a layer half
 * made from its parent): `ferry store prune` removes it once no live process owns it, and never while the pulling
 * process lives. Real processes: a `bin/ferry copy` stalled by the fault proxy, then killed.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FERRY_BIN, ferry, ferryProcess } from '../harness/cli.js';
import { startFaultProxy } from '../harness/fault-proxy.js';
import { buildImage, pushImage, type BuiltImage } from '../harness/images.js';
import { useRegistry } from '../harness/registry.js';
import { useCleanup } from '../harness/tmp.js';
import { isRoot, removeStore, tempStore } from './helpers.js';

/** Polls until `cond()` holds (20 s at most). */
async function until(what: string, cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const list = (dir: string) => {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
};

describe('store prune: leftovers of killed pulls (real processes, kill -9)', function () {
  this.timeout(120_000);
  const registry = useRegistry('http');
  const cleanup = useCleanup();
  let img: BuiltImage;
  let env: Record<string, string>;

  before(async () => {
    const home = await cleanup.tempDir('prune-kill');
    writeFileSync(join(home, 'empty.conf'), '');
    env = { HOME: home, CONTAINERS_REGISTRIES_CONF: join(home, 'empty.conf'), REGISTRY_AUTH_FILE: join(home, 'no-auth.json') };
    img = await buildImage(join(home, 'img'), { seed: 93, layers: 2, layerSize: 256 * 1024 });
    await pushImage(img, registry(), 'prune/img:v1');
  });

  for (const driver of ['vfs', 'overlay'] as const) {
    it(`${driver}: kept while the pulling process lives, removed by prune once it was killed; a re-run leaves nothing`, async function () {
      if (!isRoot) this.skip();
      const t = tempStore(`ferry-prune-${driver}-`);
      cleanup.defer(() => removeStore(t.dir));
      const flags = ['--root', t.G, '--runroot', t.R, '--storage-driver', driver];
      const dest = `containers-storage:[${driver}@${t.G}+${t.R}]example.com/prune:1`;
      const staging = join(t.G, driver, '.ferry-staging');
      const layersDir = join(t.G, `${driver}-layers`);
      const tarSplits = () => list(layersDir).filter((n) => n.endsWith('.tar-split.gz'));

      // The second layer's download hangs: the first one is staged meanwhile.
      const slow = `/v2/prune/img/blobs/${img.manifests[0]!.layers[1]!.digest}`;
      let stall = true;
      const proxy = cleanup.track(await startFaultProxy(registry().url, (req) => (stall && req.method === 'GET' && req.path === slow ? { kind: 'delay', ms: 60_000 } : undefined)));
      const src = `docker://${proxy.host}/prune/img:v1`;
      const child = spawn(process.execPath, [FERRY_BIN, 'copy', '--quiet', '--src-tls-verify=false', src, dest], { env: { ...process.env, ...env }, stdio: 'ignore' });
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, sig) => resolve(sig)));
      try {
        await until('a staged layer', () => proxy.requests.some((r) => r.path === slow) && list(staging).length > 0 && tarSplits().length > 0);
        const stagedWhileAlive = list(staging);
        const splitsWhileAlive = tarSplits();

        // Alive: prune leaves its work alone.
        const p1 = await ferry(['store', 'prune', ...flags]);
        expect(p1.code, p1.stderr).to.equal(0);
        expect(list(staging)).to.deep.equal(stagedWhileAlive);
        expect(tarSplits()).to.deep.equal(splitsWhileAlive);
      } finally {
        child.kill('SIGKILL');
      }
      expect(await exited).to.equal('SIGKILL');
      expect(list(staging)).to.not.deep.equal([]);
      expect(tarSplits()).to.not.deep.equal([]);

      // A half-made vfs layer and an unlocked staging directory of an older ferry (old enough to be abandoned).
      const legacy = join(staging, '0123456789abcdef0123456789abcdef');
      mkdirSync(join(legacy, 'diff'), { recursive: true });
      const old = new Date(Date.now() - 3600_000);
      utimesSync(legacy, old, old);
      if (driver === 'vfs') mkdirSync(join(t.G, 'vfs', 'dir', `${'a'.repeat(64)}.ferry-tmp`, 'etc'), { recursive: true });

      // Dead: prune removes it all.
      const p2 = await ferry(['store', 'prune', ...flags]);
      expect(p2.code, p2.stderr).to.equal(0);
      expect(list(staging)).to.deep.equal([]);
      expect(tarSplits()).to.deep.equal([]);
      if (driver === 'vfs') expect(list(join(t.G, 'vfs', 'dir'))).to.deep.equal([]);

      // The same pull again succeeds and leaves nothing staged.
      stall = false;
      const again = await ferryProcess(['copy', '--quiet', '--src-tls-verify=false', src, dest], { env });
      expect(again.code, again.stderr).to.equal(0);
      expect(list(staging)).to.deep.equal([]);
      expect(tarSplits().filter((n) => n.startsWith('.'))).to.deep.equal([]);
      expect(tarSplits()).to.have.length(2);
    });
  }
});
