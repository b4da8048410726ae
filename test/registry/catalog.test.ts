/** The registry catalog (`/v2/_catalog`) against a real registry: pagination, page size, refusals, hostile answers. */
import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, FerryError } from '../../src/errors.js';
import { listCatalog, MAX_CATALOG_PAGE_SIZE } from '../../src/registry/catalog.js';
import type { SystemContext } from '../../src/types/context.js';
import { buildImage, pushImage } from '../harness/images.js';
import { startFaultProxy, type Fault, type FaultRequest } from '../harness/fault-proxy.js';
import { freePort, useRegistry } from '../harness/registry.js';
import { useCleanup } from '../harness/tmp.js';

async function all(it: AsyncIterable<string[]>): Promise<string[][]> {
  const pages: string[][] = [];
  for await (const p of it) pages.push(p);
  return pages;
}

async function failure(it: AsyncIterable<string[]>): Promise<FerryError> {
  try {
    await all(it);
  } catch (e) {
    expect(e).to.be.instanceOf(FerryError);
    return e as FerryError;
  }
  throw new Error('expected the listing to fail');
}

describe('registry/catalog: listing the repositories of a registry', function () {
  this.timeout(30_000);
  const registry = useRegistry('http');
  const token = useRegistry('token');
  const cleanup = useCleanup();
  const repos = ['a/one', 'a/two', 'b', 'c/x/y', 'd'];
  let base: SystemContext;

  before(async () => {
    const dir = await cleanup.tempDir('catalog');
    await writeFile(join(dir, 'empty.conf'), '');
    base = { registriesConf: join(dir, 'empty.conf'), homeDir: dir, noCreds: true, retryDelayMs: 10, tlsVerify: false };
    const img = await buildImage(join(dir, 'img'), { seed: 9, layers: 1, layerSize: 500 });
    for (const r of repos) await pushImage(img, registry(), `${r}:v1`);
    await pushImage(img, token(), 'team/app:v1');
  });

  /** A fault proxy in front of the http registry, answering `fault(req)` where it returns one. */
  async function proxy(fault: (req: FaultRequest) => Fault | undefined = () => undefined) {
    return cleanup.track(await startFaultProxy(registry().url, fault));
  }

  it('follows Link pagination with ?n= pages, in the registry’s order', async () => {
    const p = await proxy();
    const pages = await all(listCatalog(p.host, base, { pageSize: 2 }));
    expect(pages).to.deep.equal([['a/one', 'a/two'], ['b', 'c/x/y'], ['d']]);
    const asked = p.requests.filter((r) => r.path.startsWith('/v2/_catalog')).map((r) => r.path);
    expect(asked[0]).to.equal('/v2/_catalog?n=2');
    expect(asked).to.have.length(3);
    expect(asked[1]).to.match(/[?&]last=a(%2F|\/)two/);
  });

  it('without a page size: one request, the registry’s own page', async () => {
    expect(await all(listCatalog(registry().host, base))).to.deep.equal([repos]);
  });

  it('a registry that refuses the page size is asked again without it', async () => {
    const p = await proxy((r) =>
      r.path.includes('n=') ? { kind: 'status', status: 400, body: '{"errors":[{"code":"PAGINATION_NUMBER_INVALID","message":"invalid number of results requested"}]}' } : undefined,
    );
    expect((await all(listCatalog(p.host, base, { pageSize: 5000 }))).flat()).to.deep.equal(repos);
  });

  for (const [status, body, said] of [
    [404, '', '(HTTP 404)'],
    [403, '{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}', '(HTTP 403: denied: requested access to the resource is denied)'],
    [401, '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}', '(HTTP 401: unauthorized: authentication required)'],
    [400, '{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}', '(HTTP 400: The operation is unsupported.)'],
  ] as const) {
    it(`a catalog the registry refuses (HTTP ${status}) says so in one line`, async () => {
      const p = await proxy((r) => (r.path.startsWith('/v2/_catalog') ? { kind: 'status', status, body } : undefined));
      const e = await failure(listCatalog(p.host, base));
      expect(e.message).to.equal(`listing the repositories of ${p.host}: the registry does not allow catalog access ${said}`);
      expect(e.code).to.equal(status === 401 ? ErrorCode.Unauthorized : status === 403 ? ErrorCode.Denied : ErrorCode.Unsupported);
    });
  }

  it('an unreachable registry is a network error naming the listing', async () => {
    const host = `127.0.0.1:${await freePort()}`;
    const e = await failure(listCatalog(host, { ...base, retryTimes: 0 }));
    expect(e.code).to.equal(ErrorCode.Network);
    expect(e.message).to.match(new RegExp(`^listing the repositories of ${host}: `));
  });

  const page = (body: string, link?: string): Fault => ({ kind: 'status', status: 200, headers: { 'content-type': 'application/json', ...(link ? { link } : {}) }, body });

  it('refuses pagination to another host, pagination without end, malformed and oversized pages', async () => {
    const cases: [Fault, string][] = [
      [page('{"repositories":["a"]}', '<http://other.example/v2/_catalog?last=a>; rel="next"'), 'the catalog pagination points to another host (other.example)'],
      [page('{"repositories":["a"]}', '</v2/_catalog>; rel="next"'), 'the catalog pagination does not end'],
      [page('{"repositories":[1]}'), 'the catalog is malformed'],
      [page('{"repositories":"a"}'), 'the catalog is malformed'],
      [page('<html>'), 'the catalog is not valid JSON'],
      [page(`{"repositories":["${'a'.repeat(MAX_CATALOG_PAGE_SIZE)}"]}`), `a catalog page is larger than ${MAX_CATALOG_PAGE_SIZE} bytes`],
    ];
    for (const [fault, msg] of cases) {
      const p = await proxy((r) => (r.path.startsWith('/v2/_catalog') ? fault : undefined));
      const e = await failure(listCatalog(p.host, base));
      expect(e.message).to.equal(`listing the repositories of ${p.host}: ${msg}`);
    }
  });

  it('token registry: asks for registry:catalog:* with the credentials; anonymous clients are refused', async () => {
    const reg = token();
    const ctx = { ...base, tlsVerify: true, certDir: reg.certDir, noCreds: false, credentials: { username: reg.username!, password: reg.password! } };
    expect((await all(listCatalog(reg.host, ctx))).flat()).to.deep.equal(['team/app']);
    expect(reg.tokenServer!.requests.some((r) => r.scope.includes('registry:catalog:*') && r.authorized)).to.equal(true);
    const e = await failure(listCatalog(reg.host, { ...ctx, credentials: undefined, noCreds: true }));
    expect(e.message).to.match(new RegExp(`^listing the repositories of ${reg.host}: the registry does not allow catalog access \\(HTTP 401`));
  });
});
