/** RegistryClient against a real plain-HTTP registry, directly and through the fault proxy. */
import { expect } from 'chai';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { FerryError } from '../../src/errors.js';
import { RegistryClient } from '../../src/registry/client.js';
import type { SystemContext } from '../../src/types/context.js';
import { buildImage, layoutBlobPath, pushImage, type BuiltImage } from '../harness/images.js';
import { startFaultProxy, type Fault, type FaultProxy, type FaultRequest } from '../harness/fault-proxy.js';
import { freePort, useRegistry } from '../harness/registry.js';
import { makeTempDir, useCleanup } from '../harness/tmp.js';
import { rejection } from '../harness/expect.js';

describe('registry/client over HTTP (real registry)', function () {
  this.timeout(60_000);
  const registry = useRegistry('http');
  const cleanup = useCleanup('after');
  let image: BuiltImage;
  let multi: BuiltImage;
  let confDir: string;
  /** A context that never reads the machine's registries.conf or auth files. */
  let base: SystemContext;

  before(async () => {
    const dir = await cleanup.tempDir('client-http');
    confDir = dir;
    await writeFile(join(dir, 'empty.conf'), '');
    base = { registriesConf: join(dir, 'empty.conf'), homeDir: dir, noCreds: true, retryDelayMs: 10 };
    image = await buildImage(join(dir, 'img'), { seed: 11, layers: 2, layerSize: 20_000 });
    multi = await buildImage(join(dir, 'multi'), {
      seed: 12, format: 'docker', layers: 1, layerSize: 1000,
      platforms: [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64', variant: 'v8' }],
    });
    await pushImage(image, registry(), 'app/one:v1');
    await pushImage(multi, registry(), 'app/multi:v1');
  });

  const open = (ctx: Partial<SystemContext> = {}, repository = 'app/one', host = registry().host) => {
    const c = RegistryClient.open({ registry: host, repository, ctx: { ...base, tlsVerify: false, ...ctx } });
    cleanup.defer(() => c.close());
    return c;
  };

  it('reads a manifest by tag and by digest, with its media type and verified digest', async () => {
    const c = open();
    const byTag = await c.getManifest('v1');
    expect(byTag.bytes.equals(image.bytes)).to.equal(true);
    expect(byTag.digest).to.equal(image.digest);
    expect(byTag.mediaType).to.equal(image.mediaType);
    const byDigest = await c.getManifest(image.digest);
    expect(byDigest.bytes.equals(image.bytes)).to.equal(true);
    const list = await open({}, 'app/multi').getManifest('v1');
    expect(list.mediaType).to.equal('application/vnd.docker.distribution.manifest.list.v2+json');
    expect(list.digest).to.equal(multi.digest);
  });

  it('refuses plain HTTP unless TLS verification is off or registries.conf marks the registry insecure', async () => {
    const e = await rejection(open({ tlsVerify: undefined }).getManifest('v1'));
    expect(e.code).to.equal('E_TLS');
    expect(e.message).to.match(new RegExp(`^pinging registry ${registry().host.replace(/\./g, '\\.')}: `));
    const conf = join(confDir, 'insecure.conf');
    await writeFile(conf, `[[registry]]\nlocation = "${registry().host}"\ninsecure = true\n`);
    const m = await open({ tlsVerify: undefined, registriesConf: conf }).getManifest('v1');
    expect(m.digest).to.equal(image.digest);
  });

  it('HEADs manifests: digest, media type and size; undefined when absent', async () => {
    const c = open();
    expect(await c.headManifest('v1')).to.deep.equal({ digest: image.digest, mediaType: image.mediaType, size: image.bytes.length });
    expect(await c.headManifest('nope')).to.equal(undefined);
  });

  it('answers E_NOT_FOUND with the registry message for a missing tag or repository', async () => {
    const e = await rejection(open().getManifest('nope'));
    expect(e.code).to.equal('E_NOT_FOUND');
    expect(e.message).to.equal(`reading manifest nope in ${registry().host}/app/one: manifest unknown`);
    const r = await rejection(open({}, 'no/such').getManifest('v1'));
    expect(r.code).to.equal('E_NOT_FOUND');
    expect(r.message).to.match(/^reading manifest v1 in [^ ]+\/no\/such: /);
    const b = await rejection(open().getBlob(`sha256:${'0'.repeat(64)}`));
    expect(b.code).to.equal('E_NOT_FOUND');
    expect(b.message).to.include('blob unknown');
  });

  it('streams a blob whole and from an offset (Range)', async () => {
    const c = open();
    const layer = image.manifests[0]!.layers[1]!;
    const expected = await readFile(layoutBlobPath(image.layoutDir, layer.digest));
    const read = async (offset: number) => {
      const { stream, size } = await c.getBlob(layer.digest, { offset });
      const chunks: Buffer[] = [];
      for await (const ch of stream) chunks.push(ch as Buffer);
      return { size, data: Buffer.concat(chunks) };
    };
    const whole = await read(0);
    expect(whole.size).to.equal(layer.size);
    expect(whole.data.equals(expected)).to.equal(true);
    const tail = await read(12_345);
    expect(tail.size).to.equal(layer.size);
    expect(tail.data.equals(expected.subarray(12_345))).to.equal(true);
  });

  it('lists every tag, paginating with n= and Link', async () => {
    const reg = registry();
    const tags = Array.from({ length: 7 }, (_, i) => `t${i}`);
    for (const t of tags) {
      const res = await request(`${reg.url}/v2/app/one/manifests/${t}`, {
        method: 'PUT', headers: { 'content-type': image.mediaType }, body: image.bytes,
      });
      await res.body.dump();
      expect(res.statusCode).to.equal(201);
    }
    const proxy = await startProxy(() => undefined);
    const all = await open({}, 'app/one', proxy.host).listTags({ pageSize: 3 });
    expect([...all].sort()).to.deep.equal([...tags, 'v1'].sort());
    const pages = proxy.requests.filter((r) => r.path.includes('/tags/list'));
    expect(pages[0]!.path).to.include('n=3');
    // distribution 2.8 paginates tag lists only in newer versions: when it did, we followed every Link.
    expect(pages.length === 1 || pages.length === 3).to.equal(true);
  });

  it('follows relative and absolute Link rel="next" pages (pages served by the proxy)', async () => {
    const page = (tags: string[], link?: string): Fault => ({
      kind: 'status', status: 200, body: JSON.stringify({ name: 'app/one', tags }),
      headers: { 'content-type': 'application/json', ...(link ? { link } : {}) },
    });
    let proxyUrl = '';
    const proxy = await startProxy((r) => {
      if (!r.path.startsWith('/v2/app/one/tags/list')) return undefined;
      const q = new URL(r.path, 'http://x').searchParams;
      if (!q.get('last')) return page(['a', 'b'], '</v2/app/one/tags/list?n=2&last=b>; rel="next"');
      if (q.get('last') === 'b') return page(['c', 'd'], `<${proxyUrl}/v2/app/one/tags/list?n=2&last=d>; rel="next"`);
      return page(['e']);
    });
    proxyUrl = proxy.url;
    expect(await open({}, 'app/one', proxy.host).listTags({ pageSize: 2 })).to.deep.equal(['a', 'b', 'c', 'd', 'e']);
    expect(proxy.requests.filter((r) => r.path.includes('/tags/list')).map((r) => r.path)).to.deep.equal([
      '/v2/app/one/tags/list?n=2', '/v2/app/one/tags/list?n=2&last=b', '/v2/app/one/tags/list?n=2&last=d',
    ]);
  });

  const startProxy = async (rule: (r: FaultRequest) => Fault | undefined): Promise<FaultProxy> => {
    const p = await startFaultProxy(registry().url, rule);
    cleanup.defer(() => p.stop());
    return p;
  };

  it('refuses a manifest whose bytes do not match the digest asked for, or the Docker-Content-Digest', async () => {
    const proxy = await startProxy((r) => (r.method === 'GET' && r.path.includes('/manifests/') ? { kind: 'corrupt', atByte: 20 } : undefined));
    const c = open({}, 'app/one', proxy.host);
    const e = await rejection(c.getManifest(image.digest));
    expect(e.code).to.equal('E_DIGEST_MISMATCH');
    expect(e.message).to.include(image.digest);
    const t = await rejection(c.getManifest('v1'));
    expect(t.code).to.equal('E_DIGEST_MISMATCH');
  });

  it('retries a manifest read whose connection is cut mid-body', async () => {
    const proxy = await startProxy((r) => (r.path.endsWith('/manifests/v1') && r.method === 'GET' && r.pathCount === 1 ? { kind: 'cut', afterBytes: 10 } : undefined));
    const m = await open({}, 'app/one', proxy.host).getManifest('v1');
    expect(m.bytes.equals(image.bytes)).to.equal(true);
    expect(proxy.requests.filter((r) => r.path.endsWith('/manifests/v1'))).to.have.length(2);
  });

  it('waits for Retry-After on 429, then succeeds', async () => {
    const proxy = await startProxy((r) =>
      r.path.includes('/manifests/') && r.pathCount === 1
        ? { kind: 'status', status: 429, headers: { 'retry-after': '1', 'content-type': 'application/json' }, body: '{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}' }
        : undefined,
    );
    const t0 = Date.now();
    const m = await open({}, 'app/one', proxy.host).getManifest('v1');
    expect(m.digest).to.equal(image.digest);
    expect(Date.now() - t0).to.be.at.least(950);
    expect(proxy.requests.filter((r) => r.path.includes('/manifests/')).map((r) => r.status)).to.deep.equal([429, 200]);
  });

  it('retries 503 up to retryTimes, never 404, and gives up with E_TOO_MANY_REQUESTS when 429 persists', async () => {
    const proxy = await startProxy((r) => {
      if (r.path.endsWith('/manifests/flaky')) return r.pathCount <= 2 ? { kind: 'status', status: 503 } : { kind: 'status', status: 404 };
      if (r.path.endsWith('/manifests/busy')) return { kind: 'status', status: 429 };
      return undefined;
    });
    const c = open({ retryTimes: 3 }, 'app/one', proxy.host);
    expect((await rejection(c.getManifest('flaky'))).code).to.equal('E_NOT_FOUND');
    expect(proxy.requests.filter((r) => r.path.endsWith('/flaky')).map((r) => r.status)).to.deep.equal([503, 503, 404]);
    const busy = await rejection(c.getManifest('busy'));
    expect(busy.code).to.equal('E_TOO_MANY_REQUESTS');
    expect(proxy.requests.filter((r) => r.path.endsWith('/busy'))).to.have.length(4);
  });

  it('skips to the offset when a Range request is answered with 200', async () => {
    const cfg = image.manifests[0]!;
    const proxy = await startProxy((r) =>
      r.path.endsWith(`/blobs/${cfg.configDigest}`) && r.headers['range']
        ? { kind: 'status', status: 200, headers: { 'content-type': 'application/octet-stream' }, body: cfg.config.toString('utf8') }
        : undefined,
    );
    const { stream, size } = await open({}, 'app/one', proxy.host).getBlob(cfg.configDigest, { offset: 10 });
    const chunks: Buffer[] = [];
    for await (const ch of stream) chunks.push(ch as Buffer);
    expect(size).to.equal(cfg.config.length);
    expect(Buffer.concat(chunks).equals(cfg.config.subarray(10))).to.equal(true);
  });

  it('follows a blob redirect without sending the registry Authorization to the other host', async () => {
    const layer = image.manifests[0]!.layers[0]!;
    const target = await startProxy(() => undefined);
    const front = await startProxy((r) =>
      r.path.includes('/blobs/') ? { kind: 'status', status: 307, headers: { location: `${target.url}${r.path}` } } : undefined,
    );
    const c = open({ registryToken: 'very-secret-token' }, 'app/one', front.host);
    const { stream, size } = await c.getBlob(layer.digest);
    let n = 0;
    for await (const ch of stream) n += (ch as Buffer).length;
    expect(n).to.equal(layer.size);
    expect(size).to.equal(layer.size);
    expect(front.requests.find((r) => r.path.includes('/blobs/'))!.headers['authorization']).to.equal('Bearer very-secret-token');
    const redirected = target.requests.find((r) => r.path.includes('/blobs/'))!;
    expect(redirected.headers['authorization']).to.equal(undefined);
  });

  it('tries mirrors first for pulls, falling back to the primary location', async () => {
    const mirror = await startProxy((r) => (r.path.includes('/manifests/v1') ? { kind: 'status', status: 404 } : undefined));
    const conf = join(confDir, 'mirror.conf');
    await writeFile(conf, [
      '[[registry]]', 'prefix = "logical.example/app"', `location = "${registry().host}/app"`, 'insecure = true',
      '[[registry.mirror]]', `location = "${mirror.host}/app"`, 'insecure = true', '',
    ].join('\n'));
    const c = RegistryClient.open({ registry: 'logical.example', repository: 'app/one', ctx: { ...base, registriesConf: conf } });
    cleanup.defer(() => c.close());
    const m = await c.getManifest('v1');
    expect(m.digest).to.equal(image.digest);
    expect(mirror.requests.map((r) => r.path)).to.include('/v2/app/one/manifests/v1');
    // By digest the mirror (which does have it) answers, and blobs then come from it too.
    const before = mirror.requests.length;
    await c.getManifest(image.digest);
    const { stream } = await c.getBlob(image.manifests[0]!.configDigest);
    stream.resume();
    await new Promise((r) => stream.on('end', r));
    expect(mirror.requests.slice(before).map((r) => r.status)).to.deep.equal([200, 200]);
  });

  it('refuses a blocked registry before any request', async () => {
    const proxy = await startProxy(() => undefined);
    const conf = join(confDir, 'blocked.conf');
    await writeFile(conf, `[[registry]]\nprefix = "${proxy.host}"\nblocked = true\n`);
    const e = await rejection(open({ registriesConf: conf }, 'app/one', proxy.host).getManifest('v1'));
    expect(e.code).to.equal('E_DENIED');
    expect(proxy.requests).to.have.length(0);
  });

  it('fails fast with E_NETWORK when the registry is down', async () => {
    const port = await freePort();
    const c = RegistryClient.open({ registry: `127.0.0.1:${port}`, repository: 'a/b', ctx: { ...base, retryDelayMs: undefined } });
    cleanup.defer(() => c.close());
    const t0 = Date.now();
    const e = await rejection(c.getManifest('v1'));
    expect(Date.now() - t0).to.be.below(3000);
    expect(e.code).to.equal('E_NETWORK');
    expect(e.message).to.equal(`pinging registry 127.0.0.1:${port}: connection refused`);
  });

  it('honours an AbortSignal', async () => {
    const proxy = await startProxy((r) => (r.path.includes('/manifests/') ? { kind: 'delay', ms: 5000 } : undefined));
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const t0 = Date.now();
    const e = await rejection(open({}, 'app/one', proxy.host).getManifest('v1', { signal: ac.signal }));
    expect(e.code).to.equal('E_ABORTED');
    expect(Date.now() - t0).to.be.below(2000);
  });
});

describe('registry/client: the /v2/ ping shared by endpoints of one host (real registry, fault proxy)', function () {
  this.timeout(60_000);
  const registry = useRegistry('http');
  const cleanup = useCleanup('after');
  let ctx: () => SystemContext;

  before(async () => {
    const dir = await cleanup.tempDir('client-ping');
    await writeFile(join(dir, 'empty.conf'), '');
    // a new context object per client, as a copy's source and destination have
    ctx = () => ({ registriesConf: join(dir, 'empty.conf'), homeDir: dir, noCreds: true, tlsVerify: false, retryDelayMs: 10 });
  });

  const pings = (p: FaultProxy) => p.requests.filter((r) => r.path === '/v2/').map((r) => r.status);
  const client = (p: FaultProxy, repository: string, actions: ('pull' | 'push')[] = ['pull']) => {
    const c = RegistryClient.open({ registry: p.host, repository, ctx: ctx(), actions });
    cleanup.defer(() => c.close());
    return c;
  };

  it('clients of other repositories on the same host and TLS settings ping once, also when pinging at the same time', async () => {
    const p = cleanup.track(await startFaultProxy(registry().url, () => undefined));
    await Promise.all([client(p, 'a/one').ping(), client(p, 'a/two', ['pull', 'push']).ping()]);
    await client(p, 'a/three').ping();
    expect(pings(p)).to.deep.equal([200]);
  });

  it('a failed ping is not shared: the next client (or one that was waiting for it) pings again', async () => {
    const p = cleanup.track(await startFaultProxy(registry().url, (r) => (r.path === '/v2/' && r.pathCount === 1 ? { kind: 'status', status: 500 } : undefined)));
    // whichever pings first gets the 500; the other, waiting for that ping, pings again
    const settled = await Promise.allSettled([client(p, 'b/one').ping(), client(p, 'b/two').ping()]);
    expect(settled.map((r) => r.status).sort()).to.deep.equal(['fulfilled', 'rejected']);
    await client(p, 'b/three').ping();
    expect(pings(p)).to.deep.equal([500, 200]);
  });

  it('clients with other TLS settings ping on their own', async () => {
    const p = cleanup.track(await startFaultProxy(registry().url, () => undefined));
    await client(p, 'c/one').ping();
    const strict = RegistryClient.open({ registry: p.host, repository: 'c/two', ctx: { ...ctx(), tlsVerify: true } });
    cleanup.defer(() => strict.close());
    expect((await rejection(strict.ping())).code).to.equal('E_TLS');
    expect(pings(p)).to.deep.equal([200]);
    expect(p.connections).to.equal(3); // https attempt + http ping, then the strict client's https attempt
  });
});
