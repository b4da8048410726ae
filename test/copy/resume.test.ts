/**
 * Resumable blob copies through a real registry behind the fault proxy (in-process): a cut stream continues with a
 * Range request, retries are bounded and named, non-retryable answers fail at once, partial downloads of an earlier
 * run are picked up, wrong ones discarded, stale ones aged out; corrupted registry storage fails every destination
 * without leaving anything that looks like an image.
 */
import { expect } from 'chai';
import { mkdir, readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode } from '../../src/errors.js';
import type { CopyPhase } from '../../src/copy/options.js';
import { partialFileName, partialLocationFor } from '../../src/copy/partial.js';
import { OCI_PARTIAL_DIR } from '../../src/transports/shared/partial-downloads.js';
import { parseImageName } from '../../src/transports/registry.js';
import type { SystemContext } from '../../src/types/context.js';
import { hashFile } from '../../src/util/verify-stream.js';
import { ferry } from '../harness/cli.js';
import { startFaultProxy, type Fault, type FaultProxy, type FaultRequest } from '../harness/fault-proxy.js';
import { buildImage, layoutBlobPath, pushImage, type BuiltImage } from '../harness/images.js';
import { runOk } from '../harness/procs.js';
import { registryBlobPath, useRegistry } from '../harness/registry.js';
import { useCleanup } from '../harness/tmp.js';
import { copy, entries, exists, layoutBlob, layoutIndex, rejection } from './helpers.js';

/** Where a copy into `name` keeps partial downloads: where its destination asks for them. */
async function partialDirOf(name: string, ctx: SystemContext = {}): Promise<string> {
  const dest = await parseImageName(name).newImageDestination(ctx);
  try {
    return partialLocationFor(dest, ctx).dir;
  } finally {
    await dest.close();
  }
}

describe('copy: resumable blobs (fault proxy, real registry)', function () {
  this.timeout(60_000);
  const registry = useRegistry('http');
  const destRegistry = useRegistry('http');
  const cleanup = useCleanup();
  let img: BuiltImage;
  let layer: { digest: string; size: number };
  let ctx: SystemContext;
  let home: string;

  before(async () => {
    home = await cleanup.tempDir('resume');
    await writeFile(join(home, 'empty.conf'), '');
    ctx = { registriesConf: join(home, 'empty.conf'), homeDir: home, noCreds: true, tlsVerify: false, retryDelayMs: 5 };
    img = await buildImage(join(home, 'img'), { seed: 71, layers: 1, layerSize: 1_500_000 });
    layer = img.manifests[0]!.layers[0]!;
    await pushImage(img, registry(), 'res/img:v1');
  });

  /** A proxy in front of the source registry whose rule sees only GETs of the big layer (with their number). */
  async function proxyFor(onLayerGet: (n: number, req: FaultRequest) => Fault | undefined): Promise<FaultProxy> {
    const path = `/v2/res/img/blobs/${layer.digest}`;
    return cleanup.track(
      await startFaultProxy(registry().url, (req) => (req.method === 'GET' && req.path === path ? onLayerGet(req.pathCount, req) : undefined)),
    );
  }
  const layerGets = (p: FaultProxy) => p.requests.filter((r) => r.method === 'GET' && r.path.endsWith(`/blobs/${layer.digest}`));
  const rangeStart = (r: { headers: Record<string, string | string[] | undefined> }) => {
    const m = /^bytes=(\d+)-$/.exec(String(r.headers['range'] ?? ''));
    return m ? Number(m[1]) : undefined;
  };

  it('a stream cut mid-blob continues with a Range request from the offset reached; the result is whole', async () => {
    const cut = 600_000;
    const proxy = await proxyFor((n) => (n === 1 ? { kind: 'cut', afterBytes: cut } : undefined));
    const dest = await cleanup.tempDir('resume-cut');
    const phases: CopyPhase[] = [];
    const r = await copy(`docker://${proxy.host}/res/img:v1`, `oci:${dest}:v1`, { srcCtx: ctx, onPhase: (p) => phases.push(p) });
    expect(r.digest).to.equal(img.digest);
    const gets = layerGets(proxy);
    expect(gets).to.have.length(2);
    expect(rangeStart(gets[0]!)).to.equal(undefined);
    const from = rangeStart(gets[1]!);
    expect(from, 'second GET carries Range').to.be.a('number');
    expect(from!).to.be.greaterThan(cut / 2).and.at.most(cut);
    expect(layer.size - from!, 'bytes sent again').to.be.lessThan(layer.size * 0.7);
    expect(phases.find((p) => p.kind === 'blob-resume')).to.deep.include({ kind: 'blob-resume', digest: layer.digest, offset: from, attempt: 1 });
    expect((await hashFile(layoutBlob(dest, layer.digest))).digest).to.equal(layer.digest);
    // The partial was removed once the blob was in the layout, and the empty partial directory with it.
    expect(await exists(join(dest, OCI_PARTIAL_DIR))).to.equal(false);
  });

  it('retries are bounded: every stream cut → fails naming the blob and the attempts; nothing committed', async () => {
    const proxy = await proxyFor(() => ({ kind: 'cut', afterBytes: 400_000 }));
    const dest = await cleanup.tempDir('resume-exhaust');
    const e = await rejection(copy(`docker://${proxy.host}/res/img:v1`, `oci:${dest}:v1`, { srcCtx: { ...ctx, retryTimes: 2 } }));
    expect(e.code).to.equal(ErrorCode.Network);
    expect(e.message).to.include(layer.digest).and.include('giving up after 3 attempts');
    expect(layerGets(proxy)).to.have.length(3);
    // Each attempt continued where the previous one stopped.
    const starts = layerGets(proxy).map((g) => rangeStart(g) ?? 0);
    expect(starts[1]!).to.be.greaterThan(0);
    expect(starts[2]!).to.be.greaterThan(starts[1]!);
    expect(await exists(join(dest, 'index.json')) ? (await layoutIndex(dest)).manifests : []).to.deep.equal([]);
  });

  it('a non-retryable answer on the resume (404) fails at once', async () => {
    const proxy = await proxyFor((n) => (n === 1 ? { kind: 'cut', afterBytes: 200_000 } : { kind: 'status', status: 404, body: '{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}', headers: { 'content-type': 'application/json' } }));
    const dest = await cleanup.tempDir('resume-404');
    const e = await rejection(copy(`docker://${proxy.host}/res/img:v1`, `oci:${dest}:v1`, { srcCtx: { ...ctx, retryTimes: 5 } }));
    expect(e.code).to.equal(ErrorCode.NotFound);
    expect(e.message).to.include(layer.digest);
    expect(layerGets(proxy)).to.have.length(2);
  });

  it('a partial download of an earlier run is continued with a Range request', async () => {
    const proxy = await proxyFor(() => undefined);
    const dest = await cleanup.tempDir('resume-partial');
    const pdir = await partialDirOf(`oci:${dest}:v1`);
    expect(pdir).to.equal(join(dest, OCI_PARTIAL_DIR));
    await mkdir(pdir, { recursive: true });
    const prefix = (await readFile(layoutBlobPath(img.layoutDir, layer.digest))).subarray(0, 900_000);
    await writeFile(join(pdir, partialFileName(layer.digest)), prefix);
    const phases: CopyPhase[] = [];
    const r = await copy(`docker://${proxy.host}/res/img:v1`, `oci:${dest}:v1`, { srcCtx: ctx, onPhase: (p) => phases.push(p) });
    expect(r.digest).to.equal(img.digest);
    const gets = layerGets(proxy);
    expect(gets).to.have.length(1);
    expect(rangeStart(gets[0]!)).to.equal(900_000);
    expect(phases).to.deep.include({ kind: 'blob-resume', digest: layer.digest, offset: 900_000, attempt: 0 });
    expect((await hashFile(layoutBlob(dest, layer.digest))).digest).to.equal(layer.digest);
    expect(await exists(pdir)).to.equal(false);
  });

  it('a complete but wrong partial is discarded and the blob fetched once more from zero; stale partials are aged out', async () => {
    const proxy = await proxyFor(() => undefined);
    const dest = await cleanup.tempDir('resume-wrong');
    const pdir = join(dest, OCI_PARTIAL_DIR);
    await mkdir(pdir, { recursive: true });
    const wrong = await readFile(layoutBlobPath(img.layoutDir, layer.digest));
    wrong[1000] ^= 0xff;
    await writeFile(join(pdir, partialFileName(layer.digest)), wrong);
    const stale = join(pdir, `sha256-${'ab'.repeat(32)}`);
    await writeFile(stale, 'old');
    const old = new Date(Date.now() - 8 * 24 * 3600 * 1000);
    await utimes(stale, old, old);
    const fresh = join(pdir, `sha256-${'cd'.repeat(32)}`);
    await writeFile(fresh, 'recent');
    const r = await copy(`docker://${proxy.host}/res/img:v1`, `oci:${dest}:v1`, { srcCtx: ctx });
    expect(r.digest).to.equal(img.digest);
    const gets = layerGets(proxy);
    expect(gets, 'one GET, from zero').to.have.length(1);
    expect(rangeStart(gets[0]!)).to.equal(undefined);
    expect((await hashFile(layoutBlob(dest, layer.digest))).digest).to.equal(layer.digest);
    expect(await readdir(pdir)).to.deep.equal([`sha256-${'cd'.repeat(32)}`]);
  });

  describe('corrupted blob in registry storage', () => {
    let bad: BuiltImage;
    let badLayer: string;
    let original: Buffer;

    before(async () => {
      bad = await buildImage(join(home, 'bad'), { seed: 72, layers: 1, layerSize: 200_000 });
      badLayer = bad.manifests[0]!.layers[0]!.digest;
      await pushImage(bad, registry(), 'res/bad:v1');
      const p = registryBlobPath(registry(), badLayer);
      original = await readFile(p);
      const tampered = Buffer.from(original);
      for (let i = 5000; i < 5008; i++) tampered[i] ^= 0x5a;
      await writeFile(p, tampered);
    });
    after(async () => {
      await writeFile(registryBlobPath(registry(), badLayer), original);
    });

    const args = (dest: string) => ['copy', '--quiet', '--src-tls-verify=false', '--dest-tls-verify=false', '--retry-delay', '5ms', `docker://${registry().host}/res/bad:v1`, dest];
    const env = () => ({ HOME: home, CONTAINERS_REGISTRIES_CONF: join(home, 'empty.conf'), REGISTRY_AUTH_FILE: join(home, 'no-auth.json') });

    async function expectFailure(dest: string): Promise<void> {
      const r = await ferry(args(dest), { env: env() });
      expect(r.code, r.stderr).to.equal(1);
      expect(r.stderr.trimEnd().split('\n'), r.stderr).to.have.length(1);
      expect(r.stderr, r.stderr).to.match(/^Error: .*digest mismatch/).and.include(badLayer);
    }

    it('oci: and dir: — exit 1 naming the blob; no index entry, no manifest.json/version, no partials', async () => {
      const oci = await cleanup.tempDir('bad-oci');
      await expectFailure(`oci:${oci}:v1`);
      expect(await exists(join(oci, 'index.json')) ? (await layoutIndex(oci)).manifests : []).to.deep.equal([]);
      expect(await exists(join(oci, OCI_PARTIAL_DIR))).to.equal(false);
      expect(await exists(layoutBlob(oci, badLayer))).to.equal(false);

      const dir = join(await cleanup.tempDir('bad-dir'), 'img');
      await expectFailure(`dir:${dir}`);
      expect(await entries(dir)).to.deep.equal([]);
    });

    it('docker-archive: and oci-archive: — no archive file, nothing left beside it', async () => {
      const parent = await cleanup.tempDir('bad-archives');
      await expectFailure(`docker-archive:${join(parent, 'a.tar')}:example.com/bad:v1`);
      await expectFailure(`oci-archive:${join(parent, 'o.tar')}:v1`);
      expect(await entries(parent)).to.deep.equal([]);
    });

    it('docker: — the tag is not pushed, nothing cached as a partial', async () => {
      const dst = destRegistry();
      await expectFailure(`docker://${dst.host}/res/bad:v1`);
      const r = await ferry(['inspect', '--raw', '--tls-verify=false', `docker://${dst.host}/res/bad:v1`], { env: env() });
      expect(r.code, r.stderr).to.equal(2);
      const cacheDir = await partialDirOf(`docker://${dst.host}/res/bad:v1`, { tlsVerify: false });
      expect(await exists(join(cacheDir, partialFileName(badLayer)))).to.equal(false);
    });
  });

  it('--additional-tag reaches docker-archive: RepoTags lists the reference name and the extra tags', async () => {
    const parent = await cleanup.tempDir('addtag');
    const archive = join(parent, 'x.tar');
    const r = await ferry([
      'copy', '--quiet', `oci:${img.layoutDir}:${img.tag}`, `docker-archive:${archive}:example.com/app:1`,
      '--additional-tag', 'example.com/app:latest', '--additional-tag', 'registry.test:5000/other/app:2',
    ]);
    expect(r.code, r.stderr).to.equal(0);
    const out = await cleanup.tempDir('addtag-x');
    await runOk('tar', ['-xf', archive, '-C', out, 'manifest.json']);
    const m = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as { RepoTags: string[] }[];
    expect(m).to.have.length(1);
    expect(m[0]!.RepoTags).to.deep.equal(['example.com/app:1', 'example.com/app:latest', 'registry.test:5000/other/app:2']);
    expect((await stat(archive)).isFile()).to.equal(true);
  });
});
