import { expect } from 'chai';
import { manifestDigest } from '../../src/manifest/manifest-digest.js';
import { digestOf } from '../../src/util/digest.js';

describe('manifest/manifest-digest', () => {
  it('digests ordinary manifests byte for byte', () => {
    const bytes = Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}\n');
    expect(manifestDigest(bytes)).to.equal(digestOf(bytes));
    const notJson = Buffer.from('not json');
    expect(manifestDigest(notJson)).to.equal(digestOf(notJson));
  });

  it('strips the JWS signatures of a signed schema1 manifest', () => {
    const payload = '{\n   "schemaVersion": 1,\n   "name": "a/b",\n   "tag": "t",\n   "fsLayers": []\n}';
    const formatLength = payload.length - 2; // up to (not including) the final "\n}"
    const formatTail = Buffer.from('\n}').toString('base64url');
    const protectedHeader = Buffer.from(JSON.stringify({ formatLength, formatTail, time: '2020-01-01T00:00:00Z' })).toString('base64url');
    const signed =
      payload.slice(0, formatLength) +
      `,\n   "signatures": [{"header": {}, "signature": "xyz", "protected": "${protectedHeader}"}]\n}`;
    expect(JSON.parse(signed).schemaVersion).to.equal(1);
    expect(manifestDigest(Buffer.from(signed))).to.equal(digestOf(Buffer.from(payload)));
  });
});
