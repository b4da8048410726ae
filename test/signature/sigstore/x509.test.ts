/**
 * The certificate, DER, PEM and canonical-JSON rules under keyless and PKI verification, on hostile or unusual
 * input: what Go's crypto/x509 refuses is refused (SHA-1 signatures, unknown critical extensions, non-CA
 * intermediates), malformed DER and oversized or trailing input throw, and the SET payload is canonicalized as
 * RFC 8785 says.
 */
import { expect } from 'chai';
import { FerryError } from '../../../src/errors.js';
import { canonicalJSON, singlePEM, verifyRekorSET } from '../../../src/signature/sigstore/rekor-set.js';
import { parseDer, children, oidString } from '../../../src/signature/sigstore/der.js';
import { certificatesFromPEM, matchesHostname, verifyCertificateChain, type Certificate } from '../../../src/signature/sigstore/x509.js';
import { useCleanup } from '../../harness/tmp.js';
import { EMAIL, ISSUER, makeCA, makeLeaf, type CA } from './keyless-material.js';
import { errorOf } from '../../harness/expect.js';

const one = (pem: string): Certificate => certificatesFromPEM(pem, 'test')[0]!;
/** The message of the FerryError `fn` throws. */
const thrown = (fn: () => unknown): string => errorOf(fn).message;

describe('signature/sigstore: certificate chains, DER and canonical JSON', function () {
  this.timeout(60_000);
  const cleanup = useCleanup('after');
  let ca: CA;
  let chainOf: (leaf: Certificate, at?: Date) => void;

  before(async () => {
    ca = await makeCA(await cleanup.tempDir('ferry-x509-'), 'ca');
    chainOf = (leaf, at = new Date()) => verifyCertificateChain(leaf, { roots: [one(ca.rootPEM)], intermediates: [one(ca.intermediatePEM)], at });
  });

  it('verifies a good chain, and refuses SHA-1 signatures, unknown critical extensions and non-CA intermediates', async () => {
    chainOf(one((await makeLeaf(ca, { issuerV1: ISSUER, email: EMAIL })).pem));
    expect(thrown(() => chainOf(one(ca.intermediatePEM), new Date(Date.UTC(2000, 0, 1))))).to.match(/leaf certificate has expired or is not yet valid: 2000-01-01T00:00:00Z is outside/);
    const sha1 = one((await makeLeaf(ca, { email: EMAIL, digest: 'sha1' })).pem);
    expect(thrown(() => chainOf(sha1))).to.contain('certificate signed by unknown authority (certificate signature algorithm 1.2.840.10045.4.1 is not accepted)');
    const critical = one((await makeLeaf(ca, { email: EMAIL, extra: ['1.2.3.4=critical,ASN1:NULL'] })).pem);
    expect(thrown(() => chainOf(critical))).to.contain('leaf certificate has an unhandled critical extension 1.2.3.4');
    // a leaf that issues another leaf is not a CA
    const parent = await makeLeaf(ca, { email: EMAIL });
    const fake: CA = { ...ca, intermediatePath: parent.path, intermediateKey: parent.keyPath, intermediatePEM: parent.pem };
    const child = one((await makeLeaf(fake, { email: EMAIL })).pem);
    expect(thrown(() => verifyCertificateChain(child, { roots: [one(ca.rootPEM)], intermediates: [one(ca.intermediatePEM), one(parent.pem)], at: new Date() }))).to.contain(
      'an intermediate certificate is not a CA',
    );
    const nc = one((await makeLeaf(ca, { email: EMAIL, extra: ['nameConstraints=permitted;email:example.com'] })).pem);
    expect(thrown(() => chainOf(nc))).to.contain('leaf certificate has name constraints, which ferry does not implement');
  });

  it('matches host names as Go does: exact, one-label wildcards, IP literals', async () => {
    const c = one((await makeLeaf(ca, { extra: ['subjectAltName=DNS:*.build.example.com,DNS:host.example.com,IP:192.0.2.7,IP:2001:db8::1'] })).pem);
    expect(matchesHostname(c, 'HOST.example.com')).to.equal(true);
    expect(matchesHostname(c, 'a.build.example.com')).to.equal(true);
    expect(matchesHostname(c, 'a.b.build.example.com')).to.equal(false);
    expect(matchesHostname(c, '192.0.2.7')).to.equal(true);
    expect(matchesHostname(c, '2001:db8:0::1')).to.equal(true);
    expect(matchesHostname(c, '192.0.2.8')).to.equal(false);
  });

  it('reads DER strictly: truncated, indefinite, non-minimal lengths and trailing bytes throw', () => {
    for (const bad of ['3003020101ff', '3080020101 0000', '30810302 0101', '300302010', '3003020101 00']) {
      expect(() => parseDer(Buffer.from(bad.replace(/ /g, ''), 'hex')), bad).to.throw(FerryError, /invalid DER/);
    }
    expect(oidString(children(parseDer(Buffer.from('300b06092b0601040183bf3001', 'hex')))[0]!)).to.equal('1.3.6.1.4.1.57264.1');
  });

  it('PEM: one block with nothing after it; certificate lists bounded', async () => {
    const leaf = (await makeLeaf(ca, { email: EMAIL })).pem;
    expect(singlePEM(leaf, 'x').length).to.be.greaterThan(100);
    expect(thrown(() => singlePEM(leaf + leaf, 'the certificate'))).to.equal('Rekor SET: the certificate has trailing data');
    expect(thrown(() => singlePEM('no pem here', 'the certificate'))).to.equal('Rekor SET: the certificate is not in PEM format');
    expect(thrown(() => certificatesFromPEM(leaf.repeat(65), 'chain'))).to.contain('more than 64 PEM blocks');
    expect(thrown(() => certificatesFromPEM('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n', 'chain'))).to.contain('PEM block 1 is a PUBLIC KEY, not a CERTIFICATE');
  });

  it('canonicalizes JSON as RFC 8785, and refuses what it cannot canonicalize', () => {
    expect(canonicalJSON(JSON.parse('{"b":[1E3,0.000001,1e21,-0,"\\u2028\\u001f\\"é"],"a":{"é":1,"z":null,"A":true}}'))).to.equal(
      '{"a":{"A":true,"z":null,"é":1},"b":[1000,0.000001,1e+21,0,"\u2028\\u001f\\"é"]}',
    );
    // keys sort by UTF-16 code units: U+FB01 (one unit) after U+1F600 (surrogates D83D…)
    expect(canonicalJSON({ '\uFB01': 1, '\u{1F600}': 2 })).to.equal('{"\u{1F600}":2,"\uFB01":1}');
    expect(thrown(() => canonicalJSON(['\uD800']))).to.contain('invalid Unicode');
    let deep: unknown = 1;
    for (let i = 0; i < 100; i++) deep = [deep];
    expect(thrown(() => canonicalJSON(deep as never))).to.contain('nested too deeply');
  });

  it('refuses oversized and duplicate-key SET annotations before any cryptography', () => {
    const input = { rekorKeys: [], keyOrCertDER: Buffer.alloc(0), signature: Buffer.alloc(0), payload: Buffer.alloc(0) };
    expect(thrown(() => verifyRekorSET({ ...input, set: ' '.repeat((1 << 20) + 1) }))).to.contain('annotation is over 1048576 bytes');
    expect(thrown(() => verifyRekorSET({ ...input, set: '{"SignedEntryTimestamp":"","Payload":{},"Payload":{}}' }))).to.contain('duplicate key "Payload"');
  });
});
