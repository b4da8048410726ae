/**
 * Request pacing per registry host (src/registry/rate-limit.ts) against a real registry behind fault proxies: a 429
 * holds every request to its host (and no other host), an abort ends the wait, a low RateLimit budget spreads the
 * requests that count over the window, and the header parsers.
 */
import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, FerryError } from '../../src/errors.js';
import { RegistryClient } from '../../src/registry/client.js';
import { onRegistryWait, parseRateLimitHeader, rateFor } from '../../src/registry/rate-limit.js';
import { parseMaxRequestsPerSecond } from '../../src/cli/options/registry.js';
import type { SystemContext } from '../../src/types/context.js';
import type { RegistryWaitEvent } from '../../src/types/progress.js';
import { buildImage, pushImage, type BuiltImage } from '../harness/images.js';
import { startFaultProxy, type Fault, type FaultProxy, type FaultRequest } from '../harness/fault-proxy.js';
import { useRegistry } from '../harness/registry.js';
import { useCleanup } from '../harness/tmp.js';
import { rejection } from '../harness/expect.js';

describe('registry/rate-limit (real registry, fault proxy)', function () {
  this.timeout(60_000);
  const registry = useRegistry('http');
  const cleanup = useCleanup('after');
  let image: BuiltImage;
  let multi: BuiltImage;
  let base: SystemContext;
  const proxies: FaultProxy[] = [];
  const clients: RegistryClient[] = [];

  before(async () => {
    const dir = await cleanup.tempDir('rate-limit');
    await writeFile(join(dir, 'empty.conf'), '');
    base = { registriesConf: join(dir, 'empty.conf'), homeDir: dir, noCreds: true, tlsVerify: false, retryDelayMs: 10 };
    image = await buildImage(join(dir, 'img'), { seed: 41, layers: 1, layerSize: 2000 });
    multi = await buildImage(join(dir, 'multi'), {
      seed: 42, layers: 1, layerSize: 500,
      platforms: [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64', variant: 'v8' }, { os: 'linux', architecture: 's390x' }],
    });
    await pushImage(image, registry(), 'rl/one:v1');
    await pushImage(multi, registry(), 'rl/multi:v1');
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await Promise.all(proxies.splice(0).map((p) => p.stop()));
  });

  const proxy = async (rule: (r: FaultRequest) => Fault | undefined) => {
    const p = await startFaultProxy(registry().url, rule);
    proxies.push(p);
    return p;
  };
  const open = (host: string, repository = 'rl/one', ctx: Partial<SystemContext> = {}) => {
    const c = RegistryClient.open({ registry: host, repository, ctx: { ...base, ...ctx } });
    clients.push(c);
    return c;
  };

  it('holds every request to a host that answered 429 until Retry-After, not those to another host; an abort ends the wait', async () => {
    const tooMany: Fault = { kind: 'status', status: 429, headers: { 'retry-after': '30' }, body: '{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}' };
    const busy = await proxy((r) => (r.method === 'GET' && r.path.includes('/manifests/') ? tooMany : undefined));
    const other = await proxy(() => undefined);
    const waits: RegistryWaitEvent[] = [];
    let announced!: () => void;
    const paused = new Promise<void>((resolve) => (announced = resolve));
    const stop = onRegistryWait((e) => {
      waits.push(e);
      if (e.host === busy.host) announced();
    });
    const ac = new AbortController();
    try {
      const first = open(busy.host).getManifest('v1', { signal: ac.signal });
      first.catch(() => undefined);
      await paused;
      const seen = busy.requests.length;
      // another repository on the paused host waits too; the other host answers at once
      const second = open(busy.host, 'rl/multi').getManifest('v1', { signal: ac.signal });
      second.catch(() => undefined);
      const m = await open(other.host).getManifest('v1');
      expect(m.digest).to.equal(image.digest);
      await open(other.host).headManifest('v1');
      expect(busy.requests.length).to.equal(seen);
      ac.abort();
      expect((await rejection(first)).code).to.equal('E_ABORTED');
      expect((await rejection(second)).code).to.equal('E_ABORTED');
      expect(busy.requests.length).to.equal(seen);
      expect(busy.requests.filter((r) => r.path.includes('/manifests/')).map((r) => r.status)).to.deep.equal([429]);
    } finally {
      stop();
    }
    const w = waits.filter((e) => e.host === busy.host);
    expect(w).to.have.length(1);
    expect(w[0]).to.include({ kind: 'registry-wait', reason: 'retry-after', status: 429 });
    expect(w[0]!.ms).to.be.greaterThan(25_000);
    expect(waits.filter((e) => e.host === other.host)).to.deep.equal([]);
  });

  it('spreads the requests that count over the RateLimit window once the budget is low; other kinds are not held', async () => {
    const budget: Fault = { kind: 'headers', headers: { 'ratelimit-limit': '100;w=1', 'ratelimit-remaining': '0;w=1' } };
    const p = await proxy((r) => (r.method === 'GET' && r.path.includes('/manifests/') ? budget : undefined));
    const waits: RegistryWaitEvent[] = [];
    const stop = onRegistryWait((e) => {
      if (e.host === p.host) waits.push(e);
    });
    try {
      const c = open(p.host, 'rl/multi');
      const index = await c.getManifest('v1');
      const digests = multi.manifests.map((m) => m.digest);
      expect(digests).to.have.length(3);
      const got = await Promise.all(digests.map((d) => c.getManifest(d)));
      expect(got.map((g) => g.digest)).to.deep.equal(digests);
      expect(index.digest).to.equal(multi.digest);
    } finally {
      stop();
    }
    const gets = p.requests.filter((r) => r.method === 'GET' && r.path.includes('/manifests/')).map((r) => r.at);
    expect(gets).to.have.length(4);
    // window 1 s, 0 left: one request that counts a second, counted from the answer that said so
    for (let i = 1; i < gets.length; i++) expect(gets[i]! - gets[0]!).to.be.at.least(i * 1000);
    expect(waits.length).to.be.greaterThan(0);
    expect(waits[0]).to.include({ reason: 'rate-limit-budget', remaining: 0, limit: 100, windowSeconds: 1 });
  });

  it('does not wait a year for a RateLimit budget (a window of a year, nothing left): the request fails at once, saying why', async () => {
    const budget: Fault = { kind: 'headers', headers: { 'ratelimit-remaining': '0;w=31536000' } };
    const p = await proxy((r) => (r.method === 'GET' && r.path.includes('/manifests/') ? budget : undefined));
    const c = open(p.host);
    expect((await c.getManifest('v1')).digest).to.equal(image.digest);
    const e = await rejection(c.getManifest('v1'));
    expect(e).to.be.instanceOf(FerryError);
    expect((e as FerryError).code).to.equal(ErrorCode.TooManyRequests);
    expect((e as FerryError).message).to.contain(`${p.host}: the registry's rate limit budget is used up (RateLimit-Remaining 0 over 31536000 s): the next request would wait 8760 h, more than the 6 h ferry waits`);
    expect(p.requests.filter((r) => r.path.includes('/manifests/'))).to.have.length(1);
  });

  it('parses RateLimit headers and --max-requests-per-second', () => {
    expect(parseRateLimitHeader('76;w=21600')).to.deep.equal({ value: 76, window: 21600 });
    expect(parseRateLimitHeader(' 100 ; W=60')).to.deep.equal({ value: 100, window: 60 });
    expect(parseRateLimitHeader('12')).to.deep.equal({ value: 12 });
    expect(parseRateLimitHeader('x;w=1')).to.equal(undefined);
    expect(parseRateLimitHeader(undefined)).to.equal(undefined);
    expect(parseMaxRequestsPerSecond(['Registry.example.com=5', '127.0.0.1:5000=0.5'])).to.deep.equal({ 'registry.example.com': 5, '127.0.0.1:5000': 0.5 });
    for (const bad of ['=5', 'host', 'host=', 'host=0', 'host=-1', 'host=x', 'a/b=3']) {
      expect(() => parseMaxRequestsPerSecond(bad), bad).to.throw(/--max-requests-per-second/);
    }
  });

  it('finds the --max-requests-per-second of a host however the user wrote it: with its default port, Docker Hub by any name', () => {
    const rate = (flags: string[], host: string) => rateFor(host, { maxRequestsPerSecond: parseMaxRequestsPerSecond(flags) });
    // URLs leave the scheme's default port out of their host
    expect(rate(['registry.example.com:443=5'], new URL('https://registry.example.com:443/v2/').host)).to.equal(5);
    expect(rate(['registry.example.com:80=4'], new URL('http://registry.example.com/v2/').host)).to.equal(4);
    expect(rate(['registry.example.com=3'], 'registry.example.com')).to.equal(3);
    expect(rate(['registry.example.com:5000=2'], 'registry.example.com:5000')).to.equal(2);
    expect(rate(['registry.example.com=2'], 'registry.example.com:5000')).to.equal(undefined);
    expect(rate(['registry.example.com:443=2'], 'registry.example.com:5000')).to.equal(undefined);
    expect(rate(['[::1]:5000=6'], '[::1]:5000')).to.equal(6);
    expect(rate(['other.example.com=1'], 'registry.example.com')).to.equal(undefined);
    for (const name of ['docker.io', 'index.docker.io', 'docker.io:443', 'registry-1.docker.io']) {
      expect(rate([`${name}=7`], 'registry-1.docker.io'), name).to.equal(7);
    }
  });
});
