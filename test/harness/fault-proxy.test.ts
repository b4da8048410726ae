import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { request, type IncomingHttpHeaders } from 'node:http';
import { startFaultProxy, type Fault, type FaultProxy } from './fault-proxy.js';
import { buildImage, layoutBlobPath, pushImage, type BuiltImage } from './images.js';
import { useRegistry } from './registry.js';
import { useCleanup } from './tmp.js';

interface Got { status: number; headers: IncomingHttpHeaders; body: Buffer; error?: Error }

/** GET with node:http; a body cut short resolves with what arrived and the error. */
function get(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent: false });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      const done = (error?: Error) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), error });
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done());
      res.on('error', (e) => done(e));
      res.on('aborted', () => done(new Error('aborted')));
    });
    req.on('error', reject);
    req.end();
  });
}

const sha256 = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

describe('harness: fault proxy', function () {
  this.timeout(30_000);
  const registry = useRegistry('http');
  const cleanup = useCleanup();
  let img: BuiltImage;
  let blob: Buffer;
  let blobDigest: string;
  let blobPath: string;

  before(async () => {
    const dir = await cleanup.tempDir('fault-img');
    img = await buildImage(dir, { seed: 5, layers: 1, layerSize: 200_000 });
    blobDigest = img.manifests[0]!.layers[0]!.digest;
    blob = await readFile(layoutBlobPath(dir, blobDigest));
    blobPath = `/v2/faults/img/blobs/${blobDigest}`;
    await pushImage(img, registry(), 'faults/img:latest');
  });

  const proxy = async (rule: Parameters<typeof startFaultProxy>[1]): Promise<FaultProxy> => cleanup.track(await startFaultProxy(registry().url, rule));

  it('passes requests through unchanged, including Range requests', async () => {
    const p = await proxy(() => undefined);
    expect(p.url).to.equal(`http://${p.host}`);
    const ping = await get(`${p.url}/v2/`);
    expect(ping.status).to.equal(200);
    expect(ping.headers['docker-distribution-api-version']).to.equal('registry/2.0');
    const full = await get(`${p.url}${blobPath}`);
    expect(full.status).to.equal(200);
    expect(sha256(full.body)).to.equal(blobDigest);
    const part = await get(`${p.url}${blobPath}`, { range: 'bytes=1000-1999' });
    expect(part.status).to.equal(206);
    expect(part.headers['content-range']).to.equal(`bytes 1000-1999/${blob.length}`);
    expect(part.body.equals(blob.subarray(1000, 2000))).to.equal(true);
    expect(p.requests.map((r) => [r.method, r.path, r.fault, r.status])).to.deep.equal([
      ['GET', '/v2/', undefined, 200],
      ['GET', blobPath, undefined, 200],
      ['GET', blobPath, undefined, 206],
    ]);
    expect(p.requests[2]!.headers['range']).to.equal('bytes=1000-1999');
  });

  it('status: answers the given status, headers and body instead of forwarding', async () => {
    const seen: { count: number; pathCount: number }[] = [];
    const p = await proxy((req) => {
      seen.push({ count: req.count, pathCount: req.pathCount });
      return req.path === blobPath && req.pathCount === 1
        ? { kind: 'status', status: 503, headers: { 'retry-after': '1' }, body: '{"errors":[{"code":"UNAVAILABLE"}]}' }
        : undefined;
    });
    const first = await get(`${p.url}${blobPath}`);
    expect(first.status).to.equal(503);
    expect(first.headers['retry-after']).to.equal('1');
    expect(first.body.toString()).to.equal('{"errors":[{"code":"UNAVAILABLE"}]}');
    const second = await get(`${p.url}${blobPath}`);
    expect(second.status).to.equal(200);
    expect(sha256(second.body)).to.equal(blobDigest);
    await get(`${p.url}/v2/`);
    expect(seen).to.deep.equal([{ count: 1, pathCount: 1 }, { count: 2, pathCount: 2 }, { count: 3, pathCount: 1 }]);
    expect(p.requests.map((r) => r.fault)).to.deep.equal(['status', undefined, undefined]);
  });

  it('cut: forwards headers, then closes the connection after N body bytes', async () => {
    const p = await proxy((req) => (req.path === blobPath ? { kind: 'cut', afterBytes: 70_000 } : undefined));
    const r = await get(`${p.url}${blobPath}`);
    expect(r.status).to.equal(200);
    expect(r.headers['content-length']).to.equal(String(blob.length));
    expect(r.error).to.be.instanceOf(Error);
    expect(r.body.length).to.equal(70_000);
    expect(r.body.equals(blob.subarray(0, 70_000))).to.equal(true);
    const zero = await startFaultProxy(registry().url, (): Fault => ({ kind: 'cut', afterBytes: 0 }));
    try {
      const z = await get(`${zero.url}${blobPath}`);
      expect(z.status).to.equal(200);
      expect(z.error).to.be.instanceOf(Error);
      expect(z.body.length).to.equal(0);
    } finally {
      await zero.stop();
    }
  });

  it('corrupt: flips exactly one body byte', async () => {
    const p = await proxy((req) => (req.path === blobPath ? { kind: 'corrupt', atByte: 123_456 } : undefined));
    const r = await get(`${p.url}${blobPath}`);
    expect(r.status).to.equal(200);
    expect(r.error).to.equal(undefined);
    expect(r.body.length).to.equal(blob.length);
    expect(sha256(r.body)).to.not.equal(blobDigest);
    const diffs = [...r.body.keys()].filter((i) => r.body[i] !== blob[i]);
    expect(diffs).to.deep.equal([123_456]);
    expect(r.body[123_456]).to.equal(blob[123_456]! ^ 0xff);
    expect(p.requests[0]!.fault).to.equal('corrupt');
  });

  it('delay: forwards after the delay', async () => {
    const p = await proxy((req) => (req.path === '/v2/' ? { kind: 'delay', ms: 300 } : undefined));
    const t0 = Date.now();
    const r = await get(`${p.url}/v2/`);
    expect(Date.now() - t0).to.be.at.least(290);
    expect(r.status).to.equal(200);
    const t1 = Date.now();
    await get(`${p.url}${blobPath}`, {}, 'HEAD');
    expect(Date.now() - t1).to.be.below(290);
  });

  it('keeps the Host header so uploads (Location URLs) go through the proxy', async () => {
    const p = await proxy(() => undefined);
    const dir = await cleanup.tempDir('fault-img2');
    const other = await buildImage(dir, { seed: 6, layers: 1 });
    await pushImage(other, { ...registry(), url: p.url, host: p.host }, 'faults/pushed:v1');
    const put = p.requests.filter((r) => r.method === 'PUT' && r.path.includes('/blobs/uploads/'));
    expect(put).to.have.length(2); // layer + config
    expect(put.every((r) => r.status === 201)).to.equal(true);
    const man = await get(`${registry().url}/v2/faults/pushed/manifests/v1`, { accept: other.mediaType });
    expect(sha256(man.body)).to.equal(other.digest);
  });
});
