/**
 * Listings a registry paginates (tag lists, the catalog) end whatever the registry answers: a `Link` that leads
 * back to pages already read under new URLs is a loop, and a listing that keeps growing stops at its byte cap. A real
 * registry behind the fault proxy, which answers the pages.
 */
import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode } from '../../src/errors.js';
import { listCatalog } from '../../src/registry/catalog.js';
import { listDockerTags } from '../../src/transports/docker/tags.js';
import { parseNormalizedName } from '../../src/reference/name.js';
import type { SystemContext } from '../../src/types/context.js';
import { startFaultProxy, type Fault, type FaultRequest } from '../harness/fault-proxy.js';
import { rejection } from '../harness/expect.js';
import { useRegistry } from '../harness/registry.js';
import { useCleanup } from '../harness/tmp.js';

describe('registry: paginated listings always end (real registry, fault proxy)', function () {
  this.timeout(60_000);
  const registry = useRegistry('http');
  const cleanup = useCleanup('after');
  let base: SystemContext;

  before(async () => {
    const dir = await cleanup.tempDir('listing-bounds');
    await writeFile(join(dir, 'empty.conf'), '');
    base = { registriesConf: join(dir, 'empty.conf'), homeDir: dir, noCreds: true, retryDelayMs: 10, tlsVerify: false };
  });

  const proxy = async (rule: (r: FaultRequest) => Fault | undefined) => cleanup.track(await startFaultProxy(registry().url, rule));
  /** A page `body` with a `Link` to `next`. */
  const page = (body: unknown, next: string): Fault => ({ kind: 'status', status: 200, headers: { 'content-type': 'application/json', link: `<${next}>; rel="next"` }, body: JSON.stringify(body) });
  /** The `n` of `?n=` in a request, 0 without. */
  const at = (r: FaultRequest) => Number(new URL(r.path, 'http://x').searchParams.get('n') ?? 0);

  it('a tag list whose Link leads back to the same tags under ever new URLs is a loop, not an endless listing', async () => {
    const p = await proxy((r) => (r.path.startsWith('/v2/app/tags/list') ? page({ name: 'app', tags: ['v1', 'v2'] }, `/v2/app/tags/list?n=${at(r) + 1}`) : undefined));
    const e = await rejection(listDockerTags({ name: parseNormalizedName(`${p.host}/app`) }, base));
    expect(e.code).to.equal(ErrorCode.Registry);
    expect(e.message).to.equal(`docker://${p.host}/app: tag list pagination does not end (page 2 lists v1 again)`);
    expect(p.requests.filter((r) => r.path.startsWith('/v2/app/tags/list'))).to.have.length(2);
  });

  it('a tag list that keeps growing (new tags on every page, without end) stops at its byte cap', async () => {
    // 12 MiB pages of tags never listed before
    const tags = (n: number) => Array.from({ length: 100_000 }, (_, i) => `t${n}-${i}-${'x'.repeat(100)}`);
    const p = await proxy((r) => (r.path.startsWith('/v2/app/tags/list') ? page({ name: 'app', tags: tags(at(r)) }, `/v2/app/tags/list?n=${at(r) + 1}`) : undefined));
    const e = await rejection(listDockerTags({ name: parseNormalizedName(`${p.host}/app`) }, base));
    expect(e.code).to.equal(ErrorCode.Registry);
    expect(e.message).to.equal(`docker://${p.host}/app: the tag list is larger than ${64 * 1024 * 1024} bytes over its pages`);
    expect(p.requests.filter((r) => r.path.startsWith('/v2/app/tags/list')).length).to.be.within(5, 7);
  });

  it('a catalog whose Link leads back to the same repositories under ever new URLs is a loop', async () => {
    const p = await proxy((r) => (r.path.startsWith('/v2/_catalog') ? page({ repositories: ['a', 'b'] }, `/v2/_catalog?last=b&n=${at(r) + 1}`) : undefined));
    const pages: string[][] = [];
    const e = await rejection(
      (async () => {
        for await (const x of listCatalog(p.host, base)) pages.push(x);
      })(),
    );
    expect(e.code).to.equal(ErrorCode.Registry);
    expect(e.message).to.equal(`listing the repositories of ${p.host}: the catalog pagination does not end (page 2 lists a again)`);
    expect(pages).to.deep.equal([['a', 'b']]);
  });
});
