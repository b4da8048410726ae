import { expect } from 'chai';
import { signatureFromBlob, signatureToBlob, type SigstoreSignature } from '../../src/signature/blob.js';
import { FerryError } from '../../src/errors.js';

describe('signature/blob: containers/image storage form', () => {
  it('keeps a simple-signing message as it is, and recognizes it by its first OpenPGP byte', () => {
    const msg = Buffer.from([0xa3, 0x01, 0x02, 0x03]);
    const sig = signatureFromBlob(msg);
    expect(sig.kind).to.equal('simple-signing');
    expect(signatureToBlob(sig).equals(msg)).to.equal(true);
  });

  it('writes a sigstore record as Go does: zero byte, format line, JSON in Go key order with sorted annotations', () => {
    const sig: SigstoreSignature = {
      kind: 'sigstore',
      untrustedMIMEType: 'application/vnd.dev.cosign.simplesigning.v1+json',
      untrustedPayload: Buffer.from('{"critical":{}}'),
      untrustedAnnotations: { 'dev.cosignproject.cosign/signature': 'c2ln', a: '<&>' },
    };
    const blob = signatureToBlob(sig);
    const expected =
      '\u0000sigstore-json\n{"mimeType":"application/vnd.dev.cosign.simplesigning.v1+json","payload":"eyJjcml0aWNhbCI6e319",' +
      '"annotations":{"a":"\\u003c\\u0026\\u003e","dev.cosignproject.cosign/signature":"c2ln"}}';
    expect(blob.toString('latin1')).to.equal(expected);
    expect(signatureFromBlob(blob)).to.deep.equal(sig);
  });

  it('refuses empty, unknown and malformed blobs with E_SIGNATURE', () => {
    for (const bad of [Buffer.alloc(0), Buffer.from('hello'), Buffer.from('\u0000other\n{}'), Buffer.from('\u0000sigstore-json\n{"payload":1}'), Buffer.from('\u0000sigstore-json')]) {
      expect(() => signatureFromBlob(bad)).to.throw(FerryError).with.property('code', 'E_SIGNATURE');
    }
  });
});
