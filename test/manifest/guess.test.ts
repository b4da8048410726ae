import { expect } from 'chai';
import { guessManifestMediaType } from '../../src/manifest/guess.js';
import { MediaType } from '../../src/manifest/media-types.js';

describe('manifest/guess', () => {
  const cases: [string, unknown, string][] = [
    ['explicit OCI manifest', { schemaVersion: 2, mediaType: MediaType.OciManifest }, MediaType.OciManifest],
    ['explicit OCI index', { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] }, MediaType.OciIndex],
    ['explicit Docker schema 2', { schemaVersion: 2, mediaType: MediaType.DockerManifest }, MediaType.DockerManifest],
    ['explicit Docker list', { schemaVersion: 2, mediaType: MediaType.DockerManifestList }, MediaType.DockerManifestList],
    ['schema 1 unsigned', { schemaVersion: 1, name: 'x', fsLayers: [] }, MediaType.DockerSchema1],
    ['schema 1 signed', { schemaVersion: 1, name: 'x', signatures: [{}] }, MediaType.DockerSchema1Signed],
    ['OCI manifest without mediaType', { schemaVersion: 2, config: { mediaType: MediaType.OciConfig }, layers: [] }, MediaType.OciManifest],
    ['Docker config without mediaType', { schemaVersion: 2, config: { mediaType: MediaType.DockerConfig }, layers: [] }, MediaType.DockerManifest],
    ['OCI index without mediaType', { schemaVersion: 2, manifests: [{ digest: 'sha256:x' }] }, MediaType.OciIndex],
    ['empty index without mediaType', { schemaVersion: 2, manifests: [] }, MediaType.OciIndex],
    ['artifact with custom config', { schemaVersion: 2, config: { mediaType: 'application/x-thing' }, layers: [] }, MediaType.OciManifest],
    ['unknown mediaType, schema 2', { schemaVersion: 2, mediaType: 'application/x-other', config: { mediaType: MediaType.OciConfig } }, MediaType.OciManifest],
    ['no schemaVersion', { foo: 1 }, ''],
    ['schemaVersion 3', { schemaVersion: 3 }, ''],
    ['array', [1, 2], ''],
  ];
  for (const [name, json, expected] of cases) {
    it(name, () => {
      expect(guessManifestMediaType(Buffer.from(JSON.stringify(json)))).to.equal(expected);
    });
  }
  it('not JSON', () => {
    expect(guessManifestMediaType(Buffer.from('{nope'))).to.equal('');
    expect(guessManifestMediaType('')).to.equal('');
  });
});
