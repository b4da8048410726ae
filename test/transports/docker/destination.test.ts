/** The docker:// ImageDestination against real registries (push, reuse, mounts, chunked uploads, failures). */
import { expect } from 'chai';
import { createReadStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { FerryError } from '../../../src/errors.js';
import { flushBlobLocations, knownBlobLocations } from '../../../src/registry/blob-cache.js';
import { openDockerDestination, type DockerDestinationOptions, type DockerImageDestination } from '../../../src/transports/docker/destination.js';
import { DockerReference } from '../../../src/transports/docker/reference.js';
import { openDockerSource } from '../../../src/transports/docker/source.js';
import type { SystemContext } from '../../../src/types/context.js';
import { digestOf } from '../../../src/util/digest.js';
import { startFaultProxy, type Fault, type FaultProxy, type FaultRequest } from '../../harness/fault-proxy.js';
import { buildImage, layoutBlobPath, type BuiltImage } from '../../harness/images.js';
import { run } from '../../harness/procs.js';
import { logMark, loggedRequests, startRegistry, type RegistryMode, type TestRegistry } from '../../harness/registry.js';
import { useCleanup, type Cleanup } from '../../harness/tmp.js';

const MULTI = [
  { os: 'linux', architecture: 'amd64' },
  { os: 'linux', architecture: 'arm64', variant: 'v8' },
];

/** Pushes every blob and manifest of a built image through `dest`; returns the reuse reasons per blob. */
async function pushThrough(image: BuiltImage, dest: DockerImageDestination, opts: { commit?: boolean } = {}): Promise<Map<string, string | undefined>> {
  const reasons = new Map<string, string | undefined>();
  for (const m of image.manifests) {
    const blobs = [{ digest: m.configDigest, size: m.config.length }, ...m.layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType }))];
    for (const b of blobs) {
      if (reasons.has(b.digest)) continue;
      const reused = await dest.tryReusingBlob(b);
      if (reused) {
        reasons.set(b.digest, reused.reason);
        continue;
      }
      const put = await dest.putBlob(createReadStream(layoutBlobPath(image.layoutDir, b.digest)), b);
      expect(put.digest).to.equal(b.digest);
      expect(put.size).to.equal(b.size);
      reasons.set(b.digest, undefined);
    }
    if (image.manifests.length > 1) await dest.putManifest({ bytes: m.bytes, mediaType: m.mediaType }, m.digest);
  }
  await dest.putManifest({ bytes: image.bytes, mediaType: image.mediaType });
  await dest.putSignatures([]);
  if (opts.commit !== false) await dest.commit();
  return reasons;
}

async function expectRejection(p: Promise<unknown>, code: string): Promise<FerryError> {
  try {
    await p;
  } catch (e) {
    expect(e, String(e)).to.be.instanceOf(FerryError);
    expect((e as FerryError).code, (e as Error).message).to.equal(code);
    return e as FerryError;
  }
  throw new Error(`expected a rejection with ${code}`);
}

const uploads = (p: FaultProxy, from = 0) => p.requests.slice(from).filter((r) => /\/blobs\/uploads\//.test(r.path));
const bodyUploads = (p: FaultProxy, from = 0) => uploads(p, from).filter((r) => r.method === 'PUT' || r.method === 'PATCH');
const blobHeads = (p: FaultProxy, from = 0) => p.requests.slice(from).filter((r) => r.method === 'HEAD' && r.path.includes('/blobs/'));

describe('transports/docker/destination (real registry, http via fault proxy)', function () {
  this.timeout(120_000);
  const cleanup = useCleanup('after');
  let reg: TestRegistry;
  let proxy: FaultProxy;
  let rule: (r: FaultRequest) => Fault | undefined = () => undefined;
  let ctx: SystemContext;
  let multi: BuiltImage;
  let big: BuiltImage;
  let dir: string;

  before(async () => {
    dir = await cleanup.tempDir('docker-dest');
    await writeFile(join(dir, 'empty.conf'), '');
    reg = cleanup.track(await startRegistry('http'));
    proxy = cleanup.track(await startFaultProxy(reg.url, (r) => rule(r)));
    ctx = { registriesConf: join(dir, 'empty.conf'), homeDir: join(dir, 'home'), tlsVerify: false, retryDelayMs: 10 };
    multi = await buildImage(join(dir, 'multi'), { seed: 41, layers: 2, layerSize: 20_000, platforms: MULTI });
    big = await buildImage(join(dir, 'big'), { seed: 42, layers: 1, layerSize: 3 * 1024 * 1024, compression: 'none' });
  });
  afterEach(() => {
    rule = () => undefined;
  });

  const ref = (s: string) => DockerReference.fromName(`${proxy.host}/${s}`);
  /** A destination of a job of its own (`c`: its context object), unless it is given the context of another. */
  const open = async (s: string, o: DockerDestinationOptions = {}, c: SystemContext = { ...ctx }) => {
    const d = await openDockerDestination(ref(s), c, o);
    cleanup.defer(() => d.close());
    return d;
  };
  const headManifest = async (path: string) => {
    const res = await fetch(`${reg.url}/v2/${path}`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json' } });
    return res.status;
  };

  it('has the documented properties', async () => {
    const d = await open('lib/props:v1');
    expect(d.properties).to.deep.equal({
      supportedManifestMIMETypes: [
        'application/vnd.oci.image.manifest.v1+json',
        'application/vnd.docker.distribution.manifest.v2+json',
        'application/vnd.oci.image.index.v1+json',
        'application/vnd.docker.distribution.manifest.list.v2+json',
      ],
      supportsSignatures: true,
      desiredLayerCompression: 'compress',
      hasThreadSafePutBlob: true,
      blobsInAnyOrder: true,
      acceptsForeignLayerURLs: true,
      // partial downloads in the user's cache, one folder per registry; pushed blobs stay, so partials go at once
      partialDownloads: { cacheKey: proxy.host, keepUntilCommit: false },
    });
  });

  it('pushes a multi-arch image byte-exactly; the tag appears only at commit', async () => {
    const d = await open('lib/app:v1');
    const start = proxy.requests.length;
    const reasons = await pushThrough(multi, d, { commit: false });
    expect([...reasons.values()].every((r) => r === undefined)).to.equal(true);
    // instances are there by digest, the tag is not
    expect(await headManifest(`lib/app/manifests/${multi.manifests[0]!.digest}`)).to.equal(200);
    expect(await headManifest('lib/app/manifests/v1')).to.equal(404);
    await d.commit();
    expect(await headManifest('lib/app/manifests/v1')).to.equal(200);
    const puts = proxy.requests.slice(start).filter((r) => r.method === 'PUT' && r.path.includes('/manifests/'));
    expect(puts.map((r) => r.path.split('/manifests/')[1])).to.deep.equal([...multi.manifests.map((m) => m.digest), 'v1']);
    const r = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/lib/app:v1`]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdoutBytes.equals(multi.bytes)).to.equal(true);
    const inst = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/lib/app@${multi.manifests[1]!.digest}`]);
    expect(inst.stdoutBytes.equals(multi.manifests[1]!.bytes)).to.equal(true);
  });

  it('skips blobs already in the repository (HEAD) without uploading anything', async () => {
    const d = await open('lib/app:v2');
    const start = proxy.requests.length;
    const reasons = await pushThrough(multi, d);
    expect([...reasons.values()]).to.satisfy((v: unknown[]) => v.length > 0 && v.every((x) => x === 'already exists'));
    expect(uploads(proxy, start)).to.deep.equal([]);
    expect(proxy.requests.slice(start).filter((r) => r.method === 'HEAD' && r.path.includes('/blobs/')).length).to.equal(reasons.size);
  });

  /** An image of its own for the 500 tests, so that the blob cache of the other tests is not changed by them. */
  let own: BuiltImage | undefined;
  const ownImage = async () => (own ??= await buildImage(join(dir, 'own'), { seed: 43, layers: 2, layerSize: 5_000 }));
  const blobHeads = (p: FaultProxy, from: number) => p.requests.slice(from).filter((r) => r.method === 'HEAD' && r.path.includes('/blobs/'));

  it('a blob HEAD answered 500 (a registry racing with another push of the blob) is retried; the push completes', async () => {
    rule = (r) => (r.method === 'HEAD' && r.path.includes('/blobs/') && r.pathCount === 1 ? { kind: 'status', status: 500 } : undefined);
    const d = await open('lib/head500:v1');
    const start = proxy.requests.length;
    const reasons = await pushThrough(await ownImage(), d);
    expect(await headManifest('lib/head500/manifests/v1')).to.equal(200);
    const heads = blobHeads(proxy, start);
    // every blob: the 500, then the answer that it is missing
    expect(heads.length).to.equal(2 * reasons.size);
    expect(new Set(heads.map((h) => h.path)).size).to.equal(reasons.size);
  });

  it('a blob HEAD answered 500 every time fails after the bounded retries, with one line naming the blob', async () => {
    rule = (r) => (r.method === 'HEAD' && r.path.includes('/blobs/') ? { kind: 'status', status: 500 } : undefined);
    const d = await open('lib/head500:v2');
    const start = proxy.requests.length;
    const digest = (await ownImage()).manifests[0]!.configDigest;
    const e = await expectRejection(d.tryReusingBlob({ digest, size: -1 }), 'E_REGISTRY');
    expect(e.message).to.equal(`checking whether a blob ${digest} exists in ${proxy.host}/lib/head500: unexpected HTTP status 500`);
    expect(blobHeads(proxy, start).length, 'the first attempt and 3 retries').to.equal(4);
    expect(uploads(proxy, start)).to.deep.equal([]);
  });

  it('a 500 to an upload (not idempotent) is not retried', async () => {
    rule = (r) => (r.method === 'POST' && r.path.includes('/blobs/uploads/') ? { kind: 'status', status: 500 } : undefined);
    const d = await open('lib/post500:v1');
    const start = proxy.requests.length;
    const img = await ownImage();
    const m = img.manifests[0]!;
    const b = { digest: m.configDigest, size: m.config.length };
    expect(await d.tryReusingBlob(b)).to.equal(undefined);
    await expectRejection(d.putBlob(createReadStream(layoutBlobPath(img.layoutDir, b.digest)), b), 'E_REGISTRY');
    expect(uploads(proxy, start).filter((r) => r.method === 'POST' && !r.path.includes('mount=')).length).to.equal(1);
  });

  it('mounts blobs from another repository the blob cache knows, uploading no body', async () => {
    await flushBlobLocations();
    expect(await knownBlobLocations(proxy.host, multi.manifests[0]!.configDigest, ctx)).to.include('lib/app');
    const d = await open('other/copy:v1');
    const start = proxy.requests.length;
    const reasons = await pushThrough(multi, d);
    expect([...reasons.values()]).to.satisfy((v: unknown[]) => v.every((x) => x === 'mounted from lib/app'));
    const mounts = proxy.requests.slice(start).filter((r) => r.method === 'POST' && r.path.includes('mount='));
    expect(mounts.length).to.equal(reasons.size);
    expect(mounts.every((m) => m.status === 201 && m.path.includes('from=lib%2Fapp'))).to.equal(true);
    expect(bodyUploads(proxy, start)).to.deep.equal([]);
    // the cache predicted every mount: no HEAD was sent before it
    expect(blobHeads(proxy, start)).to.deep.equal([]);
    const r = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/other/copy:v1`]);
    expect(r.stdoutBytes.equals(multi.bytes)).to.equal(true);
  });

  it('a cached location that lacks the blob: the upload goes through the session the mount’s 202 opened (one POST a blob, no DELETE)', async () => {
    const img = await buildImage(join(dir, 'stale'), { seed: 43, layers: 1, layerSize: 1000 });
    const { recordBlobLocation } = await import('../../../src/registry/blob-cache.js');
    for (const m of img.manifests) for (const dgst of [m.configDigest, ...m.layers.map((l) => l.digest)]) void recordBlobLocation(proxy.host, 'nowhere/repo', dgst, ctx);
    const d = await open('lib/stale:v1');
    const mark = await logMark(reg);
    const reasons = await pushThrough(img, d);
    expect([...reasons.values()].every((x) => x === undefined)).to.equal(true);
    // the registry's own log: per blob, the mount (202), a HEAD (the blob might have been in the repository), then the
    // PUT into the session the mount opened — no second POST, no DELETE
    const blobReqs = (await loggedRequests(reg, mark)).filter((r) => r.path.includes('/blobs/'));
    const expected = [...reasons.keys()].flatMap((dgst) => [
      `POST /v2/lib/stale/blobs/uploads/?mount=${encodeURIComponent(dgst)}&from=nowhere%2Frepo 202`,
      `HEAD /v2/lib/stale/blobs/${dgst} 404`,
      `PUT ${dgst} 201`,
    ]);
    const seen = blobReqs.map((r) => (r.method === 'PUT' ? `PUT ${decodeURIComponent(/[?&]digest=([^&]+)/.exec(r.path)?.[1] ?? '')} ${r.status}` : `${r.method} ${r.path} ${r.status}`));
    expect(seen).to.deep.equal(expected);
    const r = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/lib/stale:v1`]);
    expect(r.stdoutBytes.equals(img.bytes)).to.equal(true);
    for (const dgst of reasons.keys()) {
      const got = Buffer.from(await (await fetch(`${reg.url}/v2/lib/stale/blobs/${dgst}`)).arrayBuffer());
      expect(digestOf(got)).to.equal(dgst);
    }
  });

  it('a chunked upload goes through the session of a refused mount too: one POST, then PATCHes and the PUT', async () => {
    const data = Buffer.alloc(2.5 * 1024 * 1024, 7);
    const b = { digest: digestOf(data), size: data.length };
    const { recordBlobLocation } = await import('../../../src/registry/blob-cache.js');
    void recordBlobLocation(proxy.host, 'nowhere/repo', b.digest, ctx);
    const d = await open('lib/stale-chunked:v1', { upload: { chunkSize: 1024 * 1024 } });
    const mark = await logMark(reg);
    expect(await d.tryReusingBlob(b)).to.equal(undefined);
    expect((await d.putBlob(Readable.from([data]), b)).digest).to.equal(b.digest);
    const seen = (await loggedRequests(reg, mark)).filter((r) => r.path.includes('/blobs/')).map((r) => `${r.method} ${r.status}`);
    expect(seen).to.deep.equal(['POST 202', 'HEAD 404', 'PATCH 202', 'PATCH 202', 'PATCH 202', 'PUT 201']);
    const got = Buffer.from(await (await fetch(`${reg.url}/v2/lib/stale-chunked/blobs/${b.digest}`)).arrayBuffer());
    expect(digestOf(got)).to.equal(b.digest);
  });

  it('a session a refused mount opened never leaks: cancelled when the blob is there after all, or when no putBlob comes', async () => {
    const data = Buffer.from('a blob for sessions that must not leak');
    const b = { digest: digestOf(data), size: data.length };
    const { recordBlobLocation } = await import('../../../src/registry/blob-cache.js');
    void recordBlobLocation(proxy.host, 'nowhere/repo', b.digest, ctx);
    // in the repository already (the cache does not know it): mount 202, HEAD 200, the session cancelled
    const first = await open('lib/sessions:v1', { blobCache: false });
    expect((await first.tryReusingBlob(b))?.reason).to.equal(undefined);
    await first.putBlob(Readable.from([data]), b);
    const there = await open('lib/sessions:v2');
    const blobLog = async (from: number) => (await loggedRequests(reg, from)).filter((r) => r.path.includes('/blobs/'));
    let mark = await logMark(reg);
    expect((await there.tryReusingBlob(b))?.reason).to.equal('already exists');
    expect((await blobLog(mark)).map((r) => `${r.method} ${r.status}`)).to.deep.equal(['POST 202', 'HEAD 200', 'DELETE 204']);
    // missing: the session is kept for putBlob, which never comes; close cancels it
    const missing = { digest: digestOf('a blob nobody pushes'), size: 20 };
    void recordBlobLocation(proxy.host, 'nowhere/repo', missing.digest, ctx);
    const never = await open('lib/sessions-none:v1');
    mark = await logMark(reg);
    expect(await never.tryReusingBlob(missing)).to.equal(undefined);
    expect((await blobLog(mark)).map((r) => `${r.method} ${r.status}`)).to.deep.equal(['POST 202', 'HEAD 404']);
    await never.close();
    const log = await blobLog(mark);
    expect(log.map((r) => `${r.method} ${r.status}`)).to.deep.equal(['POST 202', 'HEAD 404', 'DELETE 204']);
    // the session is gone
    expect((await fetch(`${reg.url}${log[2]!.path}`)).status).to.equal(404);
  });

  it('a registry refusing mounts: the blob is looked for (HEAD) and pushed', async () => {
    const img = await buildImage(join(dir, 'refused'), { seed: 44, layers: 1, layerSize: 1000 });
    const first = await open('lib/refused-src:v1');
    await pushThrough(img, first);
    await flushBlobLocations();
    rule = (r) => (r.method === 'POST' && r.path.includes('mount=') ? { kind: 'status', status: 405 } : undefined);
    const d = await open('lib/refused:v1');
    const start = proxy.requests.length;
    const reasons = await pushThrough(img, d);
    expect([...reasons.values()].every((x) => x === undefined)).to.equal(true);
    expect(proxy.requests.slice(start).filter((r) => r.path.includes('mount=')).map((r) => r.status)).to.deep.equal([...reasons.keys()].map(() => 405));
    expect(blobHeads(proxy, start).length).to.equal(reasons.size);
    expect(bodyUploads(proxy, start).length).to.equal(reasons.size);
    const r = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/lib/refused:v1`]);
    expect(r.stdoutBytes.equals(img.bytes)).to.equal(true);
  });

  it('a blob already in the repository but not known there to the cache: the mount answers 201, nothing is uploaded', async () => {
    const img = await buildImage(join(dir, 'there'), { seed: 45, layers: 1, layerSize: 1000 });
    const { recordBlobLocation } = await import('../../../src/registry/blob-cache.js');
    const d1 = await open('lib/there:v1', { blobCache: false });
    await pushThrough(img, d1);
    const blobs = [img.manifests[0]!.configDigest, ...img.manifests[0]!.layers.map((l) => l.digest)];
    for (const dgst of blobs) void recordBlobLocation(proxy.host, 'lib/there', dgst, { ...ctx, homeDir: join(dir, 'home2') });
    await flushBlobLocations();
    // a cache that knows the blobs only in lib/there, used by a push into lib/there2 that already holds them
    const d2 = await openDockerDestination(ref('lib/there2:v1'), { ...ctx, homeDir: join(dir, 'home2') }, { blobCache: false });
    cleanup.defer(() => d2.close());
    await pushThrough(img, d2);
    const d3 = await openDockerDestination(ref('lib/there2:v2'), { ...ctx, homeDir: join(dir, 'home2') });
    cleanup.defer(() => d3.close());
    const start = proxy.requests.length;
    const reasons = await pushThrough(img, d3);
    expect([...reasons.values()].every((x) => x === 'mounted from lib/there')).to.equal(true);
    expect(blobHeads(proxy, start)).to.deep.equal([]);
    expect(uploads(proxy, start).map((r) => r.status)).to.deep.equal(blobs.map(() => 201));
  });

  it('two images of one job pushing one blob into one repository at once: one mount, the other waits for it and asks nothing', async () => {
    const img = await buildImage(join(dir, 'race'), { seed: 46, layers: 1, layerSize: 1000 });
    await pushThrough(img, await open('lib/race-src:v1'));
    await flushBlobLocations();
    const job = { ...ctx };
    const [a, b] = [await open('lib/race:v1', {}, job), await open('lib/race:v2', {}, job)];
    const layer = img.manifests[0]!.layers[0]!;
    const start = proxy.requests.length;
    const got = await Promise.all([a.tryReusingBlob(layer), b.tryReusingBlob(layer)]);
    expect(got.map((g) => g?.reason).sort()).to.deep.equal(['already exists', 'mounted from lib/race-src']);
    expect(got.map((g) => g?.size)).to.deep.equal([layer.size, layer.size]);
    expect(uploads(proxy, start).map((r) => `${r.method} ${r.status}`)).to.deep.equal(['POST 201']);
    expect(blobHeads(proxy, start)).to.deep.equal([]);
  });

  it('two images of two jobs (context objects) pushing one blob at once: one mount, the other waits and looks (HEAD)', async () => {
    const img = await buildImage(join(dir, 'race2'), { seed: 47, layers: 1, layerSize: 1000 });
    await pushThrough(img, await open('lib/race2-src:v1'));
    await flushBlobLocations();
    const [a, b] = [await open('lib/race2:v1'), await open('lib/race2:v2')];
    const layer = img.manifests[0]!.layers[0]!;
    const start = proxy.requests.length;
    const got = await Promise.all([a.tryReusingBlob(layer), b.tryReusingBlob(layer)]);
    expect(got.map((g) => g?.reason).sort()).to.deep.equal(['already exists', 'mounted from lib/race2-src']);
    expect(uploads(proxy, start).map((r) => `${r.method} ${r.status}`)).to.deep.equal(['POST 201']);
    expect(blobHeads(proxy, start).map((r) => r.status)).to.deep.equal([200]);
  });

  it('a job reuses what it pushed, found or mounted in a repository with no request; another job looks again (HEAD)', async () => {
    const img = await buildImage(join(dir, 'job'), { seed: 48, layers: 2, layerSize: 1000 });
    const job = { ...ctx };
    let start = proxy.requests.length;
    const first = await pushThrough(img, await open('lib/job:v1', {}, job));
    expect([...first.values()].every((x) => x === undefined)).to.equal(true);
    expect(blobHeads(proxy, start).map((r) => r.status)).to.deep.equal([...first.keys()].map(() => 404));
    start = proxy.requests.length;
    const again = await pushThrough(img, await open('lib/job:v2', {}, job));
    expect([...again.values()].every((x) => x === 'already exists')).to.equal(true);
    expect(proxy.requests.slice(start).filter((r) => r.path.includes('/blobs/'))).to.deep.equal([]);
    // the sizes the job noted are those it wrote
    const m = img.manifests[0]!;
    for (const b of [{ digest: m.configDigest, size: m.config.length }, ...m.layers]) {
      expect((await (await open('lib/job:v3', {}, job)).tryReusingBlob({ digest: b.digest, size: -1 }))?.size).to.equal(b.size);
    }
    expect(proxy.requests.slice(start).filter((r) => r.path.includes('/blobs/'))).to.deep.equal([]);
    // another repository, or another job: the registry is asked
    start = proxy.requests.length;
    await pushThrough(img, await open('lib/job-other:v1', { blobCache: false }, job));
    expect(blobHeads(proxy, start).length).to.equal(first.size);
    start = proxy.requests.length;
    const other = await pushThrough(img, await open('lib/job:v4'));
    expect([...other.values()].every((x) => x === 'already exists')).to.equal(true);
    expect(blobHeads(proxy, start).map((r) => r.status)).to.deep.equal([...first.keys()].map(() => 200));
  });

  it('uploads a multi-MiB blob in chunks (Content-Range, following Location), resuming a chunk the registry did not get', async () => {
    const layer = big.manifests[0]!.layers[0]!;
    expect(layer.size).to.be.greaterThan(3 * 1024 * 1024);
    const d = await open('lib/big:v1', { upload: { chunkSize: 1024 * 1024 } });
    const start = proxy.requests.length;
    rule = (r) => (r.method === 'PATCH' && r.pathCount === 2 ? { kind: 'status', status: 503 } : undefined);
    await pushThrough(big, d);
    const patches = proxy.requests.slice(start).filter((r) => r.method === 'PATCH' && r.status === 202);
    expect(patches.length).to.be.at.least(4);
    expect(patches.map((p) => p.headers['content-range'])).to.include('0-1048575');
    expect(proxy.requests.slice(start).some((r) => r.method === 'PATCH' && r.status === 503)).to.equal(true);
    expect(proxy.requests.slice(start).some((r) => r.method === 'GET' && r.path.includes('/blobs/uploads/'))).to.equal(true);
    const res = await fetch(`${reg.url}/v2/lib/big/blobs/${layer.digest}`);
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(digestOf(bytes)).to.equal(layer.digest);
  });

  it('streams a blob of unknown digest (PATCH, then PUT with the computed digest)', async () => {
    const d = await open('lib/stream:v1');
    const data = Buffer.from('some blob whose digest the caller does not know');
    const start = proxy.requests.length;
    const got = await d.putBlob(Readable.from([data]), { digest: '', size: -1 });
    expect(got.digest).to.equal(digestOf(data));
    expect(got.size).to.equal(data.length);
    expect(uploads(proxy, start).map((r) => r.method)).to.deep.equal(['POST', 'PATCH', 'PUT']);
  });

  it('fails with E_DIGEST_MISMATCH on a wrong body, cancels the upload, and nothing is tagged', async () => {
    const d = await open('lib/bad:v1');
    const data = Buffer.from('not what the digest says');
    const wrong = digestOf('something else');
    const start = proxy.requests.length;
    await expectRejection(d.putBlob(Readable.from([data]), { digest: wrong, size: data.length }), 'E_DIGEST_MISMATCH');
    expect(uploads(proxy, start).some((r) => r.method === 'DELETE')).to.equal(true);
    expect((await fetch(`${reg.url}/v2/lib/bad/blobs/${wrong}`, { method: 'HEAD' })).status).to.equal(404);
    await d.close();
    expect(await headManifest('lib/bad/manifests/v1')).to.equal(404);
  });

  it('fails with E_SIZE_MISMATCH when the body is longer than declared', async () => {
    const d = await open('lib/bad:v2');
    const data = Buffer.alloc(5000, 1);
    await expectRejection(d.putBlob(Readable.from([data]), { digest: digestOf(data), size: 100 }), 'E_SIZE_MISMATCH');
  });

  it('fails with E_DIGEST_MISMATCH when a mid-copy source stream is corrupted in chunked mode too', async () => {
    const d = await open('lib/bad:v3', { upload: { chunkSize: 1000 } });
    const data = Buffer.alloc(5000, 2);
    const start = proxy.requests.length;
    await expectRejection(d.putBlob(Readable.from([data]), { digest: digestOf('x'), size: data.length }), 'E_DIGEST_MISMATCH');
    expect(uploads(proxy, start).some((r) => r.method === 'DELETE')).to.equal(true);
  });

  it('pushes by digest when the reference has one, and refuses a different manifest', async () => {
    const m = multi.manifests[0]!;
    const bad = await open(`lib/bydigest@${multi.manifests[1]!.digest}`);
    await expectRejection(bad.putManifest({ bytes: m.bytes, mediaType: m.mediaType }), 'E_DIGEST_MISMATCH');
    const d = await open(`lib/bydigest@${m.digest}`);
    await pushThrough({ ...multi, manifests: [m], bytes: m.bytes, mediaType: m.mediaType, digest: m.digest }, d);
    expect(await headManifest(`lib/bydigest/manifests/${m.digest}`)).to.equal(200);
    expect(d.manifestDigest).to.equal(m.digest);
  });

  it('refuses schema1 manifests and signatures that are not in a known storage form', async () => {
    const d = await open('lib/s1:v1');
    await expectRejection(d.putManifest({ bytes: Buffer.from('{}'), mediaType: 'application/vnd.docker.distribution.manifest.v1+prettyjws' }), 'E_UNSUPPORTED');
    await expectRejection(d.putSignatures([Buffer.from('sig')]), 'E_SIGNATURE');
    await expectRejection(d.commit(), 'E_USAGE');
  });

  it('the docker source records pulled blobs in the cache', async () => {
    const src = await openDockerSource(DockerReference.fromName(`${proxy.host}/other/copy:v1`), { ...ctx, homeDir: join(dir, 'home2') });
    cleanup.defer(() => src.close());
    const layer = multi.manifests[0]!.layers[0]!;
    const { stream } = await src.getBlob({ digest: layer.digest, size: layer.size }, { offset: 10 });
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).equals((await readFile(layoutBlobPath(multi.layoutDir, layer.digest))).subarray(10))).to.equal(true);
    expect(proxy.requests.at(-1)!.headers['range']).to.equal('bytes=10-');
    await flushBlobLocations();
    expect(await knownBlobLocations(proxy.host, layer.digest, { homeDir: join(dir, 'home2') })).to.deep.equal(['other/copy']);
  });
});

for (const mode of ['tls', 'basic', 'token'] as RegistryMode[]) {
  describe(`transports/docker/destination (${mode} registry)`, function () {
    this.timeout(120_000);
    const cleanup: Cleanup = useCleanup('after');
    let reg: TestRegistry;
    let ctx: SystemContext;
    let img: BuiltImage;

    before(async () => {
      const dir = await cleanup.tempDir(`docker-dest-${mode}`);
      await writeFile(join(dir, 'empty.conf'), '');
      reg = cleanup.track(await startRegistry(mode));
      ctx = {
        registriesConf: join(dir, 'empty.conf'), homeDir: join(dir, 'home'), certDir: reg.certDir, retryDelayMs: 10,
        ...(reg.username ? { credentials: { username: reg.username, password: reg.password! } } : {}),
      };
      img = await buildImage(join(dir, 'img'), { seed: 51, layers: 1, layerSize: 5000, format: 'docker', platforms: MULTI });
    });

    it('pushes, then mounts into another repository', async () => {
      const d1 = await openDockerDestination(DockerReference.fromName(`${reg.host}/src/app:v1`), ctx);
      cleanup.defer(() => d1.close());
      await pushThrough(img, d1);
      await d1.close();
      const tokensBefore = reg.tokenServer?.requests.length ?? 0;
      const d2 = await openDockerDestination(DockerReference.fromName(`${reg.host}/dst/app:v1`), ctx);
      cleanup.defer(() => d2.close());
      const reasons = await pushThrough(img, d2);
      expect([...reasons.values()].every((r) => r === 'mounted from src/app')).to.equal(true);
      // mounted straight away, with no HEAD before (the registry's access log)
      const log = await readFile(reg.logFile, 'utf8');
      expect([...log.matchAll(/"HEAD \/v2\/dst\/app\/blobs\/\S+ HTTP/g)]).to.deep.equal([]);
      expect([...log.matchAll(/"POST \/v2\/dst\/app\/blobs\/uploads\/\?mount=\S+ HTTP\/[\d.]+" 201/g)].length).to.equal(reasons.size);
      if (reg.tokenServer) {
        const scopes = reg.tokenServer.requests.slice(tokensBefore).flatMap((r) => r.scope);
        expect(scopes).to.include('repository:src/app:pull');
        expect(scopes.some((s) => s.startsWith('repository:dst/app:') && s.includes('push'))).to.equal(true);
      }
      const r = await run('skopeo', ['inspect', '--raw', '--cert-dir', reg.certDir!, ...(reg.username ? ['--creds', `${reg.username}:${reg.password}`] : []), `docker://${reg.host}/dst/app:v1`]);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdoutBytes.equals(img.bytes)).to.equal(true);
    });
  });
}



