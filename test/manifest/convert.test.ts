import { expect } from 'chai';
import { isCode } from '../../src/errors.js';
import { listToOciIndex, ociIndexToList, ociToSchema2, schema2ToOci } from '../../src/manifest/convert.js';
import { MediaType } from '../../src/manifest/media-types.js';
import { parseManifest } from '../../src/manifest/parse.js';
import { parseOciImage, serializeOciImage } from '../../src/manifest/config.js';
import type { ImageManifest, ManifestList } from '../../src/manifest/types.js';

const D = (c: string) => `sha256:${c.repeat(64)}`;
const dockerConfig = Buffer.from('{"architecture":"amd64","os":"linux","config":{"Labels":{"b":"<"}},"rootfs":{"type":"layers","diff_ids":[]},"container":"x"}');

const schema2: ImageManifest = {
  kind: 'image',
  mediaType: MediaType.DockerManifest,
  schemaVersion: 2,
  config: { digest: D('1'), size: dockerConfig.length, mediaType: MediaType.DockerConfig },
  layers: [
    { digest: D('2'), size: 10, mediaType: MediaType.DockerLayerGzip },
    { digest: D('3'), size: 11, mediaType: MediaType.DockerLayer },
    { digest: D('4'), size: 12, mediaType: MediaType.DockerForeignLayerGzip, urls: ['https://x/y'] },
  ],
};

describe('manifest/convert', () => {
  it('converts schema2 → OCI (layer types, new config) and back (config kept)', () => {
    const oci = schema2ToOci(schema2, dockerConfig);
    expect(oci.manifest.layers.map((l) => l.mediaType)).to.deep.equal([MediaType.OciLayerGzip, MediaType.OciLayer, MediaType.OciLayerNondistributableGzip]);
    expect(oci.config!.toString()).to.equal('{"architecture":"amd64","os":"linux","config":{"Labels":{"b":"\\u003c"}},"rootfs":{"type":"layers","diff_ids":[]}}');
    expect(parseManifest(oci.bytes, MediaType.OciManifest)).to.deep.equal(oci.manifest);
    expect(oci.bytes.toString()).to.match(/^\{"schemaVersion":2,"mediaType":"application\/vnd\.oci\.image\.manifest\.v1\+json","config":\{"mediaType":/);
    const back = ociToSchema2({ ...oci.manifest, config: { ...schema2.config, mediaType: MediaType.OciConfig } });
    expect(back.manifest).to.deep.equal(schema2);
    expect(back.bytes.toString()).to.contain('"urls":["https://x/y"]');
    expect(parseManifest(back.bytes, MediaType.DockerManifest)).to.deep.equal(schema2);
  });

  it('refuses what Docker cannot represent, and schema1', () => {
    const zstd: ImageManifest = { ...schema2, mediaType: MediaType.OciManifest, config: { ...schema2.config, mediaType: MediaType.OciConfig }, layers: [{ digest: D('2'), size: 1, mediaType: MediaType.OciLayerZstd }] };
    expect(() => ociToSchema2(zstd)).to.throw(/zstd compression is not supported/);
    const artifact = { ...zstd, config: { ...zstd.config, mediaType: 'application/x-thing' } };
    expect(() => ociToSchema2(artifact)).to.throw(/OCI artifact/);
    try {
      schema2ToOci({ ...schema2, schema1: { name: '', tag: '', architecture: '', v1Compatibility: ['{}'], fsLayers: [D('2')] } }, dockerConfig);
      expect.fail('expected E_UNSUPPORTED');
    } catch (e) {
      expect(isCode(e, 'E_UNSUPPORTED')).to.equal(true);
    }
  });

  it('converts lists ⇄ indexes with platforms, and applies instance updates', () => {
    const list: ManifestList = {
      kind: 'list',
      mediaType: MediaType.DockerManifestList,
      schemaVersion: 2,
      manifests: [
        { digest: D('5'), size: 100, mediaType: MediaType.DockerManifest, platform: { os: 'linux', architecture: 'arm', variant: 'v7', features: ['f'] } },
        { digest: D('6'), size: 200, mediaType: MediaType.DockerManifest, platform: { os: 'linux', architecture: 'amd64' } },
      ],
    };
    const idx = listToOciIndex(list, [
      { digest: D('7'), size: 101, mediaType: MediaType.OciManifest },
      { digest: D('8'), size: 201, mediaType: MediaType.OciManifest },
    ]);
    expect(idx.bytes.toString()).to.equal(
      `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` +
        `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"${D('7')}","size":101,"platform":{"architecture":"arm","os":"linux","variant":"v7"}},` +
        `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"${D('8')}","size":201,"platform":{"architecture":"amd64","os":"linux"}}]}`,
    );
    const back = ociIndexToList(idx.list);
    expect(back.bytes.toString()).to.equal(
      `{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[` +
        `{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":101,"digest":"${D('7')}","platform":{"architecture":"arm","os":"linux","variant":"v7"}},` +
        `{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":201,"digest":"${D('8')}","platform":{"architecture":"amd64","os":"linux"}}]}`,
    );
    expect(parseManifest(back.bytes, MediaType.DockerManifestList)).to.deep.equal(back.list);
  });

  it('decodes Docker configs into v1.Image like Go (case-insensitive keys, Docker-only fields dropped)', () => {
    const img = parseOciImage('{"Architecture":"arm","os":"linux","created":"2024-05-06T07:08:09.5Z","config":{"Env":null,"ArgsEscaped":true,"Hostname":"h"}}');
    expect(img.Architecture).to.equal('arm');
    expect(serializeOciImage(img).toString()).to.equal(
      '{"created":"2024-05-06T07:08:09.5Z","architecture":"arm","os":"linux","config":{"ArgsEscaped":true},"rootfs":{"type":"","diff_ids":null}}',
    );
    expect(() => parseOciImage('{"config":{"Env":"x"}}')).to.throw(/Env/);
  });
});
