/**
 * Credentials go only to the registry they belong to and to the token realm that registry's own challenge named.
 * A real registry (htpasswd or token auth) sits behind the fault proxy, which redirects every blob GET to a second
 * server started here (127.0.0.1 on another port: another host). That server either serves the blob as plain storage
 * would, or challenges with a Bearer realm of its own; it records everything it receives, and must never see the
 * registry's credentials in any form (headers, query, body). The real `bin/ferry` does the copy.
 */
import { expect } from 'chai';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { useRegistry, type RegistryMode, type TestRegistry } from '../harness/registry.js';
import { buildImage, layoutBlobPath, pushImage, type BuiltImage } from '../harness/images.js';
import { startFaultProxy, type Fault } from '../harness/fault-proxy.js';
import { useCleanup } from '../harness/tmp.js';
import { ferryProcess } from '../harness/cli.js';

/** One request the storage server received. */
interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** The anonymous token the storage server's realm hands out. */
const STORAGE_TOKEN = 'storage-anonymous-token-1';

/**
 * A blob store on its own host: `GET /blob/<digest>` serves the layout's blob; with `challenge`, only to requests
 * bearing {@link STORAGE_TOKEN}, others get a 401 naming its own realm (`GET /token`, which answers anyone);
 * `GET /v2/` (a redirected ping) always challenges that way.
 */
async function startStorage(layout: string, challenge: boolean): Promise<{ url: string; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('latin1') });
      const u = new URL(req.url ?? '/', 'http://x');
      const port = (server.address() as AddressInfo).port;
      if (u.pathname === '/token') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: STORAGE_TOKEN, expires_in: 300 }));
        return;
      }
      const m = /^\/blob\/(sha256:[0-9a-f]{64})$/.exec(u.pathname);
      if (!m && u.pathname !== '/v2/') return void res.writeHead(404).end();
      if ((challenge || !m) && req.headers.authorization !== `Bearer ${STORAGE_TOKEN}`) {
        res.writeHead(401, {
          'www-authenticate': `Bearer realm="http://127.0.0.1:${port}/token",service="storage",scope="blob:read"`,
          'content-type': 'application/json',
        });
        res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'storage wants a token' }] }));
        return;
      }
      if (!m) return void res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      readFile(layoutBlobPath(layout, m[1]!)).then(
        (b) => res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(b.length) }).end(b),
        () => res.writeHead(404).end(),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

/** Every form the credentials could take on the wire. */
function secretForms(user: string, password: string, extra: string[] = []): string[] {
  const basic = Buffer.from(`${user}:${password}`).toString('base64');
  return [password, encodeURIComponent(password), basic, `account=${user}`, `username=${user}`, ...extra];
}

function expectNothingOf(seen: Seen[], secrets: string[]): void {
  for (const r of seen) {
    const text = `${r.method} ${r.url}\n${JSON.stringify(r.headers)}\n${r.body}`;
    for (const s of secrets) expect(text, `storage request ${r.method} ${r.url}`).not.to.contain(s);
    const authz = r.headers.authorization;
    expect(authz === undefined || authz === `Bearer ${STORAGE_TOKEN}`, `Authorization sent to the storage host: ${String(authz)}`).to.equal(true);
  }
}

describe('registry credentials and redirects (real registries, real bin/ferry)', function () {
  this.timeout(120_000);
  const cleanup = useCleanup('after');
  let image: BuiltImage;
  let dir: string;
  let confFile: string;

  before(async () => {
    dir = await cleanup.tempDir('redirect-creds');
    image = await buildImage(path.join(dir, 'img'), { seed: 41, layers: 2, layerSize: 5000 });
    confFile = path.join(dir, 'registries.conf');
    await writeFile(confFile, '');
  });

  const env = () => ({ HOME: dir, REGISTRY_AUTH_FILE: path.join(dir, 'none.json'), XDG_RUNTIME_DIR: dir });

  /** The registry behind a proxy that redirects blob GETs to `storageUrl`. */
  async function redirectingFront(reg: TestRegistry, storageUrl: string) {
    const front = await startFaultProxy(
      reg.url,
      (r) => {
        const m = r.method === 'GET' ? /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(r.path.split('?')[0]!) : null;
        return m ? { kind: 'status', status: 307, headers: { location: `${storageUrl}/blob/${m[1]}` } } : undefined;
      },
      { ca: reg.caPem },
    );
    cleanup.track(front);
    return front;
  }

  for (const mode of ['basic', 'token'] as RegistryMode[]) {
    describe(`${mode} registry`, () => {
      const registry = useRegistry(mode, { password: `Pw-${mode}-s3cret-9` });
      before(async () => pushImage(image, registry(), 'app/one:v1', { username: registry().username, password: registry().password }));

      for (const challenge of [true, false]) {
        it(challenge
          ? 'a redirect target that challenges with its own realm gets anonymous token requests only, never the credentials'
          : 'a blob redirect to plain storage carries no Authorization header', async () => {
          const reg = registry();
          const storage = await startStorage(path.join(dir, 'img'), challenge);
          cleanup.defer(() => new Promise<void>((r) => storage.server.close(() => r())));
          const front = await redirectingFront(reg, storage.url);
          const out = path.join(await cleanup.tempDir('redirect-out'), 'd');
          const creds = `${reg.username}:${reg.password}`;
          const r = await ferryProcess(
            ['--registries-conf', confFile, 'copy', '--src-tls-verify=false', '--src-creds', creds, `docker://${front.host}/app/one:v1`, `dir:${out}`],
            { env: env() },
          );
          expectNothingOf(storage.seen, secretForms(reg.username!, reg.password!));
          expect(r.code, r.stderr).to.equal(0);
          expect(r.stdout + r.stderr).not.to.contain(reg.password!);
          const blobGets = storage.seen.filter((s) => s.url.startsWith('/blob/'));
          expect(blobGets.length).to.be.greaterThan(0);
          if (challenge) {
            const tokenReqs = storage.seen.filter((s) => s.url.startsWith('/token'));
            expect(tokenReqs.length).to.be.greaterThan(0);
            expect(blobGets.some((s) => s.headers.authorization === `Bearer ${STORAGE_TOKEN}`)).to.equal(true);
          } else {
            expect(blobGets.every((s) => s.headers.authorization === undefined)).to.equal(true);
          }
          for (const layer of image.manifests[0]!.layers) {
            expect((await readFile(path.join(out, layer.digest.slice('sha256:'.length)))).length).to.equal(layer.size);
          }
        });
      }
    });
  }

  describe('http registry with --registry-token', () => {
    const registry = useRegistry('http');
    before(async () => pushImage(image, registry(), 'app/one:v1'));

    it('never sends the bearer token to a redirect target that challenges', async () => {
      const reg = registry();
      const storage = await startStorage(path.join(dir, 'img'), true);
      cleanup.defer(() => new Promise<void>((r) => storage.server.close(() => r())));
      const front = await startFaultProxy(reg.url, (r) => {
        const m = r.method === 'GET' ? /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(r.path) : null;
        return m ? { kind: 'status', status: 307, headers: { location: `${storage.url}/blob/${m[1]}` } } : undefined;
      });
      cleanup.track(front);
      const out = path.join(await cleanup.tempDir('redirect-out'), 'd');
      const token = 'registry-bearer-t0ken-xyz';
      const r = await ferryProcess(
        ['--registries-conf', confFile, 'copy', '--src-tls-verify=false', '--src-registry-token', token, `docker://${front.host}/app/one:v1`, `dir:${out}`],
        { env: env() },
      );
      expectNothingOf(storage.seen, [token]);
      expect(r.code, r.stderr).to.equal(0);
      expect(front.requests.some((q) => q.headers['authorization'] === `Bearer ${token}`)).to.equal(true);
    });

    it('does not print credentials a hostile registry echoes in its error message', async () => {
      const reg = registry();
      const front = await startFaultProxy(reg.url, (r): Fault => {
        const authz = r.headers['authorization'];
        if (typeof authz !== 'string') return { kind: 'status', status: 401, headers: { 'www-authenticate': 'Basic realm="echo"' } };
        const decoded = Buffer.from(authz.replace(/^Basic /, ''), 'base64').toString();
        const body = JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: `refused ${authz} (${decoded})` }] });
        return { kind: 'status', status: 401, headers: { 'www-authenticate': 'Basic realm="echo"', 'content-type': 'application/json' }, body };
      });
      cleanup.track(front);
      const r = await ferryProcess(
        ['--registries-conf', confFile, '--debug', 'inspect', '--tls-verify=false', '--creds', 'echo:Ech0-s3cret', `docker://${front.host}/app/one:v1`],
        { env: env() },
      );
      expect(r.code).to.equal(1);
      expect(r.stderr).to.contain('unauthorized: refused Basic ***');
      for (const s of secretForms('echo', 'Ech0-s3cret')) expect(r.stdout + r.stderr).not.to.contain(s);
    });

    it('ignores the challenge of a host the /v2/ ping was redirected to: its realm never gets the credentials', async () => {
      const reg = registry();
      const storage = await startStorage(path.join(dir, 'img'), false);
      cleanup.defer(() => new Promise<void>((r) => storage.server.close(() => r())));
      const front = await startFaultProxy(reg.url, (r) =>
        r.method === 'GET' && r.path === '/v2/' ? { kind: 'status', status: 307, headers: { location: `${storage.url}/v2/` } } : undefined,
      );
      cleanup.track(front);
      const r = await ferryProcess(
        ['--registries-conf', confFile, 'inspect', '--raw', '--tls-verify=false', '--creds', 'pinguser:P1ng-secret', `docker://${front.host}/app/one:v1`],
        { env: env() },
      );
      expect(storage.seen.some((q) => q.url === '/v2/')).to.equal(true);
      expectNothingOf(storage.seen, secretForms('pinguser', 'P1ng-secret'));
      expect(storage.seen.filter((q) => q.url.startsWith('/token'))).to.deep.equal([]);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdoutBytes.equals(image.bytes)).to.equal(true);
    });
  });
});
