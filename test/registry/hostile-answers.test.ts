/**
 * Answers a registry or its token server may give that a well-behaved one never does: redirect loops, redirects to
 * `file:`, token answers that are huge or not JSON, manifests over the 4 MiB bound, a
 * `Docker-Content-Digest` that does not match. Each ends in one line naming what failed, with a non-zero status and
 * nothing written. A real registry (plain HTTP) behind the fault proxy; the real `bin/ferry`.
 */
import { expect } from 'chai';
import path from 'node:path';
import { readdir, writeFile } from 'node:fs/promises';
import { useRegistry } from '../harness/registry.js';
import { buildImage, pushImage, type BuiltImage } from '../harness/images.js';
import { startFaultProxy, type Fault, type FaultRequest } from '../harness/fault-proxy.js';
import { useCleanup } from '../harness/tmp.js';
import { ferryProcess } from '../harness/cli.js';

describe('hostile registry answers (real registry, real bin/ferry)', function () {
  this.timeout(120_000);
  const cleanup = useCleanup('after');
  const registry = useRegistry('http');
  let image: BuiltImage;
  let dir: string;
  let confFile: string;

  before(async () => {
    dir = await cleanup.tempDir('hostile-answers');
    image = await buildImage(path.join(dir, 'img'), { seed: 47, layers: 1, layerSize: 2000 });
    confFile = path.join(dir, 'registries.conf');
    await writeFile(confFile, '');
    await pushImage(image, registry(), 'app/one:v1');
  });

  const env = () => ({ HOME: dir, REGISTRY_AUTH_FILE: path.join(dir, 'none.json'), XDG_RUNTIME_DIR: dir });

  async function inspectThrough(rule: (r: FaultRequest, self: string) => Fault | undefined, extra: string[] = []) {
    let self = '';
    const proxy = await startFaultProxy(registry().url, (r) => rule(r, self));
    self = proxy.host;
    cleanup.track(proxy);
    return ferryProcess(['--registries-conf', confFile, 'inspect', '--raw', '--tls-verify=false', ...extra, `docker://${proxy.host}/app/one:v1`], { env: env() });
  }

  function expectOneLine(r: { code: number; stderr: string; stdout: string }, text: string | RegExp): void {
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stdout).to.equal('');
    const lines = r.stderr.trim().split('\n');
    expect(lines, r.stderr).to.have.length(1);
    if (typeof text === 'string') expect(lines[0]).to.contain(text);
    else expect(lines[0]).to.match(text);
  }

  it('a redirect loop ends after a bounded number of hops', async () => {
    const r = await inspectThrough((q, self) => (q.path.includes('/manifests/') ? { kind: 'status', status: 302, headers: { location: `http://${self}${q.path}` } } : undefined));
    expectOneLine(r, 'too many redirects');
  });

  it('a redirect to file: is refused', async () => {
    const r = await inspectThrough((q) => (q.path.includes('/manifests/') ? { kind: 'status', status: 307, headers: { location: 'file:///etc/passwd' } } : undefined));
    expectOneLine(r, 'redirect to unsupported URL scheme file:');
  });

  for (const [label, body, text] of [
    ['larger than 1 MiB', JSON.stringify({ token: 'x'.repeat(2 << 20) }), 'token answer too large'],
    ['not JSON', '<html>token</html>', 'the token server answered something that is not JSON'],
    ['without a token', JSON.stringify({ expires_in: 1e308 }), 'the token server answered no token'],
  ] as const) {
    it(`a token answer ${label} is one clear error`, async () => {
      const r = await inspectThrough((q, self): Fault | undefined => {
        if (q.path.startsWith('/token')) return { kind: 'status', status: 200, headers: { 'content-type': 'application/json' }, body };
        if (q.headers['authorization'] === undefined && q.path.startsWith('/v2/')) {
          return { kind: 'status', status: 401, headers: { 'www-authenticate': `Bearer realm="http://${self}/token",service="s"` } };
        }
        return undefined;
      });
      expectOneLine(r, text);
    });
  }

  it('a manifest over 4 MiB is refused', async () => {
    const big = JSON.stringify({ schemaVersion: 2, pad: 'x'.repeat(5 << 20) });
    const r = await inspectThrough((q) => (q.path.includes('/manifests/') ? { kind: 'status', status: 200, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, body: big } : undefined));
    expectOneLine(r, 'manifest is larger than 4194304 bytes');
  });

  it('a manifest that does not match the Docker-Content-Digest header is refused', async () => {
    const wrong = `sha256:${'1'.repeat(64)}`;
    const r = await inspectThrough((q) => (q.path.includes('/manifests/') ? { kind: 'headers', headers: { 'docker-content-digest': wrong } } : undefined));
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain('Docker-Content-Digest');
    expect(r.stdout).to.equal('');
  });

  it('a copy whose manifest read fails leaves nothing behind in dir:', async () => {
    let self = '';
    const proxy = await startFaultProxy(registry().url, (q) => (q.path.includes('/manifests/') ? { kind: 'status', status: 302, headers: { location: `http://${self}${q.path}` } } : undefined));
    self = proxy.host;
    cleanup.track(proxy);
    const out = path.join(await cleanup.tempDir('hostile-answers-out'), 'd');
    const r = await ferryProcess(['--registries-conf', confFile, 'copy', '--src-tls-verify=false', `docker://${proxy.host}/app/one:v1`, `dir:${out}`], { env: env() });
    expectOneLine(r, 'too many redirects');
    expect(await readdir(out).catch(() => [])).to.deep.equal([]);
  });
});
