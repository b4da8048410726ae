import { expect } from 'chai';
import { isCode } from '../../src/errors.js';
import { MediaType } from '../../src/manifest/media-types.js';
import { parseManifest } from '../../src/manifest/parse.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const D3 = `sha256:${'3'.repeat(64)}`;
const j = (v: unknown) => Buffer.from(JSON.stringify(v));

function invalid(fn: () => unknown, re: RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(isCode(e, 'E_INVALID_MANIFEST'), String(e)).to.equal(true);
    expect((e as Error).message).to.match(re);
    return;
  }
  expect.fail('expected E_INVALID_MANIFEST');
}

describe('manifest/parse', () => {
  const oci = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: D1, size: 10 },
    layers: [{ mediaType: MediaType.OciLayerGzip, digest: D2, size: 20, annotations: { a: 'b' }, urls: ['http://x'] }],
    annotations: { k: 'v' },
  };

  it('parses an OCI manifest with layers, annotations and urls', () => {
    const m = parseManifest(j(oci), MediaType.OciManifest);
    expect(m).to.deep.equal({
      kind: 'image',
      mediaType: MediaType.OciManifest,
      schemaVersion: 2,
      config: { mediaType: MediaType.OciConfig, digest: D1, size: 10 },
      layers: [{ mediaType: MediaType.OciLayerGzip, digest: D2, size: 20, annotations: { a: 'b' }, urls: ['http://x'] }],
      annotations: { k: 'v' },
    });
  });

  it('guesses the type when the source gives none or a generic one', () => {
    const { mediaType, ...noType } = oci;
    expect(mediaType).to.equal(MediaType.OciManifest);
    expect(parseManifest(j(noType), '').mediaType).to.equal(MediaType.OciManifest);
    const s2 = { ...noType, mediaType: MediaType.DockerManifest, config: { ...oci.config, mediaType: MediaType.DockerConfig } };
    expect(parseManifest(j(s2), 'application/json').mediaType).to.equal(MediaType.DockerManifest);
  });

  it('parses lists with platforms, Docker entries without platform get an empty one', () => {
    const list = {
      schemaVersion: 2,
      mediaType: MediaType.DockerManifestList,
      manifests: [
        { mediaType: MediaType.DockerManifest, digest: D1, size: 5, platform: { architecture: 'arm', os: 'linux', variant: 'v7', features: ['sse'] } },
        { mediaType: MediaType.DockerManifest, digest: D2, size: 6 },
      ],
    };
    const m = parseManifest(j(list), MediaType.DockerManifestList);
    expect(m.kind).to.equal('list');
    if (m.kind !== 'list') return;
    expect(m.manifests[0]!.platform).to.deep.equal({ os: 'linux', architecture: 'arm', variant: 'v7', features: ['sse'] });
    expect(m.manifests[1]!.platform).to.deep.equal({ os: '', architecture: '' });
  });

  it('reads schema1: layers reversed, throwaway layers skipped, tag kept', () => {
    const s1 = {
      schemaVersion: 1,
      name: 'library/x',
      tag: 't1',
      architecture: 'amd64',
      fsLayers: [{ blobSum: D3 }, { blobSum: D2 }, { blobSum: D1 }],
      history: [
        { v1Compatibility: '{"id":"c","created":"2020-01-01T00:00:00Z","os":"linux"}' },
        { v1Compatibility: '{"id":"b","throwaway":true}' },
        { v1Compatibility: '{"id":"a"}' },
      ],
    };
    const m = parseManifest(j(s1), MediaType.DockerSchema1);
    if (m.kind !== 'image') return expect.fail('not an image');
    expect(m.layers.map((l) => l.digest)).to.deep.equal([D1, D3]);
    expect(m.layers[0]!.size).to.equal(-1);
    expect(m.schema1?.tag).to.equal('t1');
    expect(m.config.digest).to.equal('');
    invalid(() => parseManifest(j({ ...s1, history: s1.history.slice(1) }), MediaType.DockerSchema1), /3 fsLayers but 2 history/);
  });

  it('rejects invalid digests, sizes, mismatched and ambiguous documents', () => {
    invalid(() => parseManifest(j({ ...oci, config: { ...oci.config, digest: 'sha256:abc' } }), MediaType.OciManifest), /config: invalid digest/);
    invalid(() => parseManifest(j({ ...oci, layers: [{ ...oci.layers[0], size: '20' }] }), MediaType.OciManifest), /layer 0: size must be/);
    invalid(() => parseManifest(j(oci), MediaType.DockerManifest), /mediaType .* does not match/);
    invalid(() => parseManifest(j({ ...oci, manifests: [] }), MediaType.OciManifest), /unexpected field "manifests"/);
    invalid(() => parseManifest(j({ schemaVersion: 2, mediaType: MediaType.OciIndex }), MediaType.OciIndex), /missing field "manifests"/);
    invalid(() => parseManifest(j({ ...oci, schemaVersion: 1 }), MediaType.OciManifest), /schemaVersion must be 2/);
    invalid(() => parseManifest(Buffer.from('{nope'), MediaType.OciManifest), /not valid JSON/);
    invalid(() => parseManifest(Buffer.from('[]'), 'text/plain'), /unsupported manifest media type/);
  });
});
