/**
 * Interop: ferry's inspect data and conversions against skopeo on the same hand-built images.
 * skopeo 1.9.3 prints neither LayersData nor Variant (newer skopeo versions do), and of course none of ferry's
 * extras, so those are left out of the comparison.
 */
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run, runOk } from '../harness/procs.js';
import { useCleanup } from '../harness/tmp.js';
import { parseImageName } from '../../src/transports/registry.js';
import { inspectImage, type InspectResult } from '../../src/image/inspect.js';
import { inspectInfoJson } from '../../src/image/inspect-info.js';
import { goJsonIndent } from '../../src/cli/output/go-json.js';
import { renderInspectResult } from '../../src/cli/output/inspect/format.js';
import { parseManifest } from '../../src/manifest/parse.js';
import { ociToSchema2, schema2ToOci } from '../../src/manifest/convert.js';
import { MediaType } from '../../src/manifest/media-types.js';
import type { ImageManifest } from '../../src/manifest/types.js';
import { blob, gzipLayer, ociConfig, ociManifest, writeDirImage, writeOciLayout, type Blob } from './fixtures.js';

const skopeo = (args: string[]) => runOk('skopeo', ['--insecure-policy', ...args], { timeoutMs: 60_000 });

function infoText(r: InspectResult): string {
  if (r.kind !== 'info') throw new Error(`expected info, got ${r.kind}`);
  return `${goJsonIndent(inspectInfoJson({ ...r.info, Variant: '' }, { layersData: false, extras: false }))}\n`;
}

describe('image/inspect against skopeo', function () {
  this.timeout(60_000);
  const cleanup = useCleanup();
  let root = '';
  const layer = gzipLayer('layer one');
  const layer2 = gzipLayer('layer two');
  const amdConfig = ociConfig('amd64');
  const armConfig = ociConfig('arm64', { variant: 'v8' });
  const amdManifest = ociManifest(amdConfig, [layer, layer2]);
  const armManifest = ociManifest(armConfig, [layer]);
  const index = blob({
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: [
      { mediaType: MediaType.OciManifest, digest: amdManifest.digest, size: amdManifest.size, platform: { architecture: 'amd64', os: 'linux' } },
      { mediaType: MediaType.OciManifest, digest: armManifest.digest, size: armManifest.size, platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } },
    ],
  });
  // A Docker schema2 image without `created`, with docker_version and fields OCI drops.
  const dockerConfig = blob(
    '{"architecture":"amd64","os":"linux","docker_version":"20.10.7","container_config":{"Hostname":"h"},' +
      '"config":{"Env":["E=1"],"Labels":null,"Hostname":"x","WorkingDir":"/w","Volumes":{"/v":{}}},"rootfs":{"type":"layers","diff_ids":[]}}',
  );
  const dockerManifest = blob({
    schemaVersion: 2,
    mediaType: MediaType.DockerManifest,
    config: { mediaType: MediaType.DockerConfig, size: dockerConfig.size, digest: dockerConfig.digest },
    layers: [{ mediaType: MediaType.DockerLayerGzip, size: layer.size, digest: layer.digest }],
  });

  before(async function () {
    if ((await run('skopeo', ['--version']).catch(() => undefined))?.code !== 0) this.skip();
    root = await cleanup.tempDir('inspect-skopeo');
    await writeOciLayout(join(root, 'single'), 't1', amdManifest, MediaType.OciManifest, [amdConfig, layer, layer2]);
    await writeOciLayout(join(root, 'multi'), 'm', index, MediaType.OciIndex, [amdManifest, armManifest, amdConfig, armConfig, layer, layer2]);
    await writeDirImage(join(root, 'docker'), dockerManifest, [dockerConfig, layer]);
  });

  const inspect = (name: string, opts: Parameters<typeof inspectImage>[2] = {}, platform?: { architecture?: string }) =>
    inspectImage(parseImageName(name), platform ? { platform } : {}, opts);

  it('prints the same inspect JSON for an OCI image, and the same --config, --raw output', async () => {
    const name = `oci:${join(root, 'single')}:t1`;
    const ours = await inspect(name);
    expect(infoText(ours)).to.equal((await skopeo(['inspect', name])).stdout);
    if (ours.kind !== 'info') return;
    expect(ours.info.InstanceDigest).to.equal(amdManifest.digest);
    expect(ours.info.Platforms).to.equal(null);
    expect(ours.info.LayersData.map((l) => l.Annotations?.get('k'))).to.deep.equal(['v', 'v']);
    const config = await inspect(name, { config: true });
    expect(renderInspectResult(config).toString()).to.equal((await skopeo(['inspect', '--config', name])).stdout);
    expect(renderInspectResult(await inspect(name, { raw: true })).equals((await skopeo(['inspect', '--raw', name])).stdoutBytes)).to.equal(true);
    expect(renderInspectResult(await inspect(name, { raw: true, config: true })).equals(amdConfig.bytes)).to.equal(true);
  });

  it('renders --format templates as skopeo does', async () => {
    const name = `oci:${join(root, 'single')}:t1`;
    const tpl = '{{.Labels}} {{.Layers}}|{{.Created}}|{{.RepoTags}}|{{.Env}}|{{index .Labels "a"}}|{{len .Layers}}|{{range .Env}}[{{.}}]{{end}}|{{.Name}}';
    expect(renderInspectResult(await inspect(name), { format: tpl }).toString()).to.equal((await skopeo(['inspect', '--format', tpl, name])).stdout);
    const ctpl = '{{.Config}}|{{.RootFS}}|{{.History}}|{{.Created}}|{{.Config.ExposedPorts}}\\n';
    expect(renderInspectResult(await inspect(name, { config: true }), { format: ctpl }).toString()).to.equal(
      (await skopeo(['inspect', '--config', '--format', ctpl, name])).stdout,
    );
  });

  it('chooses the same instance of an index (default and --override-arch arm64)', async () => {
    const name = `oci:${join(root, 'multi')}:m`;
    const def = await inspect(name);
    expect(infoText(def)).to.equal((await skopeo(['inspect', name])).stdout);
    const arm = await inspect(name, {}, { architecture: 'arm64' });
    expect(infoText(arm)).to.equal((await skopeo(['--override-arch', 'arm64', 'inspect', name])).stdout);
    if (arm.kind !== 'info') return;
    expect(arm.info.Digest).to.equal(index.digest);
    expect(renderInspectResult(arm).toString()).to.contain('"Architecture": "arm64",\n    "Variant": "v8",\n    "Os": "linux",');
    expect(arm.info.InstanceDigest).to.equal(armManifest.digest);
    expect(arm.info.Platforms?.map((p) => `${p.Os}/${p.Architecture}/${p.Variant}`)).to.deep.equal(['linux/amd64/', 'linux/arm64/v8']);
    const armCfg = await inspect(name, { config: true }, { architecture: 'arm64' });
    expect(renderInspectResult(armCfg).toString()).to.equal((await skopeo(['--override-arch', 'arm64', 'inspect', '--config', name])).stdout);
    const err = await inspect(name, {}, { architecture: 's390x' }).catch((e: unknown) => e);
    expect((err as { code?: string }).code).to.equal('E_NO_MATCHING_PLATFORM');
  });

  it('prints the same for a Docker schema2 image (zero Created, DockerVersion, converted --config)', async () => {
    const name = `dir:${join(root, 'docker')}`;
    expect(infoText(await inspect(name))).to.equal((await skopeo(['inspect', name])).stdout);
    expect(renderInspectResult(await inspect(name, { config: true })).toString()).to.equal((await skopeo(['inspect', '--config', name])).stdout);
  });

  it('converts OCI → schema2 and schema2 → OCI to the bytes skopeo copy writes', async () => {
    const toDocker = join(root, 'to-docker');
    await skopeo(['copy', '-q', '--format', 'v2s2', `oci:${join(root, 'single')}:t1`, `dir:${toDocker}`]);
    const oci = parseManifest(amdManifest.bytes, MediaType.OciManifest) as ImageManifest;
    expect(ociToSchema2(oci).bytes.toString()).to.equal((await readFile(join(toDocker, 'manifest.json'))).toString());

    const toOci = join(root, 'to-oci');
    await skopeo(['copy', '-q', '--format', 'oci', `dir:${join(root, 'docker')}`, `oci:${toOci}:x`]);
    const idx = JSON.parse(await readFile(join(toOci, 'index.json'), 'utf8')) as { manifests: Blob[] };
    const written = await readFile(join(toOci, 'blobs', 'sha256', idx.manifests[0]!.digest.slice(7)));
    const converted = schema2ToOci(parseManifest(dockerManifest.bytes, MediaType.DockerManifest) as ImageManifest, dockerConfig.bytes);
    expect(converted.bytes.toString()).to.equal(written.toString());
    const cfgDigest = converted.manifest.config.digest.slice(7);
    expect(converted.config!.equals(await readFile(join(toOci, 'blobs', 'sha256', cfgDigest)))).to.equal(true);
  });
});
