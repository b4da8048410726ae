/**
 * Attacks on certificate chain verification with certificates built field by field (cert-builder.ts): each one is
 * something Go's crypto/x509 refuses (or fails closed on), so ferry must refuse it too.
 */
import { expect } from 'chai';
import { generateKeyPairSync } from 'node:crypto';
import { parseCertificate, verifyCertificateChain, type Certificate } from '../../../src/signature/sigstore/x509.js';
import {
  basicConstraints,
  buildCertificate,
  CA_TRUE,
  cn,
  codeSigningEKU,
  ecKeys,
  emailSAN,
  extension,
  hex,
  pssAlgorithm,
  rsaKeys,
  seq,
  type CertSpec,
} from './cert-builder.js';
import { errorOf } from '../../harness/expect.js';

/** The message of the FerryError `fn` throws. */
const refusal = (fn: () => unknown): string => errorOf(fn).message;

describe('signature/sigstore: certificate chain attacks', function () {
  this.timeout(60_000);
  const rootKeys = ecKeys();
  const rootName = cn('attack root');
  const root = parseCertificate(buildCertificate({ issuer: rootName, subject: rootName, publicKey: rootKeys.publicKey, signer: { key: rootKeys.privateKey }, extensions: [basicConstraints(CA_TRUE)] }));
  const leafKeys = ecKeys();
  const leafSpec = (over: Partial<CertSpec> = {}): CertSpec => ({
    issuer: rootName,
    subject: cn('leaf'),
    publicKey: leafKeys.publicKey,
    signer: { key: rootKeys.privateKey },
    extensions: [codeSigningEKU(), emailSAN('a@example.com')],
    ...over,
  });
  const verify = (leaf: Buffer, intermediates: Buffer[] = [], roots: Certificate[] = [root]) =>
    verifyCertificateChain(parseCertificate(leaf), { roots, intermediates: intermediates.map(parseCertificate), at: new Date() });
  /** An intermediate CA under the root, with `extensions`, and a leaf it signed. */
  const viaIntermediate = (extensions: Buffer[], over: Partial<CertSpec> = {}) => {
    const k = ecKeys();
    const name = cn('attack intermediate');
    const intermediate = buildCertificate({ issuer: rootName, subject: name, publicKey: k.publicKey, signer: { key: rootKeys.privateKey }, extensions, ...over });
    return { intermediate, leaf: buildCertificate(leafSpec({ issuer: name, signer: { key: k.privateKey } })) };
  };

  it('accepts the well-formed chains these attacks start from', () => {
    verify(buildCertificate(leafSpec()));
    const { intermediate, leaf } = viaIntermediate([basicConstraints(CA_TRUE, 0)]);
    verify(leaf, [intermediate]);
  });

  const rsaRoot = () => {
    const k = rsaKeys();
    const name = cn('rsa root');
    return { k, name, root: parseCertificate(buildCertificate({ issuer: name, subject: name, publicKey: k.publicKey, signer: { key: k.privateKey }, extensions: [basicConstraints(CA_TRUE)] })) };
  };
  const SHA256 = '2.16.840.1.101.3.4.2.1';
  const SHA1 = '1.3.14.3.2.26';

  it('RSA-PSS: only the parameters Go accepts (SHA-256/384/512, MGF1 with the same hash, salt = hash length); SHA-1 inside PSS is refused', () => {
    const { k, name, root: r } = rsaRoot();
    const pss = (hashOID: string, hash: string, salt: number) => buildCertificate(leafSpec({ issuer: name, signer: { key: k.privateKey, algorithm: pssAlgorithm(hashOID, salt), hash, pss: { saltLength: salt } } }));
    verify(pss(SHA256, 'sha256', 32), [], [r]);
    // OpenSSL verifies these; Go does not know the algorithm
    expect(refusal(() => verify(pss(SHA1, 'sha1', 20), [], [r]))).to.contain('certificate signature algorithm 1.2.840.113549.1.1.10 is not accepted');
    expect(refusal(() => verify(pss(SHA256, 'sha256', 20), [], [r]))).to.contain('certificate signature algorithm 1.2.840.113549.1.1.10 is not accepted');
  });

  it('Ed25519 signatures with parameters are refused, as Go does', () => {
    const k = generateKeyPairSync('ed25519');
    const name = cn('ed root');
    const r = parseCertificate(buildCertificate({ issuer: name, subject: name, publicKey: k.publicKey, signer: { key: k.privateKey }, extensions: [basicConstraints(CA_TRUE)] }));
    verify(buildCertificate(leafSpec({ issuer: name, signer: { key: k.privateKey } })), [], [r]);
    const withParams = buildCertificate(leafSpec({ issuer: name, signer: { key: k.privateKey, algorithm: seq(hex('06032b6570'), hex('0500')) } }));
    expect(refusal(() => verify(withParams, [], [r]))).to.contain('certificate signature algorithm 1.3.101.112 is not accepted');
  });

  it('BOOLEANs are 0x00 or 0xff: an empty or 0x01 cA does not make a CA, a 0x01 critical flag is refused', () => {
    for (const bad of ['0100', '010101']) {
      const { intermediate, leaf } = viaIntermediate([basicConstraints(hex(bad))]);
      expect(refusal(() => verify(leaf, [intermediate])), bad).to.contain('basic constraints cA: invalid BOOLEAN');
    }
    const flag = buildCertificate(leafSpec({ extensions: [codeSigningEKU(), extension('2.5.29.15', hex('03020780'), hex('010101'))] }));
    expect(refusal(() => verify(flag))).to.contain('extension critical flag: invalid BOOLEAN');
  });

  it('path lengths: minimal INTEGERs only; the limit applies to a root that does not say it is a CA, as Go applies it', () => {
    const { intermediate, leaf } = viaIntermediate([extension('2.5.29.19', seq(CA_TRUE, hex('02020001')), true)]);
    expect(refusal(() => verify(leaf, [intermediate]))).to.contain('path length constraint: invalid or out-of-range INTEGER');
    const name = cn('pathlen root');
    const r = parseCertificate(buildCertificate({ issuer: name, subject: name, publicKey: rootKeys.publicKey, signer: { key: rootKeys.privateKey }, extensions: [basicConstraints(undefined, 0)] }));
    const below = viaIntermediate([basicConstraints(CA_TRUE)], { issuer: name });
    expect(refusal(() => verify(below.leaf, [below.intermediate], [r]))).to.contain('root certificate path length constraint exceeded');
    // and an intermediate's limit of 0 forbids another intermediate under it
    const k1 = ecKeys();
    const k2 = ecKeys();
    const first = buildCertificate({ issuer: rootName, subject: cn('first'), publicKey: k1.publicKey, signer: { key: rootKeys.privateKey }, extensions: [basicConstraints(CA_TRUE, 0)] });
    const second = buildCertificate({ issuer: cn('first'), subject: cn('second'), publicKey: k2.publicKey, signer: { key: k1.privateKey }, extensions: [basicConstraints(CA_TRUE)] });
    const deep = buildCertificate(leafSpec({ issuer: cn('second'), signer: { key: k2.privateKey } }));
    expect(refusal(() => verify(deep, [first, second]))).to.contain('intermediate certificate path length constraint exceeded');
  });

  it('a version 1 certificate with extensions is refused (Go ignores them: no CA, no EKU)', () => {
    const { intermediate, leaf } = viaIntermediate([basicConstraints(CA_TRUE)], { v1: true });
    expect(refusal(() => verify(leaf, [intermediate]))).to.contain('a version 1 certificate has extensions');
  });

  it('public keys only of the types Go parses and verifies with: a secp256k1 leaf, a 512-bit RSA leaf are refused', () => {
    const k = generateKeyPairSync('ec', { namedCurve: 'secp256k1' });
    expect(refusal(() => verify(buildCertificate(leafSpec({ publicKey: k.publicKey }))))).to.contain('unsupported public key type ec (secp256k1)');
    const small = generateKeyPairSync('rsa', { modulusLength: 512 });
    expect(refusal(() => verify(buildCertificate(leafSpec({ publicKey: small.publicKey }))))).to.contain('unsupported public key type rsa');
  });

  it('an invalid time is outside every validity period', () => {
    expect(refusal(() => verifyCertificateChain(parseCertificate(buildCertificate(leafSpec())), { roots: [root], intermediates: [], at: new Date(Number.NaN) }))).to.contain(
      'leaf certificate has expired or is not yet valid: an invalid time is outside',
    );
  });

  // what was already right, kept so
  it('names chain byte for byte (PrintableString ≠ UTF8String); the same name with another key does not chain', () => {
    expect(refusal(() => verify(buildCertificate(leafSpec({ issuer: cn('attack root', true) }))))).to.contain('certificate signed by unknown authority');
    // a rogue CA named as the root, given as an intermediate (the chain annotation): the signature check separates them
    const rogue = ecKeys();
    const rogueRoot = buildCertificate({ issuer: rootName, subject: rootName, publicKey: rogue.publicKey, signer: { key: rogue.privateKey }, extensions: [basicConstraints(CA_TRUE)] });
    const forged = buildCertificate(leafSpec({ signer: { key: rogue.privateKey } }));
    expect(refusal(() => verify(forged, [rogueRoot]))).to.contain('certificate signed by unknown authority');
  });

  it('refuses trailing fields in a certificate, outer and inner algorithms that differ, a not-yet-valid root, an intermediate that is not a CA, limited to other usages or with an unknown critical extension', () => {
    expect(refusal(() => verify(buildCertificate(leafSpec({ trailing: hex('0500') }))))).to.contain('parsing certificate');
    expect(refusal(() => verify(buildCertificate(leafSpec({ outerAlgorithm: seq(hex('06082a8648ce3d040302'), hex('0500')) }))))).to.contain('certificate signature algorithms disagree');
    const name = cn('future root');
    const future = parseCertificate(
      buildCertificate({ issuer: name, subject: name, publicKey: rootKeys.publicKey, signer: { key: rootKeys.privateKey }, extensions: [basicConstraints(CA_TRUE)], notBefore: new Date(Date.now() + 86400_000), notAfter: new Date(Date.now() + 2 * 86400_000) }),
    );
    expect(refusal(() => verify(buildCertificate(leafSpec({ issuer: name })), [], [future]))).to.contain('root certificate has expired or is not yet valid');
    for (const notCA of [viaIntermediate([]), viaIntermediate([basicConstraints(hex('010100'))]), viaIntermediate([basicConstraints(undefined, 3)])]) {
      expect(refusal(() => verify(notCA.leaf, [notCA.intermediate]))).to.contain('an intermediate certificate is not a CA');
    }
    const serverOnly = viaIntermediate([basicConstraints(CA_TRUE), extension('2.5.29.37', seq(hex('06082b06010505070301')))]);
    expect(refusal(() => verify(serverOnly.leaf, [serverOnly.intermediate]))).to.contain('does not allow code signing');
    const critical = viaIntermediate([basicConstraints(CA_TRUE), extension('1.2.3.4', hex('0500'), true)]);
    expect(refusal(() => verify(critical.leaf, [critical.intermediate]))).to.contain('intermediate certificate has an unhandled critical extension 1.2.3.4');
  });

  it('bounds chain building: over 10 certificates is refused; cross-signed CAs looping away from the root end', () => {
    /** root → n intermediates → leaf */
    const ladder = (n: number) => {
      let issuerName = rootName;
      let issuerKey = rootKeys.privateKey;
      const chain: Buffer[] = [];
      for (let l = 0; l < n; l++) {
        const k = ecKeys();
        chain.push(buildCertificate({ issuer: issuerName, subject: cn(`level ${l}`), publicKey: k.publicKey, signer: { key: issuerKey }, extensions: [basicConstraints(CA_TRUE)] }));
        issuerName = cn(`level ${l}`);
        issuerKey = k.privateKey;
      }
      return { chain, leaf: buildCertificate(leafSpec({ issuer: issuerName, signer: { key: issuerKey } })) };
    };
    const ok = ladder(8);
    verify(ok.leaf, ok.chain);
    const long = ladder(9);
    expect(refusal(() => verify(long.leaf, long.chain))).to.contain('certificate signed by unknown authority');
    // two CAs signing each other, many times over: no path to the root, and a bounded search
    const a = ecKeys();
    const b = ecKeys();
    const loop: Buffer[] = [];
    for (let n = 0; n < 30; n++) {
      loop.push(buildCertificate({ issuer: cn('loop b'), subject: cn('loop a'), publicKey: a.publicKey, signer: { key: b.privateKey }, extensions: [basicConstraints(CA_TRUE)] }));
      loop.push(buildCertificate({ issuer: cn('loop a'), subject: cn('loop b'), publicKey: b.publicKey, signer: { key: a.privateKey }, extensions: [basicConstraints(CA_TRUE)] }));
    }
    const looped = buildCertificate(leafSpec({ issuer: cn('loop a'), signer: { key: a.privateKey } }));
    expect(refusal(() => verify(looped, loop))).to.match(/certificate signed by unknown authority|too many signature checks/);
  });

  it('accepts what Go accepts: any-usage EKUs, an intermediate without keyCertSign, ECDSA with NULL parameters', () => {
    const any = viaIntermediate([basicConstraints(CA_TRUE), extension('2.5.29.37', seq(hex('0604551d2500')))]);
    verify(any.leaf, [any.intermediate]);
    verify(buildCertificate(leafSpec({ extensions: [extension('2.5.29.37', seq(hex('0604551d2500')))] })));
    const noCertSign = viaIntermediate([basicConstraints(CA_TRUE), extension('2.5.29.15', hex('03020780'), true)]);
    verify(noCertSign.leaf, [noCertSign.intermediate]);
    verify(buildCertificate(leafSpec({ signer: { key: rootKeys.privateKey, algorithm: seq(hex('06082a8648ce3d040302'), hex('0500')) } })));
  });
});
