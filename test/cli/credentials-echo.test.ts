/**
 * A hostile registry echoes the credentials it received in its error messages, in answers other than the 401 the
 * endpoint already scrubs: login's own wording of a refusal, a 404, a 403. No line ferry prints may show the password
 * or its Basic form, with --debug too. A real htpasswd registry sits behind the fault proxy, which does the echoing;
 * the real `bin/ferry` runs.
 */
import { expect } from 'chai';
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import { useRegistry, type TestRegistry } from '../harness/registry.js';
import { startFaultProxy, type Fault, type FaultRequest } from '../harness/fault-proxy.js';
import { useCleanup } from '../harness/tmp.js';
import { ferryProcess } from '../harness/cli.js';

const USER = 'echouser';
const PASSWORD = 'Ech0-pa55-w0rd';

/** An error answer whose message repeats the request's Authorization, raw and decoded. */
function echo(r: FaultRequest, status: number, code: string): Fault | undefined {
  const authz = r.headers['authorization'];
  if (typeof authz !== 'string') return undefined;
  const decoded = Buffer.from(authz.replace(/^Basic /, ''), 'base64').toString();
  const body = JSON.stringify({ errors: [{ code, message: `you sent ${authz} (${decoded})` }] });
  return { kind: 'status', status, headers: { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="echo"' }, body };
}

describe('credentials a registry echoes never reach the output (real registry, real bin/ferry)', function () {
  this.timeout(60_000);
  const cleanup = useCleanup('after');
  const registry = useRegistry('basic', { username: USER, password: PASSWORD });
  let dir: string;
  let confFile: string;

  before(async () => {
    dir = await cleanup.tempDir('creds-echo');
    confFile = path.join(dir, 'registries.conf');
    await writeFile(confFile, '');
  });

  const env = () => ({ HOME: dir, REGISTRY_AUTH_FILE: path.join(dir, 'none.json'), XDG_RUNTIME_DIR: dir });

  async function front(reg: TestRegistry, rule: (r: FaultRequest) => Fault | undefined) {
    const proxy = await startFaultProxy(reg.url, rule, { ca: reg.caPem });
    cleanup.track(proxy);
    return proxy;
  }

  function expectNoSecret(r: { stdout: string; stderr: string }): void {
    const text = r.stdout + r.stderr;
    expect(text).not.to.contain(PASSWORD);
    expect(text).not.to.contain(Buffer.from(`${USER}:${PASSWORD}`).toString('base64'));
  }

  it('login: a refusal that echoes the Basic credentials', async () => {
    const proxy = await front(registry(), (r) => (r.path === '/v2/' ? echo(r, 401, 'UNAUTHORIZED') : undefined));
    const r = await ferryProcess(
      ['--registries-conf', confFile, '--debug', 'login', '--tls-verify=false', '--authfile', path.join(dir, 'auth.json'), '-u', USER, '--password-stdin', proxy.host],
      { env: env(), stdin: PASSWORD + '\n' },
    );
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain('invalid username/password');
    expect(r.stderr).to.contain('you sent Basic ***');
    expectNoSecret(r);
  });

  for (const [status, code, exit] of [[404, 'MANIFEST_UNKNOWN', 2], [403, 'DENIED', 1]] as const) {
    it(`inspect: a ${status} that echoes the Basic credentials (--debug)`, async () => {
      const proxy = await front(registry(), (r) => (r.path.includes('/manifests/') ? echo(r, status, code) : undefined));
      const r = await ferryProcess(
        ['--registries-conf', confFile, '--debug', 'inspect', '--raw', '--tls-verify=false', '--creds', `${USER}:${PASSWORD}`, `docker://${proxy.host}/app/x:v1`],
        { env: env() },
      );
      expect(r.code, r.stderr).to.equal(exit);
      expect(r.stderr).to.contain('you sent Basic ***');
      expectNoSecret(r);
    });
  }
});
