/**
 * Real `bin/ferry copy` processes killed mid-blob: kill -9 then a second run continues the partial download with a
 * Range request and produces the same image as a clean copy; SIGINT aborts with `Error: interrupted` (130) and
 * commits nothing.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { partialFileName } from '../../src/copy/partial.js';
import { OCI_PARTIAL_DIR } from '../../src/transports/shared/partial-downloads.js';
import { hashFile } from '../../src/util/verify-stream.js';
import { FERRY_BIN, ferryProcess, withTestPolicy } from '../harness/cli.js';
import { startFaultProxy, type Fault, type FaultProxy } from '../harness/fault-proxy.js';
import { buildImage, pushImage, type BuiltImage } from '../harness/images.js';
import { runOk } from '../harness/procs.js';
import { useRegistry } from '../harness/registry.js';
import { useCleanup } from '../harness/tmp.js';
import { entries, exists, layoutBlob, layoutIndex } from './helpers.js';

interface Running {
  /** Resolves with the exit code (null if killed) and stderr. */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
  kill(sig: NodeJS.Signals): void;
}

/** Starts `bin/ferry args…` as a real process. */
function startFerry(args: string[], env: Record<string, string>): Running {
  const child = spawn(process.execPath, [FERRY_BIN, ...withTestPolicy(args)], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  const err: Buffer[] = [];
  child.stderr.on('data', (b: Buffer) => err.push(b));
  const guard = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal, stderr: Buffer.concat(err).toString('utf8') });
    });
  });
  return { done, kill: (sig) => child.kill(sig) };
}

/** Polls until `cond()` holds (10 s at most). */
async function until(what: string, cond: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('copy: killed ferry processes (real registry, fault proxy)', function () {
  this.timeout(60_000);
  const registry = useRegistry('http');
  const cleanup = useCleanup();
  let img: BuiltImage;
  let layer: { digest: string; size: number };
  let env: Record<string, string>;
  let home: string;

  before(async () => {
    home = await cleanup.tempDir('kill');
    await writeFile(join(home, 'empty.conf'), '');
    env = { HOME: home, CONTAINERS_REGISTRIES_CONF: join(home, 'empty.conf'), REGISTRY_AUTH_FILE: join(home, 'no-auth.json') };
    img = await buildImage(join(home, 'img'), { seed: 81, layers: 1, layerSize: 3 * 1024 * 1024 });
    layer = img.manifests[0]!.layers[0]!;
    await pushImage(img, registry(), 'kill/img:v1');
  });

  // docker-archive destinations first peek at each gzip layer's last 4 bytes (its uncompressed size): not counted.
  const isPeek = (h: Record<string, string | string[] | undefined>) => h['range'] === `bytes=${layer.size - 4}-`;
  async function proxyFor(onLayerGet: (n: number) => Fault | undefined): Promise<FaultProxy> {
    const path = `/v2/kill/img/blobs/${layer.digest}`;
    let n = 0;
    return cleanup.track(await startFaultProxy(registry().url, (req) => (req.method === 'GET' && req.path === path && !isPeek(req.headers) ? onLayerGet(++n) : undefined)));
  }
  const layerGets = (p: FaultProxy) => p.requests.filter((r) => r.method === 'GET' && r.path.endsWith(`/blobs/${layer.digest}`) && !isPeek(r.headers));
  const copyArgs = (src: string, dest: string) => ['copy', '--quiet', '--src-tls-verify=false', '--retry-delay', '10ms', src, dest];

  it('kill -9 mid-blob, then the same copy again: continues with a Range request; same image as a clean copy', async () => {
    // First run: the layer stream is cut after 1 MiB, and the retry then hangs until the process is killed.
    let stall = true;
    const proxy = await proxyFor((n) => (!stall ? undefined : n === 1 ? { kind: 'cut', afterBytes: 1 << 20 } : { kind: 'delay', ms: 30_000 }));
    const dest = await cleanup.tempDir('kill-oci');
    const partial = join(dest, OCI_PARTIAL_DIR, partialFileName(layer.digest));
    const first = startFerry(copyArgs(`docker://${proxy.host}/kill/img:v1`, `oci:${dest}:v1`), env);
    await until('the stalled retry', () => layerGets(proxy).length >= 2).catch(async (e: Error) => {
      first.kill('SIGKILL');
      throw new Error(`${e.message}; ferry said: ${(await first.done).stderr}`);
    });
    const kept = (await stat(partial)).size;
    expect(kept).to.be.greaterThan(0).and.lessThan(layer.size);
    first.kill('SIGKILL');
    const r1 = await first.done;
    expect(r1.signal).to.equal('SIGKILL');
    // Nothing committed; the partial survives.
    expect((await exists(join(dest, 'index.json'))) ? (await layoutIndex(dest)).manifests : []).to.deep.equal([]);
    expect((await stat(partial)).size).to.equal(kept);

    stall = false;
    const before = layerGets(proxy).length;
    const r2 = await ferryProcess(copyArgs(`docker://${proxy.host}/kill/img:v1`, `oci:${dest}:v1`), { env });
    expect(r2.code, r2.stderr).to.equal(0);
    const again = layerGets(proxy).slice(before);
    expect(again).to.have.length(1);
    expect(again[0]!.headers['range']).to.equal(`bytes=${kept}-`);

    // Byte-identical to the source image: manifest bytes as skopeo reads them, and the layer's digest.
    const raw = await runOk('skopeo', ['inspect', '--raw', `oci:${dest}:v1`], { env, timeoutMs: 30_000 });
    expect(raw.stdoutBytes.equals(img.bytes)).to.equal(true);
    expect((await hashFile(layoutBlob(dest, layer.digest))).digest).to.equal(layer.digest);
    expect(await exists(join(dest, OCI_PARTIAL_DIR))).to.equal(false);
  });

  it('docker-archive: a failing download is kept from the failure offset; after kill -9 only the bytes before it are fetched again', async () => {
    // The destination decompresses, so a fast blob gets no partial file (it would be a second copy on disk); a
    // stream that fails is kept from where it failed: cut at 1 MiB, then 512 KiB more arrive and are kept, then
    // the next retry hangs until the process is killed.
    let stall = true;
    const proxy = await proxyFor((n) => (!stall ? undefined : n === 1 ? { kind: 'cut', afterBytes: 1 << 20 } : n === 2 ? { kind: 'cut', afterBytes: 512 << 10 } : { kind: 'delay', ms: 30_000 }));
    const parent = await cleanup.tempDir('kill-archive');
    const archive = join(parent, 'img.tar');
    const partial = join(parent, '.img.tar.ferry-partial', partialFileName(layer.digest));
    const dest = `docker-archive:${archive}:example.com/img:v1`;
    const first = startFerry(copyArgs(`docker://${proxy.host}/kill/img:v1`, dest), env);
    await until('the stalled retry', () => layerGets(proxy).length >= 3).catch(async (e: Error) => {
      first.kill('SIGKILL');
      throw new Error(`${e.message}; ferry said: ${(await first.done).stderr}`);
    });
    await until('the kept bytes', async () => (await stat(partial).catch(() => undefined))?.size === 512 << 10);
    expect((await readFile(`${partial}.start`, 'utf8')).trim()).to.equal(String(1 << 20));
    first.kill('SIGKILL');
    expect((await first.done).signal).to.equal('SIGKILL');
    expect(await exists(archive)).to.equal(false);

    stall = false;
    const before = layerGets(proxy).length;
    const r2 = await ferryProcess(copyArgs(`docker://${proxy.host}/kill/img:v1`, dest), { env });
    expect(r2.code, r2.stderr).to.equal(0);
    // The first MiB again (a plain GET, closed at the kept file's start), then the rest after the kept bytes.
    const again = layerGets(proxy).slice(before);
    expect(again.map((g) => g.headers['range'])).to.deep.equal([undefined, `bytes=${(1 << 20) + (512 << 10)}-`]);
    // The archive holds the image (skopeo reads it: same config), and nothing else is left: not the partial, nor
    // the killed run's staging directory with its temp archive (its owner lock was free: the second run removed it).
    expect(await entries(parent)).to.deep.equal(['img.tar']);
    const cfg = await runOk('skopeo', ['inspect', '--config', '--raw', `docker-archive:${archive}`], { env, timeoutMs: 30_000 });
    expect(cfg.stdoutBytes.equals(img.manifests[0]!.config)).to.equal(true);
    expect(await exists(join(parent, '.img.tar.ferry-partial'))).to.equal(false);
  });

  it('SIGINT mid-blob: exit 130, one line "Error: interrupted", no archive and nothing left beside it', async () => {
    const proxy = await proxyFor(() => ({ kind: 'delay', ms: 30_000 }));
    const parent = await cleanup.tempDir('kill-int');
    const archive = join(parent, 'img.tar');
    const run = startFerry(copyArgs(`docker://${proxy.host}/kill/img:v1`, `docker-archive:${archive}:example.com/img:v1`), env);
    await until('the layer request', () => layerGets(proxy).length >= 1);
    await sleep(50);
    const t0 = Date.now();
    run.kill('SIGINT');
    const r = await run.done;
    expect(Date.now() - t0, 'exits promptly').to.be.lessThan(5_000);
    expect(r.code, r.stderr).to.equal(130);
    expect(r.stderr).to.equal('Error: interrupted\n');
    expect(await entries(parent)).to.deep.equal([]);
  });

  it('SIGINT mid-blob into oci: leaves index.json without the image', async () => {
    const proxy = await proxyFor(() => ({ kind: 'delay', ms: 30_000 }));
    const dest = await cleanup.tempDir('kill-int-oci');
    const run = startFerry(copyArgs(`docker://${proxy.host}/kill/img:v1`, `oci:${dest}:v1`), env);
    await until('the layer request', () => layerGets(proxy).length >= 1);
    run.kill('SIGINT');
    const r = await run.done;
    expect(r.code, r.stderr).to.equal(130);
    expect(r.stderr).to.equal('Error: interrupted\n');
    expect((await exists(join(dest, 'index.json'))) ? (await layoutIndex(dest)).manifests : []).to.deep.equal([]);
    expect(await exists(join(dest, OCI_PARTIAL_DIR))).to.equal(false);
    expect((await readdir(join(dest, 'blobs', 'sha256')).catch(() => [] as string[])).filter((n) => n.includes('.tmp'))).to.deep.equal([]);
  });
});
