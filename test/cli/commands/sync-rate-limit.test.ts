/**
 * `ferry sync` (the real bin/ferry) under registry rate limits, through the fault proxy: after a 429 with
 * `Retry-After: 2` no request reaches the registry for 2 s, while other images were being copied, and the sync
 * succeeds; `--max-requests-per-second HOST=5` keeps every second of the proxy's log to 5 requests (one of burst, two
 * of transport jitter); `copy --progress json` reports the wait.
 */
import { expect } from 'chai';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ferryProcess } from '../../harness/cli.js';
import { buildImage, pushImage } from '../../harness/images.js';
import { startFaultProxy, type Fault, type FaultProxy } from '../../harness/fault-proxy.js';
import { useRegistry } from '../../harness/registry.js';
import { useCleanup } from '../../harness/tmp.js';

describe('cli: ferry sync under registry rate limits (real bin/ferry, fault proxy)', function () {
  this.timeout(120_000);
  const registry = useRegistry('http');
  const cleanup = useCleanup();
  const repos = ['rl/a', 'rl/b'];
  const tags = ['v1', 'v2', 'v3'];
  let dir: string;
  let env: Record<string, string>;
  const proxies: FaultProxy[] = [];

  before(async () => {
    dir = await cleanup.tempDir('cli-sync-rate-limit');
    await writeFile(join(dir, 'empty.conf'), '');
    env = { CONTAINERS_REGISTRIES_CONF: join(dir, 'empty.conf'), HOME: dir };
    let seed = 700;
    for (const repo of repos) {
      for (const tag of tags) {
        const img = await buildImage(join(dir, 'img', repo, tag), { seed: seed++, layers: 2, layerSize: 1_000 });
        await pushImage(img, registry(), `${repo}:${tag}`);
      }
    }
  });

  afterEach(async () => {
    await Promise.all(proxies.splice(0).map((p) => p.stop()));
  });

  /** A sync.yaml naming `images` (repo → tags) on `host`. */
  async function yaml(name: string, host: string, images: Record<string, string[]>): Promise<string> {
    const file = join(dir, `${name}.yaml`);
    const lines = [`${host}:`, '  tls-verify: false', '  images:', ...Object.entries(images).map(([r, t]) => `    ${r}: [${t.join(', ')}]`)];
    await writeFile(file, lines.join('\n') + '\n');
    return file;
  }

  it('after a 429 with Retry-After: 2, no request reaches the registry for 2 s, and the sync succeeds', async () => {
    // The manifest read of rl/b is held until rl/a's 429 is written, and rl/a's 429 until rl/b's read arrived: at the 429,
    // rl/b's copy is under way, and every request it sends afterwards is held by the pause.
    let arrivedB!: () => void;
    const bArrived = new Promise<void>((resolve) => (arrivedB = resolve));
    let sentAt = 0;
    let sentIndex = 0;
    let sent429!: () => void;
    const aAnswered = new Promise<void>((resolve) => (sent429 = resolve));
    const tooMany: Fault = {
      kind: 'status', status: 429, headers: { 'retry-after': '2', 'content-type': 'application/json' },
      body: '{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}', after: bArrived,
      answering: () => {
        sentAt = Date.now();
        sentIndex = p.requests.length;
        sent429();
      },
    };
    const p = await startFaultProxy(registry().url, (r) => {
      if (r.method !== 'GET' || r.pathCount !== 1) return undefined;
      if (r.path === '/v2/rl/a/manifests/v1') return tooMany;
      if (r.path === '/v2/rl/b/manifests/v1') {
        arrivedB();
        return { kind: 'hold', until: aAnswered };
      }
      return undefined;
    });
    proxies.push(p);
    const file = await yaml('retry-after', p.host, { 'rl/a': ['v1'], 'rl/b': ['v1'] });
    const out = join(dir, 'out-retry-after');
    const r = await ferryProcess(['sync', '--src', 'yaml', '--dest', 'dir', '--parallel-images', '2', file, out], { env, timeoutMs: 90_000 });
    expect(r.code, r.stderr).to.equal(0);
    expect(sentAt).to.be.greaterThan(0);
    // every request logged once the 429 was being written
    const after = p.requests.slice(sentIndex);
    expect(after.length).to.be.greaterThan(2); // rl/a's retry and the rest of rl/b's copy
    for (const q of after) expect(q.at - sentAt, `${q.method} ${q.path}`).to.be.at.least(2000);
    expect(r.stderr).to.contain(`Waiting 2s for registry ${p.host}: it answered 429 (too many requests)`);
    expect(r.stderr).to.contain('Synced 2 images from 2 sources');
    expect((await readdir(out)).length).to.be.greaterThan(0);
  });

  it('--max-requests-per-second HOST=5: no second of the log holds more than 5 requests (and one of burst)', async () => {
    const p = await startFaultProxy(registry().url, () => undefined);
    proxies.push(p);
    const file = await yaml('rate', p.host, Object.fromEntries(repos.map((r) => [r, tags])));
    const out = join(dir, 'out-rate');
    const r = await ferryProcess(
      ['sync', '--src', 'yaml', '--dest', 'dir', '--parallel-images', '4', '--max-requests-per-second', `${p.host}=5`, '--max-requests-per-second', 'other.example:5000=1', file, out],
      { env, timeoutMs: 90_000 },
    );
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.contain('Synced 6 images from 2 sources');
    const times = p.requests.map((q) => q.at).sort((a, b) => a - b);
    expect(times.length).to.be.greaterThan(20);
    // ferry lets one request go every 200 ms (a bucket of one token); the log sees them when they arrive, which on a
    // busy machine can bunch up two that went on time behind one that was held up on its way (the allowance of 2)
    let most = 0;
    for (let i = 0; i < times.length; i++) most = Math.max(most, times.filter((t) => t >= times[i]! && t < times[i]! + 1000).length);
    expect(most).to.be.at.most(5 + 1 + 2);
    expect(times.at(-1)! - times[0]!).to.be.at.least(((times.length - 1 - 2) * 1000) / 5);
  });

  it('ferry copy --progress json reports the wait as a registry-wait object, then copies', async () => {
    const p = await startFaultProxy(registry().url, (r) =>
      r.method === 'GET' && r.path === '/v2/rl/a/manifests/v2' && r.pathCount === 1 ? { kind: 'status', status: 429, headers: { 'retry-after': '1' } } : undefined,
    );
    proxies.push(p);
    const r = await ferryProcess(['copy', '--src-tls-verify=false', '--progress', 'json', `docker://${p.host}/rl/a:v2`, `dir:${join(dir, 'out-copy')}`], { env, timeoutMs: 60_000 });
    expect(r.code, r.stderr).to.equal(0);
    const waits = r.stderr.split('\n').filter((l) => l.includes('"registry-wait"')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(waits).to.have.length(1);
    expect(waits[0]).to.include({ kind: 'registry-wait', host: p.host, reason: 'retry-after', status: 429 });
    expect(waits[0]!['ms']).to.equal(1000);
  });

  it('refuses a malformed --max-requests-per-second', async () => {
    const r = await ferryProcess(['sync', '--src', 'yaml', '--dest', 'dir', '--max-requests-per-second', 'host', join(dir, 'none.yaml'), join(dir, 'none')], { env });
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain('invalid --max-requests-per-second "host": expected HOST[:PORT]=N');
  });
});
