/** RegistryClient and checkLogin against real TLS, Basic-auth and token-auth registries. */
import { expect } from 'chai';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FerryError } from '../../src/errors.js';
import { saveCredentials } from '../../src/config/auth-file.js';
import { RegistryClient, type Action } from '../../src/registry/client.js';
import { checkLogin } from '../../src/registry/login.js';
import type { SystemContext } from '../../src/types/context.js';
import { buildImage, pushImage, type BuiltImage } from '../harness/images.js';
import { useRegistry, type TestRegistry } from '../harness/registry.js';
import { useCleanup } from '../harness/tmp.js';
import { rejection } from '../harness/expect.js';

describe('registry/client with TLS and authentication (real registries)', function () {
  this.timeout(60_000);
  const cleanup = useCleanup('after');
  let dir: string;
  let image: BuiltImage;
  let base: SystemContext;

  before(async () => {
    dir = await cleanup.tempDir('client-auth');
    await writeFile(join(dir, 'empty.conf'), '');
    base = { registriesConf: join(dir, 'empty.conf'), homeDir: dir, authFile: join(dir, 'none.json'), retryDelayMs: 10 };
    image = await buildImage(join(dir, 'img'), { seed: 21, layers: 1, layerSize: 5000 });
  });

  const open = (reg: TestRegistry, ctx: Partial<SystemContext>, repository = 'app/one', actions?: Action[]) => {
    const c = RegistryClient.open({ registry: reg.host, repository, ctx: { ...base, ...ctx }, actions });
    cleanup.defer(() => c.close());
    return c;
  };

  describe('tls', () => {
    const registry = useRegistry('tls');
    before(async () => pushImage(image, registry(), 'app/one:v1'));

    it('verifies the server with --cert-dir, refuses it without, and accepts it with tlsVerify:false', async () => {
      const reg = registry();
      expect((await open(reg, { certDir: reg.certDir }).getManifest('v1')).digest).to.equal(image.digest);
      const e = await rejection(open(reg, {}).getManifest('v1'));
      expect(e.code).to.equal('E_TLS');
      expect(e.message).to.equal(`pinging registry ${reg.host}: x509: certificate signed by unknown authority`);
      expect((await open(reg, { tlsVerify: false }).getManifest('v1')).digest).to.equal(image.digest);
    });

    it('finds the CA in ~/.config/containers/certs.d/<host:port>', async () => {
      const reg = registry();
      const home = join(dir, 'home-certs');
      const d = join(home, '.config/containers/certs.d', reg.host);
      await mkdir(d, { recursive: true });
      await copyFile(reg.caFile!, join(d, 'ca.crt'));
      expect((await open(reg, { homeDir: home }).getManifest('v1')).digest).to.equal(image.digest);
    });
  });

  describe('basic', () => {
    const registry = useRegistry('basic', { password: 'S3cret-basic-pw' });
    before(async () => pushImage(image, registry(), 'app/one:v1'));

    it('authenticates with the right password (ctx.credentials or the auth file)', async () => {
      const reg = registry();
      const creds = { username: reg.username!, password: reg.password! };
      expect((await open(reg, { certDir: reg.certDir, credentials: creds }).getManifest('v1')).digest).to.equal(image.digest);
      const authFile = join(dir, 'basic-auth.json');
      await saveCredentials(authFile, `${reg.host}/app`, creds);
      expect((await open(reg, { certDir: reg.certDir, authFile }).getManifest('v1')).digest).to.equal(image.digest);
      expect(await open(reg, { certDir: reg.certDir, authFile }).listTags()).to.deep.equal(['v1']);
    });

    it('fails with E_UNAUTHORIZED for a wrong password or none, never showing the password', async () => {
      const reg = registry();
      const wrong = 'Wr0ng-pa55word-xyz';
      const e = await rejection(open(reg, { certDir: reg.certDir, credentials: { username: reg.username!, password: wrong } }).getManifest('v1'));
      expect(e.code).to.equal('E_UNAUTHORIZED');
      // the registry's own words, naming the image as skopeo does (htpasswd cannot tell a wrong password from none)
      expect(e.message).to.equal(`reading manifest v1 in ${reg.host}/app/one: unauthorized: authentication required`);
      expect(e.message).not.to.include(wrong);
      expect(e.message).not.to.include(Buffer.from(`${reg.username}:${wrong}`).toString('base64'));
      const anon = await rejection(open(reg, { certDir: reg.certDir, noCreds: true }).getManifest('v1'));
      expect(anon.code).to.equal('E_UNAUTHORIZED');
      expect(anon.message).to.equal(`reading manifest v1 in ${reg.host}/app/one: unauthorized: authentication required`);
    });

    it('checkLogin accepts the right password and rejects a wrong one', async () => {
      const reg = registry();
      await checkLogin(reg.host, { username: reg.username!, password: reg.password! }, { ...base, certDir: reg.certDir });
      const e = await rejection(checkLogin(reg.host, { username: reg.username!, password: 'nope-nope-42' }, { ...base, certDir: reg.certDir }));
      expect(e.code).to.equal('E_UNAUTHORIZED');
      expect(e.message).to.equal(`logging into "${reg.host}": invalid username/password: unauthorized: authentication required`);
    });
  });

  describe('token', () => {
    const registry = useRegistry('token', { password: 'T0ken-user-pw' });
    before(async () => {
      await pushImage(image, registry(), 'app/one:v1');
      await pushImage(image, registry(), 'app/two:v1');
    });

    it('fetches one token per scope and reuses it across requests', async () => {
      const reg = registry();
      const ts = reg.tokenServer!;
      const c = open(reg, { certDir: reg.certDir, credentials: { username: reg.username!, password: reg.password! } });
      const n0 = ts.requests.length;
      const m = await c.getManifest('v1');
      await c.getManifest(m.digest);
      await c.headManifest('v1');
      const { stream } = await c.getBlob(image.manifests[0]!.configDigest);
      stream.resume();
      await new Promise((r) => stream.on('end', r));
      expect(await c.listTags()).to.deep.equal(['v1']);
      const sent = ts.requests.slice(n0);
      expect(sent).to.have.length(1);
      expect(sent[0]).to.deep.include({ scope: ['repository:app/one:pull'], account: reg.username, authorized: true, method: 'GET' });
      expect(c.tokenRequests).to.equal(1);
    });

    it('asks for pull,push when opened for pushing', async () => {
      const reg = registry();
      const ts = reg.tokenServer!;
      const n0 = ts.requests.length;
      const c = open(reg, { certDir: reg.certDir, credentials: { username: reg.username!, password: reg.password! } }, 'app/one', ['pull', 'push']);
      expect(await c.headManifest('v1')).to.have.property('digest', image.digest);
      expect(ts.requests.slice(n0).map((r) => r.scope)).to.deep.equal([['repository:app/one:pull,push']]);
    });

    it('re-authenticates with the wider scope an insufficient_scope challenge names', async () => {
      const reg = registry();
      const ts = reg.tokenServer!;
      const c = open(reg, { certDir: reg.certDir, credentials: { username: reg.username!, password: reg.password! } }, 'app/one', ['pull', 'push']);
      const n0 = ts.requests.length;
      // A cross-repository read, as a blob mount check does: the token for app/one does not cover app/two.
      const res = await c.request({ method: 'HEAD', path: `/v2/app/two/blobs/${image.manifests[0]!.configDigest}` });
      await res.body.dump();
      expect(res.status).to.equal(200);
      const scopes = ts.requests.slice(n0).map((r) => [...r.scope].sort());
      // the app/one token may come from an earlier client of this registry still open (tokens are shared per origin)
      expect(scopes.at(-1)).to.deep.equal(['repository:app/one:pull,push', 'repository:app/two:pull'].sort());
      expect(scopes.slice(0, -1)).to.deep.equal(scopes.length === 2 ? [['repository:app/one:pull,push']] : []);
    });

    it('pulls anonymously with an anonymous token, and refuses wrong credentials at the token server', async () => {
      const reg = registry();
      const ts = reg.tokenServer!;
      const n0 = ts.requests.length;
      expect((await open(reg, { certDir: reg.certDir, noCreds: true }).getManifest('v1')).digest).to.equal(image.digest);
      expect(ts.requests[n0]).to.deep.include({ authorized: false, status: 200 });
      expect(ts.requests[n0]!.account).to.equal(undefined);
      const wrong = 'bad-token-pw-77';
      const e = await rejection(open(reg, { certDir: reg.certDir, credentials: { username: reg.username!, password: wrong } }).getManifest('v1'));
      expect(e.code).to.equal('E_UNAUTHORIZED');
      expect(e.message).to.equal(
        `reading manifest v1 in ${reg.host}/app/one: unable to retrieve auth token: invalid username/password: unauthorized: authentication failed`,
      );
      expect(e.message).not.to.include(wrong);
    });

    it('uses the OAuth2 POST with the identitytoken of the auth file as refresh token', async () => {
      const reg = registry();
      const ts = reg.tokenServer!;
      const authFile = join(dir, 'identity-auth.json');
      await writeFile(authFile, JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from('<token>:').toString('base64'), identitytoken: 'refresh-xyz' } } }));
      const n0 = ts.requests.length;
      // The test token server only implements grant_type=password, so the refresh grant is refused (400).
      const e = await rejection(open(reg, { certDir: reg.certDir, authFile, retryTimes: 0 }).getManifest('v1'));
      expect(e.code).to.equal('E_REGISTRY');
      expect(e.message).not.to.include('refresh-xyz');
      expect(ts.requests.slice(n0).map((r) => [r.method, r.status])).to.deep.equal([['POST', 400]]);
    });

    it('sends --registry-token as a Bearer token directly', async () => {
      const reg = registry();
      const ts = reg.tokenServer!;
      const e = await rejection(open(reg, { certDir: reg.certDir, registryToken: 'not-a-valid-jwt' }).getManifest('v1'));
      expect(e.code).to.equal('E_UNAUTHORIZED');
      expect(e.message).not.to.include('not-a-valid-jwt');
      const n0 = ts.requests.length;
      const c = open(reg, { certDir: reg.certDir, credentials: { username: reg.username!, password: reg.password! } });
      expect((await c.getManifest('v1')).digest).to.equal(image.digest);
      // at most one token request: an earlier client of this registry still open may have the token already
      expect(ts.requests.length - n0).to.be.at.most(1);
    });

    it('checkLogin accepts the right password and rejects a wrong one', async () => {
      const reg = registry();
      await checkLogin(reg.host, { username: reg.username!, password: reg.password! }, { ...base, certDir: reg.certDir });
      const e = await rejection(checkLogin(reg.host, { username: reg.username!, password: 'zzz-wrong' }, { ...base, certDir: reg.certDir }));
      expect(e.code).to.equal('E_UNAUTHORIZED');
      expect(e.message).to.equal(`logging into "${reg.host}": invalid username/password: unauthorized: authentication failed`);
    });
  });
});
