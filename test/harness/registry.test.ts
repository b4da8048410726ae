import { expect } from 'chai';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { readFile, readdir, stat } from 'node:fs/promises';
import { startRegistry, stopAllRegistries, useRegistry, type TestRegistry } from './registry.js';

interface Res { status: number; headers: IncomingHttpHeaders; body: string }

/** A plain GET with node:http(s); `ca` undefined means the system trust store. */
function get(url: string, opts: { ca?: string; headers?: Record<string, string>; method?: string; body?: string } = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = u.protocol === 'https:'
      ? httpsRequest(u, { method: opts.method, ca: opts.ca, headers: opts.headers, agent: false })
      : httpRequest(u, { method: opts.method, headers: opts.headers, agent: false });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

const basicAuth = (user: string, pass: string) => 'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64');

function parseBearer(h: string | undefined): Record<string, string> {
  expect(h, 'WWW-Authenticate').to.be.a('string');
  expect(h!).to.match(/^Bearer /);
  const params: Record<string, string> = {};
  for (const m of h!.matchAll(/(\w+)="([^"]*)"/g)) params[m[1]!] = m[2]!;
  return params;
}

describe('harness: test registries', function () {
  this.timeout(30_000);

  describe('http', () => {
    const registry = useRegistry('http');
    it('answers /v2/ with 200 and the API version header', async () => {
      const reg = registry();
      expect(reg.url).to.equal(`http://${reg.host}`);
      expect(reg.host).to.match(/^127\.0\.0\.1:\d+$/);
      const res = await get(`${reg.url}/v2/`);
      expect(res.status).to.equal(200);
      expect(res.headers['docker-distribution-api-version']).to.equal('registry/2.0');
      expect(reg.certDir).to.equal(undefined);
      expect((await stat(reg.dataDir)).isDirectory()).to.equal(true);
    });
    it('logs to its log file', async () => {
      const log = await readFile(registry().logFile, 'utf8');
      expect(log).to.match(/listening on 127\.0\.0\.1/);
    });
  });

  describe('tls', () => {
    const registry = useRegistry('tls');
    it('is verified with the CA from certDir', async () => {
      const reg = registry();
      expect(reg.url).to.equal(`https://${reg.host}`);
      expect(await readdir(reg.certDir!)).to.deep.equal(['ca.crt']);
      const ca = await readFile(reg.caFile!, 'utf8');
      const res = await get(`${reg.url}/v2/`, { ca });
      expect(res.status).to.equal(200);
      // the certificate also names localhost
      const port = reg.host.split(':')[1];
      expect((await get(`https://localhost:${port}/v2/`, { ca })).status).to.equal(200);
    });
    it('is refused without the CA', async () => {
      let err: unknown;
      try {
        await get(`${registry().url}/v2/`);
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(Error);
      expect((err as NodeJS.ErrnoException).code).to.match(/CERT|SIGNATURE|ISSUER/);
    });
  });

  describe('basic', () => {
    const registry = useRegistry('basic');
    it('challenges with Basic, accepts the user and refuses a wrong password', async () => {
      const reg = registry();
      const ca = reg.caPem;
      const anon = await get(`${reg.url}/v2/`, { ca });
      expect(anon.status).to.equal(401);
      expect(anon.headers['www-authenticate']).to.match(/^Basic realm="[^"]+"/);
      const ok = await get(`${reg.url}/v2/`, { ca, headers: { authorization: basicAuth(reg.username!, reg.password!) } });
      expect(ok.status).to.equal(200);
      const bad = await get(`${reg.url}/v2/`, { ca, headers: { authorization: basicAuth(reg.username!, reg.password! + 'x') } });
      expect(bad.status).to.equal(401);
      const nobody = await get(`${reg.url}/v2/`, { ca, headers: { authorization: basicAuth('nobody', reg.password!) } });
      expect(nobody.status).to.equal(401);
    });
  });

  describe('token', () => {
    const registry = useRegistry('token');
    it('challenges with Bearer, and accepts a token from the token server', async () => {
      const reg = registry();
      const ca = reg.caPem;
      const anon = await get(`${reg.url}/v2/`, { ca });
      expect(anon.status).to.equal(401);
      const ch = parseBearer(anon.headers['www-authenticate'] as string);
      expect(ch['realm']).to.equal(reg.tokenServer!.realm);
      expect(ch['service']).to.equal(reg.tokenServer!.service);

      const tokenUrl = `${ch['realm']}?service=${encodeURIComponent(ch['service']!)}`;
      const tokRes = await get(tokenUrl, { ca, headers: { authorization: basicAuth(reg.username!, reg.password!) } });
      expect(tokRes.status).to.equal(200);
      const tok = JSON.parse(tokRes.body) as { token: string; access_token: string; expires_in: number; issued_at: string };
      expect(tok.token).to.equal(tok.access_token);
      expect(tok.expires_in).to.equal(300);
      expect(Date.parse(tok.issued_at)).to.be.a('number').and.not.NaN;
      const ok = await get(`${reg.url}/v2/`, { ca, headers: { authorization: `Bearer ${tok.token}` } });
      expect(ok.status).to.equal(200);
      const forged = tok.token.slice(0, -4) + (tok.token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
      expect((await get(`${reg.url}/v2/`, { ca, headers: { authorization: `Bearer ${forged}` } })).status).to.equal(401);
      const last = reg.tokenServer!.requests.at(-1)!;
      expect(last).to.include({ account: reg.username, authorized: true });
    });

    it('scopes tokens: pull-only for anonymous, push for the user; 401 for a wrong password', async () => {
      const reg = registry();
      const ca = reg.caPem;
      const ts = reg.tokenServer!;
      const scoped = (extra: string) => `${ts.realm}?service=${encodeURIComponent(ts.service)}&scope=${encodeURIComponent('repository:some/repo:pull,push')}${extra}`;
      const bad = await get(scoped(''), { ca, headers: { authorization: basicAuth(reg.username!, 'wrong') } });
      expect(bad.status).to.equal(401);
      expect(ts.requests.at(-1)).to.deep.include({ authorized: false, account: reg.username, scope: ['repository:some/repo:pull,push'] });

      const claims = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as { access: { name: string; actions: string[] }[] };
      const anon = JSON.parse((await get(scoped('&scope=repository%3Aother%3Apull'), { ca })).body) as { token: string };
      expect(claims(anon.token).access).to.deep.equal([
        { type: 'repository', name: 'some/repo', actions: ['pull'] },
        { type: 'repository', name: 'other', actions: ['pull'] },
      ]);
      expect(ts.requests.at(-1)).to.deep.include({ authorized: false, scope: ['repository:some/repo:pull,push', 'repository:other:pull'] });
      const user = JSON.parse((await get(scoped(''), { ca, headers: { authorization: basicAuth(reg.username!, reg.password!) } })).body) as { token: string };
      expect(claims(user.token).access).to.deep.equal([{ type: 'repository', name: 'some/repo', actions: ['pull', 'push'] }]);

      // an anonymous token lets a client pull (here: a tag list of a missing repo → 404, not 401)
      const list = await get(`${reg.url}/v2/other/tags/list`, { ca, headers: { authorization: `Bearer ${anon.token}` } });
      expect(list.status).to.equal(404);
      // but not push
      const push = await get(`${reg.url}/v2/some/repo/blobs/uploads/`, { method: 'POST', ca, headers: { authorization: `Bearer ${anon.token}` } });
      expect(push.status).to.equal(401);
      const userPush = await get(`${reg.url}/v2/some/repo/blobs/uploads/`, { method: 'POST', ca, headers: { authorization: `Bearer ${user.token}` } });
      expect(userPush.status).to.equal(202);
    });
  });

  describe('token (OAuth2 POST, no anonymous)', () => {
    const registry = useRegistry('token', { allowAnonymous: false, username: 'alice', password: 's3cret' });
    it('issues tokens for grant_type=password forms and refuses anonymous GETs', async () => {
      const reg = registry();
      expect(reg.username).to.equal('alice');
      const ts = reg.tokenServer!;
      const form = (password: string) => new URLSearchParams({
        grant_type: 'password', username: 'alice', password, service: ts.service, scope: 'repository:a/b:pull repository:c:push', client_id: 'ferry',
      }).toString();
      const headers = { 'content-type': 'application/x-www-form-urlencoded' };
      const ok = await get(ts.realm, { method: 'POST', ca: reg.caPem, headers, body: form('s3cret') });
      expect(ok.status).to.equal(200);
      const body = JSON.parse(ok.body) as { access_token: string };
      expect(ts.requests.at(-1)).to.deep.include({ method: 'POST', account: 'alice', authorized: true, scope: ['repository:a/b:pull', 'repository:c:push'] });
      const v2 = await get(`${reg.url}/v2/`, { ca: reg.caPem, headers: { authorization: `Bearer ${body.access_token}` } });
      expect(v2.status).to.equal(200);
      expect((await get(ts.realm, { method: 'POST', ca: reg.caPem, headers, body: form('nope') })).status).to.equal(401);
      expect((await get(`${ts.realm}?service=${ts.service}&scope=repository:a/b:pull`, { ca: reg.caPem })).status).to.equal(401);
    });
  });

  describe('lifecycle', () => {
    it('starts quickly, stops (idempotently) and removes its directories', async () => {
      const t0 = Date.now();
      const reg: TestRegistry = await startRegistry('http', { deleteEnabled: false });
      expect(Date.now() - t0).to.be.below(2000);
      const config = JSON.parse(await readFile(reg.configFile, 'utf8')) as { storage: { delete: { enabled: boolean } } };
      expect(config.storage.delete.enabled).to.equal(false);
      await reg.stop();
      await reg.stop();
      let err: unknown;
      try {
        await get(`${reg.url}/v2/`);
      } catch (e) {
        err = e;
      }
      expect((err as NodeJS.ErrnoException | undefined)?.code).to.equal('ECONNREFUSED');
      let gone = false;
      await stat(reg.dataDir).catch(() => { gone = true; });
      expect(gone).to.equal(true);
    });
    it('stopAllRegistries stops registries left running', async () => {
      const a = await startRegistry('http');
      const b = await startRegistry('tls');
      await stopAllRegistries();
      for (const r of [a, b]) {
        const err = await get(`${r.url}/v2/`, { ca: r.caPem }).then(() => undefined, (e: NodeJS.ErrnoException) => e);
        expect(err?.code).to.equal('ECONNREFUSED');
      }
    });
  });
});
