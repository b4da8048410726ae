/**
 * CA certificates from NODE_EXTRA_CA_CERTS: Node adds them to its default CAs, and ferry adds them to the CA list it
 * gives a connection itself when a certs.d folder applies (src/registry/env-cas.ts). Real TLS registry with a
 * generated CA; real processes.
 */
import { expect } from 'chai';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { FERRY_BIN } from '../harness/cli.js';
import { buildImage, pushImage, type BuiltImage } from '../harness/images.js';
import { run, runOk } from '../harness/procs.js';
import { useRegistry } from '../harness/registry.js';
import { useCleanup } from '../harness/tmp.js';

describe('registry/env-cas: NODE_EXTRA_CA_CERTS (real TLS registry, bin/ferry as a program)', function () {
  this.timeout(60_000);
  const registry = useRegistry('tls');
  const cleanup = useCleanup();
  let img: BuiltImage;
  let env: Record<string, string | undefined>;

  before(async () => {
    const home = await cleanup.tempDir('env-cas');
    img = await buildImage(join(home, 'img'), { seed: 7, layers: 1, layerSize: 1024 });
    await pushImage(img, registry(), 'envca/img:v1');
    // No certs.d for the registry, no auth: only the environment can make its CA trusted.
    env = { HOME: home, XDG_CONFIG_HOME: join(home, '.config'), REGISTRY_AUTH_FILE: join(home, 'auth.json'), CONTAINERS_REGISTRIES_CONF: join(home, 'none.conf') };
  });

  const inspect = (extra: Record<string, string | undefined>, viaNode = false, flags: string[] = []) => {
    const args = ['inspect', '--raw', ...flags, `docker://${registry().host}/envca/img:v1`];
    return viaNode ? run(process.execPath, [FERRY_BIN, ...args], { env: { ...env, ...extra } }) : run(FERRY_BIN, args, { env: { ...env, ...extra } });
  };

  it('trusts the CA named by NODE_EXTRA_CA_CERTS when run as a program', async () => {
    const r = await inspect({ NODE_EXTRA_CA_CERTS: registry().caFile! });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdoutBytes.equals(img.bytes)).to.equal(true);
  });

  it('and when a certs.d folder with another CA applies (ferry then gives Node the CA list itself)', async () => {
    const certDir = await cleanup.tempDir('other-ca');
    await runOk('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=another test CA', '-days', '1', '-keyout', join(certDir, 'ca.key'), '-out', join(certDir, 'ca.crt')]);
    await rm(join(certDir, 'ca.key'));
    const r = await inspect({ NODE_EXTRA_CA_CERTS: registry().caFile! }, false, ['--cert-dir', certDir]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdoutBytes.equals(img.bytes)).to.equal(true);
    const without = await inspect({ NODE_EXTRA_CA_CERTS: undefined }, false, ['--cert-dir', certDir]);
    expect(without.code).to.equal(1);
    expect(without.stderr).to.match(/certificate/i);
  });

  it('and when started as `node bin/ferry` (Node loads it itself)', async () => {
    const r = await inspect({ NODE_EXTRA_CA_CERTS: registry().caFile! }, true);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdoutBytes.equals(img.bytes)).to.equal(true);
  });

  it('without it the certificate is refused (so the variable is what made the difference)', async () => {
    const r = await inspect({ NODE_EXTRA_CA_CERTS: undefined });
    expect(r.code).to.equal(1);
    expect(r.stderr.trimEnd().split('\n')).to.have.length(1);
    expect(r.stderr).to.match(/certificate/i);
  });

  it('an unreadable NODE_EXTRA_CA_CERTS file is ignored, as Node does: plain-HTTP commands still work', async () => {
    const r = await run(FERRY_BIN, ['--version'], { env: { ...env, NODE_EXTRA_CA_CERTS: join(env.HOME!, 'missing.pem') } });
    expect(r.code, r.stderr).to.equal(0);
  });
});
