/**
 * Attacks on the Rekor SET and on the identity checks of keyless and PKI signatures, with SETs really signed by a
 * Rekor key made here and certificates built field by field (cert-builder.ts): what containers/image refuses is
 * refused, what it accepts is accepted.
 */
import { expect } from 'chai';
import { createHash, sign, type KeyObject } from 'node:crypto';
import { verifyFulcioSignature, verifyPKISignature, type SignatureMaterial } from '../../../src/signature/sigstore/certificates.js';
import { canonicalJSON, verifyRekorSET } from '../../../src/signature/sigstore/rekor-set.js';
import { parseCertificate } from '../../../src/signature/sigstore/x509.js';
import { basicConstraints, buildCertificate, CA_TRUE, cn, codeSigningEKU, ecKeys, emailSAN, extension, oid, pem, seq, tlv } from './cert-builder.js';
import { errorOf } from '../../harness/expect.js';

/** The message of the FerryError `fn` throws. */
const refusal = (fn: () => unknown): string => errorOf(fn).message;

const ISSUER = 'https://oidc.example.com';
const EMAIL = 'signer@example.com';
const V1 = '1.3.6.1.4.1.57264.1.1';
const V2 = '1.3.6.1.4.1.57264.1.8';

interface HashedRekord {
  apiVersion: string;
  kind: string;
  spec: { data: { hash: { algorithm: string; value: string } }; signature: { content: string; publicKey: { content: string } } };
}

describe('signature/sigstore: Rekor SET and identity attacks', function () {
  this.timeout(60_000);
  const rekor = ecKeys();
  const signer = ecKeys();
  const payload = Buffer.from('{"critical":{}}');
  const signature = sign('sha256', payload, signer.privateKey);
  const keyPEM = signer.publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const keyDER = signer.publicKey.export({ type: 'spki', format: 'der' });

  /** A hashedrekord body naming `publicKeyPEM`, as Rekor writes it, with `edit` applied. */
  const body = (publicKeyPEM = keyPEM, edit: (b: HashedRekord) => void = () => {}) => {
    const b: HashedRekord = {
      apiVersion: '0.0.1',
      kind: 'hashedrekord',
      spec: {
        data: { hash: { algorithm: 'sha256', value: createHash('sha256').update(payload).digest('hex') } },
        signature: { content: signature.toString('base64'), publicKey: { content: Buffer.from(publicKeyPEM).toString('base64') } },
      },
    };
    edit(b);
    return b;
  };
  /** A SET annotation whose Payload text is `payloadText` (signed over its canonical form, as Rekor signs). */
  const setOf = (payloadText: string, key: KeyObject = rekor.privateKey) =>
    `{"SignedEntryTimestamp":"${sign('sha256', Buffer.from(canonicalJSON(JSON.parse(payloadText))), key).toString('base64')}","Payload":${payloadText}}`;
  const payloadText = (b: object | string, integratedTime: string = String(Math.floor(Date.now() / 1000))) =>
    `{"body":"${Buffer.from(typeof b === 'string' ? b : JSON.stringify(b)).toString('base64')}","integratedTime":${integratedTime},"logIndex":1,"logID":"00"}`;
  const check = (set: string, keyOrCertDER = keyDER) => verifyRekorSET({ rekorKeys: [rekor.publicKey], set, keyOrCertDER, signature, payload });

  it('accepts a SET whose body has extra fields and whose time is written 1e9 (both read as containers/image reads them)', () => {
    check(setOf(payloadText(body())));
    check(setOf(payloadText(body(keyPEM, (b) => Object.assign(b, { extra: 1, spec: { ...b.spec, extra: [1] } })))));
    expect(check(setOf(payloadText(body(), '1e9'))).getTime()).to.equal(1e12);
  });

  it('refuses duplicate keys, also when spelled with \\u escapes, in the annotation and in the body', () => {
    const p = payloadText(body());
    expect(refusal(() => check(setOf(p.replace('"logID":"00"', '"logID":"00","log\\u0049D":"01"'))))).to.contain('duplicate key "logID"');
    const dupBody = JSON.stringify(body()).replace('"kind":"hashedrekord"', '"kind":"hashedrekord","kin\\u0064":"rekord"');
    expect(refusal(() => check(setOf(payloadText(dupBody))))).to.contain('the Rekor entry body: duplicate key "kind"');
  });

  it('refuses times that are not integers or that a Date cannot hold', () => {
    expect(refusal(() => check(setOf(payloadText(body(), '1.5'))))).to.contain('integratedTime is not an integer');
    expect(refusal(() => check(setOf(payloadText(body(), '1e300'))))).to.contain('integratedTime is not an integer');
    expect(refusal(() => check(setOf(payloadText(body(), '-9000000000000000'))))).to.contain('integratedTime -9000000000000000 is out of range');
  });

  it('refuses an entry naming two PEM blocks, another hash algorithm, another kind; and a SET by a key not in the policy', () => {
    expect(refusal(() => check(setOf(payloadText(body(keyPEM + keyPEM)))))).to.contain('the publicKey in the Rekor SET has trailing data');
    expect(refusal(() => check(setOf(payloadText(body(keyPEM, (b) => { b.spec.data.hash.algorithm = 'sha512'; })))))).to.contain('unexpected "data.hash.algorithm" value "sha512"');
    expect(refusal(() => check(setOf(payloadText(body(keyPEM, (b) => { b.kind = 'rekord'; })))))).to.contain('unsupported Rekor entry kind "rekord"');
    expect(refusal(() => check(setOf(payloadText(body()), ecKeys().privateKey)))).to.contain('cryptographic signature verification of the SET failed');
    // a SET over a non-canonical form of the same payload is not Rekor's
    const p = payloadText(body());
    const nonCanonical = `{"SignedEntryTimestamp":"${sign('sha256', Buffer.from(p), rekor.privateKey).toString('base64')}","Payload":${p}}`;
    expect(refusal(() => check(nonCanonical))).to.contain('cryptographic signature verification of the SET failed');
  });

  describe('identities', () => {
    const rootKeys = ecKeys();
    const rootName = cn('identity root');
    const root = parseCertificate(buildCertificate({ issuer: rootName, subject: rootName, publicKey: rootKeys.publicKey, signer: { key: rootKeys.privateKey }, extensions: [basicConstraints(CA_TRUE)] }));
    const leafKeys = ecKeys();
    const leafPEM = (extensions: Buffer[], subject = cn('leaf')) =>
      pem(buildCertificate({ issuer: rootName, subject, publicKey: leafKeys.publicKey, signer: { key: rootKeys.privateKey }, extensions: [codeSigningEKU(), ...extensions] }));
    const sigPayload = Buffer.from('{"critical":{}}');
    const sigBytes = sign('sha256', sigPayload, leafKeys.privateKey);
    /** The Fulcio check of a signature by `certPEM`, with a real SET naming it. */
    const fulcio = (certPEM: string, email = EMAIL, entryPEM = certPEM) => {
      const b = {
        apiVersion: '0.0.1',
        kind: 'hashedrekord',
        spec: {
          data: { hash: { algorithm: 'sha256', value: createHash('sha256').update(sigPayload).digest('hex') } },
          signature: { content: sigBytes.toString('base64'), publicKey: { content: Buffer.from(entryPEM).toString('base64') } },
        },
      };
      const material: SignatureMaterial = {
        annotations: { 'dev.sigstore.cosign/certificate': certPEM, 'dev.sigstore.cosign/bundle': setOf(payloadText(b)) },
        signature: sigBytes,
        payload: sigPayload,
      };
      return verifyFulcioSignature({ roots: [root], oidcIssuer: ISSUER, subjectEmail: email }, [rekor.publicKey], material);
    };
    const v1 = (s: string | Buffer) => extension(V1, Buffer.from(s));
    const v2 = (el: Buffer) => extension(V2, el);
    const utf8 = (s: string) => tlv(0x0c, Buffer.from(s));

    it('accepts the issuer as v1, as v2 (UTF8String or PrintableString), or both equal', () => {
      fulcio(leafPEM([v1(ISSUER), emailSAN(EMAIL)]));
      fulcio(leafPEM([v2(utf8(ISSUER)), emailSAN(EMAIL)]));
      fulcio(leafPEM([v2(tlv(0x13, Buffer.from(ISSUER))), emailSAN(EMAIL)]));
      fulcio(leafPEM([v1(ISSUER), v2(utf8(ISSUER)), emailSAN(EMAIL)]));
    });

    it('refuses an issuer with a trailing NUL, v2 not a string or with trailing data, v1 or v2 empty beside the other', () => {
      expect(refusal(() => fulcio(leafPEM([v1(`${ISSUER}\0`), emailSAN(EMAIL)])))).to.contain('unexpected Fulcio OIDC issuer');
      expect(refusal(() => fulcio(leafPEM([v2(tlv(0x04, Buffer.from(ISSUER))), emailSAN(EMAIL)])))).to.contain('invalid ASN.1 in OIDC issuer v2 extension');
      expect(refusal(() => fulcio(leafPEM([v2(Buffer.concat([utf8(ISSUER), Buffer.from([5, 0])])), emailSAN(EMAIL)])))).to.contain('invalid ASN.1 in OIDC issuer v2 extension');
      expect(refusal(() => fulcio(leafPEM([v1(''), v2(utf8(ISSUER)), emailSAN(EMAIL)])))).to.contain('inconsistent OIDC issuer extension values');
      expect(refusal(() => fulcio(leafPEM([v1(ISSUER), v2(utf8('')), emailSAN(EMAIL)])))).to.contain('inconsistent OIDC issuer extension values');
      expect(refusal(() => fulcio(leafPEM([v1(ISSUER), v1(ISSUER), emailSAN(EMAIL)])))).to.contain('duplicate extension');
    });

    it('refuses an entry naming the public key of the certificate instead of the certificate, and an oversized certificate annotation', () => {
      const good = leafPEM([v1(ISSUER), emailSAN(EMAIL)]);
      fulcio(good);
      const keyPEMOfLeaf = leafKeys.publicKey.export({ type: 'spki', format: 'pem' }) as string;
      expect(refusal(() => fulcio(good, EMAIL, keyPEMOfLeaf))).to.contain('the publicKey in the Rekor SET does not match the signing key or certificate');
      const big = good.replace('-----END CERTIFICATE-----', `${'A'.repeat(65 << 10)}\n-----END CERTIFICATE-----`);
      expect(refusal(() => fulcio(big))).to.contain('the dev.sigstore.cosign/certificate annotation is over 65536 bytes');
    });

    it('matches the e-mail exactly, and only in the SAN (not case-insensitively, not by substring, not in the subject)', () => {
      expect(refusal(() => fulcio(leafPEM([v1(ISSUER), emailSAN('Signer@example.com')])))).to.contain('required e-mail "signer@example.com" not found');
      expect(refusal(() => fulcio(leafPEM([v1(ISSUER), emailSAN(`${EMAIL}.evil.com`)])))).to.contain('not found');
      const dnEmail = seq(tlv(0x31, seq(oid('1.2.840.113549.1.9.1'), tlv(0x16, Buffer.from(EMAIL)))));
      expect(refusal(() => fulcio(leafPEM([v1(ISSUER)], dnEmail)))).to.contain('not found in the certificate (got [])');
      const pki = (certPEM: string) => verifyPKISignature({ roots: [root], intermediates: [], subjectEmail: EMAIL }, { annotations: { 'dev.sigstore.cosign/certificate': certPEM }, signature: sigBytes, payload: sigPayload });
      pki(leafPEM([emailSAN(EMAIL)]));
      expect(refusal(() => pki(leafPEM([], dnEmail)))).to.contain('not found in the certificate (got [])');
    });

    it('refuses trust roots without an identity to match (the policy parser refuses them too; an empty one would match an empty SAN)', () => {
      const emptySAN = leafPEM([v1(ISSUER), emailSAN('')]);
      expect(refusal(() => fulcio(emptySAN, ''))).to.contain('Fulcio use set up without OIDC issuer or subject email');
      const material = { annotations: { 'dev.sigstore.cosign/certificate': emptySAN }, signature: sigBytes, payload: sigPayload };
      expect(refusal(() => verifyPKISignature({ roots: [root], intermediates: [] }, material))).to.contain('PKI use set up without subject email or subject hostname');
      expect(refusal(() => verifyPKISignature({ roots: [root], intermediates: [], subjectEmail: '' }, material))).to.contain('PKI use set up without subject email or subject hostname');
    });

    it('reads certificate annotations as sigstore does: nothing but white space after the last block, no text without blocks', () => {
      const sig = (annotations: Record<string, string>) =>
        verifyPKISignature({ roots: [root], intermediates: [], subjectEmail: EMAIL }, { annotations, signature: sigBytes, payload: sigPayload });
      const good = leafPEM([emailSAN(EMAIL)]);
      sig({ 'dev.sigstore.cosign/certificate': `\n${good}\n\n`, 'dev.sigstore.cosign/chain': '' });
      expect(refusal(() => sig({ 'dev.sigstore.cosign/certificate': `${good}garbage` }))).to.contain('parsing leaf certificate: data after the last PEM block');
      expect(refusal(() => sig({ 'dev.sigstore.cosign/certificate': good, 'dev.sigstore.cosign/chain': 'not a certificate chain' }))).to.contain('loading certificate chain: no PEM data');
    });
  });
});
