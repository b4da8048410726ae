/** docker:// ⇄ oci:/dir: through the copy engine against a real registry, and interop with the real skopeo. */
import { expect } from 'chai';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MediaType } from '../../src/manifest/media-types.js';
import type { SystemContext } from '../../src/types/context.js';
import { digestOf } from '../../src/util/digest.js';
import { buildImage, pushImage, type BuiltImage } from '../harness/images.js';
import { runOk } from '../harness/procs.js';
import { useRegistry } from '../harness/registry.js';
import { useCleanup } from '../harness/tmp.js';
import { copy, layoutIndex, layoutJson } from './helpers.js';

describe('copy: docker ⇄ oci/dir (real registry, skopeo interop)', function () {
  this.timeout(60_000);
  const registry = useRegistry('http');
  const cleanup = useCleanup();
  let multi: BuiltImage;
  let docker: BuiltImage;
  let ctx: SystemContext;
  let skopeoEnv: Record<string, string>;

  before(async () => {
    const dir = await cleanup.tempDir('copy-docker');
    await writeFile(join(dir, 'empty.conf'), '');
    ctx = { registriesConf: join(dir, 'empty.conf'), homeDir: dir, noCreds: true, tlsVerify: false, retryDelayMs: 10 };
    skopeoEnv = { HOME: dir, REGISTRIES_CONFIG_PATH: join(dir, 'empty.conf'), CONTAINERS_REGISTRIES_CONF: join(dir, 'empty.conf') };
    multi = await buildImage(join(dir, 'multi'), {
      seed: 41,
      layers: 2,
      layerSize: 20_000,
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64', variant: 'v8' },
      ],
    });
    docker = await buildImage(join(dir, 'docker'), { seed: 42, layers: 2, layerSize: 20_000, format: 'docker' });
    await pushImage(multi, registry(), 'lib/multi:v1');
    await pushImage(docker, registry(), 'lib/docker:v1');
  });

  const reg = () => registry().host;
  const skopeo = (...args: string[]) => runOk('skopeo', args, { env: skopeoEnv, timeoutMs: 30_000 });

  it('docker → oci (--all): digests unchanged; skopeo reads the layout', async () => {
    const dest = await cleanup.tempDir('copy-d2o');
    const r = await copy(`docker://${reg()}/lib/multi:v1`, `oci:${dest}:m`, { srcCtx: ctx, multiArch: 'all' });
    expect(r.digest).to.equal(multi.digest);
    expect((await layoutIndex(dest)).manifests[0]!.digest).to.equal(multi.digest);
    const raw = await skopeo('inspect', '--raw', `oci:${dest}:m`);
    expect(raw.stdoutBytes.equals(multi.bytes)).to.equal(true);
    // skopeo can copy every blob out of it (it verifies digests)
    const out = await cleanup.tempDir('copy-d2o-skopeo');
    await skopeo('copy', '--all', `oci:${dest}:m`, `dir:${out}`);
    expect((await readFile(join(out, 'manifest.json'))).equals(multi.bytes)).to.equal(true);
  });

  it('docker (schema2) → dir keeps the Docker manifest; → oci converts it, and skopeo agrees on the result', async () => {
    const d = await cleanup.tempDir('copy-d2d');
    const r = await copy(`docker://${reg()}/lib/docker:v1`, `dir:${d}`, { srcCtx: ctx });
    expect(r.digest).to.equal(docker.digest);
    expect((await readFile(join(d, 'manifest.json'))).equals(docker.bytes)).to.equal(true);
    const raw = await skopeo('inspect', '--raw', `dir:${d}`);
    expect(raw.stdoutBytes.equals(docker.bytes)).to.equal(true);

    const ours = await cleanup.tempDir('copy-d2o-conv');
    const o = await copy(`docker://${reg()}/lib/docker:v1`, `oci:${ours}:c`, { srcCtx: ctx });
    const theirs = await cleanup.tempDir('copy-d2o-conv-skopeo');
    await skopeo('copy', '--src-tls-verify=false', `docker://${reg()}/lib/docker:v1`, `oci:${theirs}:c`);
    const skopeoDigest = (await layoutIndex(theirs)).manifests[0]!.digest;
    expect(o.digest).to.equal(skopeoDigest);
    expect((await layoutJson(ours, o.digest)).mediaType).to.equal(MediaType.OciManifest);
  });

  it('ferry reads what skopeo wrote (oci: and dir:)', async () => {
    const sOci = await cleanup.tempDir('copy-s-oci');
    await skopeo('copy', '--all', '--src-tls-verify=false', `docker://${reg()}/lib/multi:v1`, `oci:${sOci}:x`);
    const out = await cleanup.tempDir('copy-s-oci-ferry');
    const r = await copy(`oci:${sOci}:x`, `dir:${out}`, { multiArch: 'all' });
    expect(r.digest).to.equal(multi.digest);
    const sDir = await cleanup.tempDir('copy-s-dir');
    await skopeo('copy', '--src-tls-verify=false', `docker://${reg()}/lib/docker:v1`, `dir:${sDir}`);
    const out2 = await cleanup.tempDir('copy-s-dir-ferry');
    const r2 = await copy(`dir:${sDir}`, `oci:${out2}:y`, { ociAcceptUncompressedLayers: true });
    const skopeoManifest = await readFile(join(sDir, 'manifest.json'));
    expect(digestOf(skopeoManifest)).to.equal(docker.digest);
    expect((await layoutJson(out2, r2.digest)).layers.map((l: { digest: string }) => l.digest)).to.deep.equal(docker.manifests[0]!.layers.map((l) => l.digest));
  });

  it('oci → docker: pushes through the engine; skopeo inspects it; a second push skips every blob', async () => {
    const r = await copy(`oci:${multi.layoutDir}`, `docker://${reg()}/lib/pushed:p1`, { destCtx: ctx, multiArch: 'all' });
    expect(r.digest).to.equal(multi.digest);
    const raw = await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${reg()}/lib/pushed:p1`);
    expect(raw.stdoutBytes.equals(multi.bytes)).to.equal(true);
    const again = await copy(`oci:${multi.layoutDir}`, `docker://${reg()}/lib/pushed:p2`, { destCtx: ctx, multiArch: 'all' });
    expect(again.events.length).to.be.greaterThan(0);
    expect(again.events.every((e) => e.kind === 'skipped')).to.equal(true);
  });
});
