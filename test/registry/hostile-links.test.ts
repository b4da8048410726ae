/**
 * URLs a registry hands back (`Link` of tag lists and referrers, upload `Location`) stay on the registry's origin with
 * the registry's credentials: a path that reads as a network-path reference (`//other.host/x`, in a full URL on the
 * registry's own origin or alone) must never take the `Authorization` to that other host. A real htpasswd registry sits
 * behind the fault proxy, which injects the hostile headers; a second server on another port (another host) records
 * what it receives. The real `bin/ferry` does the work.
 */
import { expect } from 'chai';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { useRegistry, type TestRegistry } from '../harness/registry.js';
import { buildImage, pushImage, type BuiltImage } from '../harness/images.js';
import { startFaultProxy, type Fault, type FaultRequest } from '../harness/fault-proxy.js';
import { useCleanup } from '../harness/tmp.js';
import { ferryProcess } from '../harness/cli.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

const USER = 'linkuser';
const PASSWORD = 'L1nk-s3cret-pw';

describe('registry-supplied URLs never take credentials to another host (real registry, real bin/ferry)', function () {
  this.timeout(120_000);
  const cleanup = useCleanup('after');
  const registry = useRegistry('basic', { username: USER, password: PASSWORD });
  let image: BuiltImage;
  let dir: string;
  let confFile: string;

  before(async () => {
    dir = await cleanup.tempDir('hostile-links');
    image = await buildImage(path.join(dir, 'img'), { seed: 43, layers: 1, layerSize: 3000 });
    confFile = path.join(dir, 'registries.conf');
    await writeFile(confFile, '');
    await pushImage(image, registry(), 'app/one:v1', { username: USER, password: PASSWORD });
  });

  const env = () => ({ HOME: dir, REGISTRY_AUTH_FILE: path.join(dir, 'none.json'), XDG_RUNTIME_DIR: dir });

  /** A server on another port that records every request and answers 404. */
  async function bystander(): Promise<{ hostPort: string; seen: Seen[] }> {
    const seen: Seen[] = [];
    const server = createServer((req, res) => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
      req.resume();
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup.defer(() => new Promise<void>((r) => server.close(() => r())));
    return { hostPort: `127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
  }

  async function front(reg: TestRegistry, rule: (r: FaultRequest, self: string) => Fault | undefined) {
    let self = '';
    const proxy = await startFaultProxy(reg.url, (r) => rule(r, self), { ca: reg.caPem });
    self = proxy.host;
    cleanup.track(proxy);
    return proxy;
  }

  function expectNoCredentials(seen: Seen[], r: { stdout: string; stderr: string }): void {
    const basic = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');
    for (const s of seen) {
      expect(s.headers.authorization, `Authorization sent to the other host (${s.method} ${s.url})`).to.equal(undefined);
      expect(JSON.stringify(s)).not.to.contain(basic);
    }
    expect(r.stdout + r.stderr).not.to.contain(PASSWORD);
    expect(r.stdout + r.stderr).not.to.contain(basic);
  }

  it('list-tags: a next-page Link `http://REGISTRY//OTHER/…` stays on the registry', async () => {
    const other = await bystander();
    const proxy = await front(registry(), (r, self) =>
      r.method === 'GET' && r.path.startsWith('/v2/app/one/tags/list') && r.pathCount === 1
        ? { kind: 'headers', headers: { link: `<http://${self}//${other.hostPort}/v2/app/one/tags/list?last=v1>; rel="next"` } }
        : undefined,
    );
    const r = await ferryProcess(
      ['--registries-conf', confFile, 'list-tags', '--tls-verify=false', '--creds', `${USER}:${PASSWORD}`, `docker://${proxy.host}/app/one`],
      { env: env() },
    );
    expectNoCredentials(other.seen, r);
    expect(other.seen).to.deep.equal([]);
    // the registry itself got the second page's (odd) path, with its credentials
    expect(proxy.requests.some((q) => q.path.startsWith(`//${other.hostPort}/`) && q.headers['authorization'] !== undefined)).to.equal(true);
  });

  it('copy --include-referrers: a referrers Link `//OTHER/…` is refused as another host', async () => {
    const other = await bystander();
    const index = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] });
    const proxy = await front(registry(), (r) =>
      r.method === 'GET' && /^\/v2\/app\/one\/referrers\//.test(r.path)
        ? {
            kind: 'status',
            status: 200,
            headers: { 'content-type': 'application/vnd.oci.image.index.v1+json', link: `<//${other.hostPort}/v2/app/one/referrers/x>; rel="next"` },
            body: index,
          }
        : undefined,
    );
    const out = path.join(await cleanup.tempDir('hostile-links-out'), 'd');
    const r = await ferryProcess(
      ['--registries-conf', confFile, 'copy', '--include-referrers', '--src-tls-verify=false', '--src-creds', `${USER}:${PASSWORD}`, `docker://${proxy.host}/app/one:v1`, `dir:${out}`],
      { env: env() },
    );
    expectNoCredentials(other.seen, r);
    expect(other.seen).to.deep.equal([]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain(`the registry pointed to another host (${other.hostPort})`);
  });

  it('copy to the registry: an upload Location `http://REGISTRY//OTHER/…` stays on the registry', async () => {
    const other = await bystander();
    const proxy = await front(registry(), (r, self) =>
      r.method === 'POST' && r.path.startsWith('/v2/app/two/blobs/uploads/')
        ? { kind: 'status', status: 202, headers: { location: `http://${self}//${other.hostPort}/v2/app/two/blobs/uploads/abc?_state=s3cret-state`, 'content-length': '0' } }
        : undefined,
    );
    const r = await ferryProcess(
      ['--registries-conf', confFile, 'copy', '--dest-tls-verify=false', '--dest-creds', `${USER}:${PASSWORD}`, `oci:${path.join(dir, 'img')}:latest`, `docker://${proxy.host}/app/two:v1`],
      { env: env() },
    );
    expectNoCredentials(other.seen, r);
    expect(other.seen).to.deep.equal([]);
    expect(r.code).to.equal(1);
    expect(r.stderr).not.to.contain('s3cret-state');
  });
});
