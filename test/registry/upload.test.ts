/** Blob uploads against a real registry behind the fault proxy: Location handling, chunk sizes, failures, aborts. */
import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { FerryError } from '../../src/errors.js';
import { RegistryClient } from '../../src/registry/client.js';
import { blobSize, isRetryableUpload, mountBlob, uploadBlob } from '../../src/registry/upload.js';
import type { SystemContext } from '../../src/types/context.js';
import { digestOf } from '../../src/util/digest.js';
import { startFaultProxy, type Fault, type FaultProxy, type FaultRequest } from '../harness/fault-proxy.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';
import { useCleanup } from '../harness/tmp.js';
import { rejection } from '../harness/expect.js';

function randomish(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

describe('registry/upload (real registry via fault proxy)', function () {
  this.timeout(60_000);
  const cleanup = useCleanup('after');
  let reg: TestRegistry;
  let proxy: FaultProxy;
  let rule: (r: FaultRequest) => Fault | undefined = () => undefined;
  let ctx: SystemContext;

  before(async () => {
    const dir = await cleanup.tempDir('upload');
    await writeFile(join(dir, 'empty.conf'), '');
    reg = cleanup.track(await startRegistry('http'));
    proxy = cleanup.track(await startFaultProxy(reg.url, (r) => rule(r)));
    ctx = { registriesConf: join(dir, 'empty.conf'), homeDir: dir, tlsVerify: false, retryDelayMs: 5, retryTimes: 2 };
  });
  afterEach(() => {
    rule = () => undefined;
  });

  const client = (repo: string) => {
    const c = RegistryClient.open({ registry: proxy.host, repository: repo, ctx, actions: ['pull', 'push'] });
    cleanup.defer(() => c.close());
    return c;
  };
  /** A real upload session's Location (through the proxy), opened behind the client's back. */
  const session = async (repo: string) => {
    const res = await fetch(`${proxy.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    expect(res.status).to.equal(202);
    return res.headers.get('location')!;
  };
  const since = (n: number) => proxy.requests.slice(n);

  it('follows a path-only Location and honours OCI-Chunk-Min-Length', async () => {
    const c = client('up/min');
    const loc = new URL(await session('up/min'));
    const data = randomish(5_000_000, 7);
    let posted = false;
    rule = (r) => {
      if (r.method === 'POST' && !posted) {
        posted = true;
        return { kind: 'status', status: 202, headers: { location: loc.pathname + loc.search, 'oci-chunk-min-length': '2000000' } };
      }
      return undefined;
    };
    const start = proxy.requests.length;
    const r = await uploadBlob(c, Readable.from([data]), { digest: digestOf(data), size: data.length }, { chunkSize: 1024 * 1024 });
    expect(r).to.deep.equal({ digest: digestOf(data), size: data.length, method: 'chunked' });
    const ranges = since(start).filter((q) => q.method === 'PATCH').map((q) => String(q.headers['content-range']));
    const sizes = ranges.map((s) => s.split('-').map(Number)).map(([a, b]) => b! - a! + 1);
    expect(sizes.length).to.be.within(2, 3);
    expect(sizes.slice(0, -1).every((n) => n >= 2_000_000)).to.equal(true);
    expect(sizes.reduce((a, b) => a + b, 0)).to.equal(data.length);
    expect(await blobSize(c, r.digest)).to.equal(data.length);
  });

  it('chunked: source chunks that straddle chunk boundaries give PATCHes of exactly the chunk size, the last shorter, and the right blob', async () => {
    const c = client('up/straddle');
    const data = randomish(3 * 1024 * 1024 + 5, 11);
    const pieces: Buffer[] = [];
    for (let at = 0; at < data.length; at += 100_003) pieces.push(data.subarray(at, Math.min(at + 100_003, data.length)));
    const start = proxy.requests.length;
    const r = await uploadBlob(c, Readable.from(pieces), { digest: digestOf(data), size: data.length }, { chunkSize: 1024 * 1024 });
    expect(r).to.deep.equal({ digest: digestOf(data), size: data.length, method: 'chunked' });
    const ranges = since(start).filter((q) => q.method === 'PATCH').map((q) => String(q.headers['content-range']));
    expect(ranges).to.deep.equal(['0-1048575', '1048576-2097151', '2097152-3145727', '3145728-3145732']);
    expect(await blobSize(c, r.digest)).to.equal(data.length);
  });

  it('refuses a Location on another host, and cancels nothing there', async () => {
    const c = client('up/foreign');
    rule = (r) => (r.method === 'POST' ? { kind: 'status', status: 202, headers: { location: 'http://127.0.0.2:1/v2/x/blobs/uploads/abc' } } : undefined);
    const data = Buffer.from('x');
    const e = await rejection(uploadBlob(c, Readable.from([data]), { digest: digestOf(data), size: 1 }));
    expect(e.message).to.contain('another host');
  });

  it('a 503 during a monolithic PUT fails as retryable and cancels the session', async () => {
    const c = client('up/flaky');
    rule = (r) => (r.method === 'PUT' ? { kind: 'status', status: 503 } : undefined);
    const data = randomish(10_000, 3);
    const start = proxy.requests.length;
    const e = await rejection(uploadBlob(c, Readable.from([data]), { digest: digestOf(data), size: data.length }));
    expect(isRetryableUpload(e), e.message).to.equal(true);
    expect(since(start).filter((q) => q.path !== '/v2/').map((q) => q.method)).to.deep.equal(['POST', 'PUT', 'DELETE']);
    rule = () => undefined;
    expect(await blobSize(c, digestOf(data))).to.equal(undefined);
    // a fresh stream succeeds
    expect((await uploadBlob(c, Readable.from([data]), { digest: digestOf(data), size: data.length })).method).to.equal('monolithic');
  });

  it('a digest mismatch is not retryable', async () => {
    const c = client('up/mismatch');
    const e = await rejection(uploadBlob(c, Readable.from([Buffer.from('abc')]), { digest: digestOf('abd'), size: 3 }));
    expect(e.code).to.equal('E_DIGEST_MISMATCH');
    expect(isRetryableUpload(e)).to.equal(false);
  });

  it('bytes verified upstream are counted, not hashed again: too many or too few fail, wrong ones are refused by the registry', async () => {
    const c = client('up/verified');
    const data = randomish(70_000, 41);
    const verified = { digest: digestOf(data), size: data.length };
    expect((await uploadBlob(c, Readable.from([data]), verified, { verifiedUpstream: verified })).method).to.equal('monolithic');
    expect(await blobSize(c, verified.digest)).to.equal(data.length);
    const other = randomish(70_000, 42);
    const claimed = { digest: digestOf(other), size: other.length };
    let e = await rejection(uploadBlob(c, Readable.from([other, Buffer.from('x')]), claimed, { verifiedUpstream: claimed }));
    expect(e.code).to.equal('E_SIZE_MISMATCH');
    e = await rejection(uploadBlob(c, Readable.from([other.subarray(1)]), claimed, { verifiedUpstream: claimed }));
    expect(e.code).to.equal('E_SIZE_MISMATCH');
    // A caller that verified nothing (its claim is wrong): the registry checks the digest and stores nothing.
    const lie = Buffer.from(other);
    lie[0] = lie[0]! ^ 1;
    await rejection(uploadBlob(c, Readable.from([lie]), claimed, { verifiedUpstream: claimed }));
    expect(await blobSize(c, claimed.digest)).to.equal(undefined);
    // Verified against another digest: hashed here as before.
    e = await rejection(uploadBlob(c, Readable.from([lie]), claimed, { verifiedUpstream: { digest: digestOf(lie), size: lie.length } }));
    expect(e.code).to.equal('E_DIGEST_MISMATCH');
  });

  it('a source stream error fails the upload with that error and cancels the session', async () => {
    const c = client('up/srcerr');
    const src = new Readable({ read() {} });
    src.push(Buffer.alloc(1000, 1));
    setTimeout(() => src.destroy(new FerryError('E_NETWORK', 'source cut')), 50);
    const start = proxy.requests.length;
    const e = await rejection(uploadBlob(c, src, { digest: digestOf('whatever'), size: 5000 }));
    expect(e.message).to.equal('source cut');
    expect(since(start).some((q) => q.method === 'DELETE')).to.equal(true);
  });

  it('aborting stops the upload with E_ABORTED', async () => {
    const c = client('up/abort');
    const ac = new AbortController();
    const src = new Readable({ read() {} });
    src.push(Buffer.alloc(1000, 1));
    setTimeout(() => ac.abort(), 50);
    const e = await rejection(uploadBlob(c, src, { digest: digestOf('whatever'), size: 5000 }, { signal: ac.signal }));
    expect(e.code).to.equal('E_ABORTED');
    expect(src.destroyed).to.equal(true);
  });

  it('mountBlob: 201 when the source repository has the blob; when not, the session is cancelled, or kept and used', async () => {
    const c = client('up/mount-src');
    const data = randomish(2000, 9);
    await uploadBlob(c, Readable.from([data]), { digest: digestOf(data), size: data.length });
    const d = client('up/mount-dst');
    expect(await mountBlob(d, digestOf(data), 'up/mount-src')).to.deep.equal({ mounted: true });
    expect(await blobSize(d, digestOf(data))).to.equal(data.length);
    let start = proxy.requests.length;
    expect(await mountBlob(d, digestOf('absent'), 'up/mount-src')).to.deep.equal({ mounted: false });
    expect(since(start).map((q) => `${q.method} ${q.status}`)).to.deep.equal(['POST 202', 'DELETE 204']);
    // kept: the upload goes through it, with no POST of its own
    const other = randomish(3000, 10);
    start = proxy.requests.length;
    const r = await mountBlob(d, digestOf(other), 'up/mount-src', { keepSession: true });
    expect(r.mounted).to.equal(false);
    const session = r.mounted ? undefined : r.session;
    expect(session?.location).to.match(/\/v2\/up\/mount-dst\/blobs\/uploads\//);
    await uploadBlob(d, Readable.from([other]), { digest: digestOf(other), size: other.length }, { session });
    expect(since(start).map((q) => `${q.method} ${q.status}`)).to.deep.equal(['POST 202', 'PUT 201']);
    expect(await blobSize(d, digestOf(other))).to.equal(other.length);
  });
});
