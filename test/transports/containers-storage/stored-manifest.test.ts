/**
 * containers-storage serves the manifest as stored, like skopeo (root only: overlay): an image stored by
 * skopeo reads byte for byte the same through `ferry inspect --raw` as through `skopeo inspect --raw`, its
 * inspect output agrees with skopeo's, and copying it to `oci:` gives the config digest and diff IDs that
 * skopeo's copy gives (the layers come from the store uncompressed, named by their diff IDs).
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { ferry } from '../../harness/cli.js';
import { buildImage, pushImage, type BuiltImage } from '../../harness/images.js';
import { run } from '../../harness/procs.js';
import { useRegistry } from '../../harness/registry.js';
import { hasCommand, isRoot, removeStore, tempStore } from '../../store/helpers.js';
import { builtFacts, ociLayoutFacts, sha256 } from '../../copy/conformance/facts.js';

describe('containers-storage: the stored manifest, as skopeo serves it', function () {
  this.timeout(60_000);
  const registry = useRegistry('http');
  let t: ReturnType<typeof tempStore>;
  const images: Array<{ label: string; img: BuiltImage; ref: string }> = [];

  before(async function () {
    if (!isRoot || !hasCommand('skopeo')) this.skip();
    t = tempStore('ferry-cs-stored-');
    const store = `[overlay@${t.G}+${t.R}]`;
    for (const format of ['oci', 'docker'] as const) {
      const img = await buildImage(join(t.dir, `src-${format}`), { seed: format === 'oci' ? 81 : 82, tag: 'v1', layers: 2, layerSize: 4000, format });
      await pushImage(img, registry(), `stored/${format}:v1`);
      const ref = `containers-storage:${store}example.com/stored-${format}:v1`;
      const s = await run('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${registry().host}/stored/${format}:v1`, ref], { timeoutMs: 30_000 });
      expect(s.code, s.stderr).to.equal(0);
      images.push({ label: format, img, ref });
    }
  });
  after(() => t && removeStore(t.dir));

  it('ferry inspect --raw is byte-identical to skopeo inspect --raw (the pulled manifest, gzip layers and all)', async () => {
    for (const { label, img, ref } of images) {
      const [f, s] = await Promise.all([ferry(['inspect', '--raw', ref]), run('skopeo', ['inspect', '--raw', ref])]);
      expect(f.code, f.stderr).to.equal(0);
      expect(s.code, s.stderr).to.equal(0);
      expect(f.stdoutBytes.toString(), label).to.equal(s.stdoutBytes.toString());
      expect(sha256(f.stdoutBytes), `${label}: the digest of the pulled manifest`).to.equal(img.digest);
    }
  });

  it('ferry inspect agrees with skopeo inspect; Layers and LayersData are those of the stored manifest', async () => {
    for (const { label, img, ref } of images) {
      const [f, s] = await Promise.all([ferry(['inspect', ref]), run('skopeo', ['inspect', ref])]);
      expect(f.code, f.stderr).to.equal(0);
      expect(s.code, s.stderr).to.equal(0);
      const fj = JSON.parse(f.stdout) as Record<string, unknown>;
      const sj = JSON.parse(s.stdout) as Record<string, unknown>;
      // skopeo 1.9.3 prints no LayersData (newer skopeo versions do: the manifest's layers), nor ferry's own keys.
      const { LayersData, InstanceDigest, Platforms, ...common } = fj;
      expect(common, label).to.deep.equal(sj);
      expect(fj.Digest).to.equal(img.digest);
      expect(InstanceDigest).to.equal(img.digest);
      expect(Platforms).to.equal(undefined);
      const layers = img.manifests[0]!.layers;
      expect(fj.Layers, `${label}: the stored (compressed) layer digests`).to.deep.equal(layers.map((l) => l.digest));
      expect(LayersData, label).to.deep.equal(layers.map((l) => ({ MIMEType: l.mediaType, Digest: l.digest, Size: l.size, Annotations: null })));
    }
  });

  it('ferry copy to oci: gives the config digest and diff IDs of skopeo copy of the same', async () => {
    for (const { label, img, ref } of images) {
      const byFerry = join(t.dir, `oci-ferry-${label}`);
      const bySkopeo = join(t.dir, `oci-skopeo-${label}`);
      const [f, s] = await Promise.all([ferry(['copy', '--quiet', ref, `oci:${byFerry}:x`]), run('skopeo', ['copy', '--quiet', ref, `oci:${bySkopeo}:x`])]);
      expect(f.code, f.stderr).to.equal(0);
      expect(s.code, s.stderr).to.equal(0);
      const [ferryFacts, skopeoFacts] = await Promise.all([ociLayoutFacts(byFerry), ociLayoutFacts(bySkopeo)]);
      expect(ferryFacts, label).to.deep.equal(skopeoFacts);
      expect(ferryFacts[0]!.diffIds).to.deep.equal(builtFacts(img)[0]!.diffIds);
    }
  });

  it('copying a stored image whose layers must change refuses --preserve-digests with the reason', async () => {
    const r = await ferry(['copy', '--quiet', '--preserve-digests', images[0]!.ref, `dir:${join(t.dir, 'dir-pd')}`]);
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.include('--preserve-digests');
    expect(r.stderr).to.include('can serve');
  });
});
