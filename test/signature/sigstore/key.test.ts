import { expect } from 'chai';
import { createPublicKey, verify } from 'node:crypto';
import { decryptPrivateKey, encryptPrivateKey, generateSigstoreKeyPair, pemDecode, readSigstorePublicKey } from '../../../src/signature/sigstore/key.js';
import { signSigstore } from '../../../src/signature/sigstore/sign.js';
import { encodeSigstorePayload } from '../../../src/signature/sigstore/payload.js';
import { signatureFromBlob } from '../../../src/signature/blob.js';
import { rejection } from '../../harness/expect.js';

/**
 * A key made by cosign (a public test key of a project using cosign, stored with the empty passphrase): ferry must
 * read cosign's format, not only its own.
 */
const COSIGN_MADE_KEY = `-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----
eyJrZGYiOnsibmFtZSI6InNjcnlwdCIsInBhcmFtcyI6eyJOIjo2NTUzNiwiciI6
OCwicCI6MX0sInNhbHQiOiJLYU9OQzduQVJLOVgxM1FoaWFucjAwTTBGYys2Sitr
dnAxN1FuanpiVk9nPSJ9LCJjaXBoZXIiOnsibmFtZSI6Im5hY2wvc2VjcmV0Ym94
Iiwibm9uY2UiOiJVOHZqWWtqMlZOUFZGdlZFZWZ3bXZ5VGloUERrelBoaCJ9LCJj
aXBoZXJ0ZXh0IjoidWNWMnQ4TTZVNFJvb29FOXc0d3dkc3E1RDYrS2RKY245dERT
KzFwRDRGN040SVJOWEgzSTBua3h1a3NackFOUHR1emIvTkVYQ201dUp3Zjh3Qzl1
VlprbXdwNU5jRUZ6b3ZNS3JCZmNvdXdjaEkrMzkrQ0NhbVZPbzBucmRnZjhvcmpK
dXdrWDBYL1phY0RUTERGaUxyc1laMWVMMmlqMGU1MVRpZmVQNTl4WXNPK1FnM1Jv
OURRVjNQMk9ndDFDaVFHeGg1VXhUZytGc3c9PSJ9
-----END ENCRYPTED SIGSTORE PRIVATE KEY-----
`;

const MANIFEST = Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}');

describe('signature: sigstore keys (cosign format) and signing', function () {
  this.timeout(30_000);

  it('decrypts a key cosign made (scrypt N=65536, NaCl secretbox) and refuses a wrong passphrase', async () => {
    const key = await decryptPrivateKey(COSIGN_MADE_KEY, '', 'cosign.key');
    expect(key.asymmetricKeyType).to.equal('ec');
    expect(key.asymmetricKeyDetails?.namedCurve).to.equal('prime256v1');
    expect((await rejection(decryptPrivateKey(COSIGN_MADE_KEY, 'wrong', 'cosign.key'))).message).to.contain('wrong passphrase');
  });

  it('generates a P-256 pair in cosign\'s format: the private PEM is the securesystemslib JSON, the public a PKIX PEM', async () => {
    const pair = await generateSigstoreKeyPair('pw');
    const pem = pemDecode(pair.privateKeyPem)!;
    expect(pem.type).to.equal('ENCRYPTED SIGSTORE PRIVATE KEY');
    const doc = JSON.parse(pem.bytes.toString()) as { kdf: { name: string; params: object; salt: string }; cipher: { name: string; nonce: string } };
    expect(Object.keys(doc)).to.deep.equal(['kdf', 'cipher', 'ciphertext']);
    expect(doc.kdf.name).to.equal('scrypt');
    expect(doc.kdf.params).to.deep.equal({ N: 32768, r: 8, p: 1 });
    expect(Buffer.from(doc.kdf.salt, 'base64')).to.have.length(32);
    expect(doc.cipher.name).to.equal('nacl/secretbox');
    expect(Buffer.from(doc.cipher.nonce, 'base64')).to.have.length(24);
    expect(pair.privateKeyPem.split('\n').every((l) => l.length <= 64)).to.equal(true);
    const priv = await decryptPrivateKey(pair.privateKeyPem, 'pw', 'k');
    const pub = readSigstorePublicKey(pair.publicKeyPem, 'k.pub');
    const data = Buffer.from('hello');
    const blob = signSigstore(MANIFEST, 'example.com/a:1', priv, 'ferry test', new Date(1_700_000_000_000));
    const sig = signatureFromBlob(blob);
    expect(sig.kind).to.equal('sigstore');
    if (sig.kind !== 'sigstore') return;
    expect(sig.untrustedMIMEType).to.equal('application/vnd.dev.cosign.simplesigning.v1+json');
    expect(sig.untrustedPayload.toString()).to.equal(
      '{"critical":{"identity":{"docker-reference":"example.com/a:1"},"image":{"docker-manifest-digest":"sha256:' +
        (await import('node:crypto')).createHash('sha256').update(MANIFEST).digest('hex') +
        '"},"type":"cosign container image signature"},"optional":{"creator":"ferry test","timestamp":1700000000}}',
    );
    expect(Object.keys(sig.untrustedAnnotations)).to.deep.equal(['dev.cosignproject.cosign/signature']);
    const raw = Buffer.from(sig.untrustedAnnotations['dev.cosignproject.cosign/signature']!, 'base64');
    expect(verify('sha256', sig.untrustedPayload, pub, raw)).to.equal(true);
    expect(verify('sha256', data, createPublicKey(pair.publicKeyPem), raw)).to.equal(false);
  });

  it('round-trips any PKCS#8 key through encryption; refuses other PEM types, other ciphers and costly scrypt parameters', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const ed = generateKeyPairSync('ed25519').privateKey.export({ format: 'der', type: 'pkcs8' });
    const pem = await encryptPrivateKey(ed, 'x');
    expect((await decryptPrivateKey(pem, 'x', 'ed')).asymmetricKeyType).to.equal('ed25519');
    expect((await rejection(decryptPrivateKey('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n', 'x', 'f'))).message).to.contain('is not a sigstore private key');
    const forge = (doc: object) => `-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n${Buffer.from(JSON.stringify(doc)).toString('base64')}\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n`;
    const base = { kdf: { name: 'scrypt', params: { N: 32768, r: 8, p: 1 }, salt: 'AAAA' }, cipher: { name: 'nacl/secretbox', nonce: Buffer.alloc(24).toString('base64') }, ciphertext: 'AAAA' };
    expect((await rejection(decryptPrivateKey(forge({ ...base, cipher: { name: 'aes', nonce: 'AA==' } }), 'x', 'f'))).message).to.contain('unsupported cipher');
    expect((await rejection(decryptPrivateKey(forge({ ...base, kdf: { ...base.kdf, params: { N: 1 << 24, r: 8, p: 1 } } }), 'x', 'f'))).message).to.contain('memory');
    expect((await rejection(decryptPrivateKey(forge({ ...base, kdf: { ...base.kdf, params: { N: 1000, r: 8, p: 1 } } }), 'x', 'f'))).message).to.contain('invalid scrypt');
  });

  it('payloads escape as Go does', () => {
    const p = encodeSigstorePayload({ dockerManifestDigest: 'sha256:' + 'a'.repeat(64), dockerReference: 'example.com/a<b>:1', creator: 'x&y', timestamp: 1 });
    expect(p.toString()).to.contain('example.com/a\\u003cb\\u003e:1').and.contain('x\\u0026y');
  });
});
