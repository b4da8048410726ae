/**
 * CA certificates from NODE_EXTRA_CA_CERTS: bin/ferry run as a program moves the variable aside before Node starts
 * (Node would parse the bundle at start-up) and ferry trusts those CAs itself for its TLS connections
 * (src/registry/env-cas.ts). Real TLS registry with a generated CA; real processes.
 */
import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FERRY_BIN } from '../harness/cli.js';
import { buildImage, pushImage, type BuiltImage } from '../harness/images.js';
import { run } from '../harness/procs.js';
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

  const inspect = (extra: Record<string, string | undefined>, viaNode = false) => {
    const args = ['inspect', '--raw', `docker://${registry().host}/envca/img:v1`];
    return viaNode ? run(process.execPath, [FERRY_BIN, ...args], { env: { ...env, ...extra } }) : run(FERRY_BIN, args, { env: { ...env, ...extra } });
  };

  it('trusts the CA named by NODE_EXTRA_CA_CERTS when run as a program (the variable moved aside by the launcher)', async () => {
    const r = await inspect({ NODE_EXTRA_CA_CERTS: registry().caFile! });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdoutBytes.equals(img.bytes)).to.equal(true);
  });

  it('ferry trusts FERRY_EXTRA_CA_CERTS itself (what the launcher hands over), with Node given nothing', async () => {
    const r = await inspect({ NODE_EXTRA_CA_CERTS: undefined, FERRY_EXTRA_CA_CERTS: registry().caFile! }, true);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdoutBytes.equals(img.bytes)).to.equal(true);
  });

  it('the launcher starts node with NODE_EXTRA_CA_CERTS moved to FERRY_EXTRA_CA_CERTS, and the arguments intact', async () => {
    const bin = await cleanup.tempDir('fake-node');
    // A stand-in `node` first on PATH that reports what it was started with.
    await writeFile(join(bin, 'node'), '#!/bin/sh\necho "extra=${NODE_EXTRA_CA_CERTS-unset} ferry=${FERRY_EXTRA_CA_CERTS-unset}"\nprintf "<%s>" "$@"\n', { mode: 0o755 });
    const r = await run(FERRY_BIN, ['copy', 'a b', '--x=*'], { env: { PATH: `${bin}:${process.env['PATH']}`, NODE_EXTRA_CA_CERTS: '/some/bundle.pem' } });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.equal(`extra=unset ferry=/some/bundle.pem\n<${FERRY_BIN}><copy><a b><--x=*>`);
  });

  it('and when started as `node bin/ferry` (Node loads it itself)', async () => {
    const r = await inspect({ NODE_EXTRA_CA_CERTS: registry().caFile! }, true);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdoutBytes.equals(img.bytes)).to.equal(true);
  });

  it('without it the certificate is refused (so the variable is what made the difference)', async () => {
    const r = await inspect({ NODE_EXTRA_CA_CERTS: undefined, FERRY_EXTRA_CA_CERTS: undefined });
    expect(r.code).to.equal(1);
    expect(r.stderr.trimEnd().split('\n')).to.have.length(1);
    expect(r.stderr).to.match(/certificate/i);
  });

  it('an unreadable NODE_EXTRA_CA_CERTS file is ignored, as Node does: plain-HTTP commands still work', async () => {
    const r = await run(FERRY_BIN, ['--version'], { env: { ...env, NODE_EXTRA_CA_CERTS: join(env.HOME!, 'missing.pem') } });
    expect(r.code, r.stderr).to.equal(0);
  });
});
