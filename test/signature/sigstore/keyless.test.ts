/**
 * sigstoreSigned with fulcio + rekorPublicKey…, public keys + rekorPublicKey…, and pki, against signatures made
 * here with real certificates (openssl) and real Rekor SETs (keyless-material.ts): the valid ones are accepted, and
 * every broken variant is refused with a reason naming what failed.
 */
import { expect } from 'chai';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FerryError } from '../../../src/errors.js';
import { PolicyContext } from '../../../src/signature/policy/evaluate.js';
import type { PolicyImage } from '../../../src/signature/policy/image.js';
import type { PolicyRequirement } from '../../../src/config/policy-types.js';
import { parseNormalizedName, repositoryString } from '../../../src/reference/name.js';
import { useCleanup } from '../../harness/tmp.js';
import { EMAIL, ISSUER, makeCA, makeLeaf, makeSET, signatureBlob, signPayload, type CA, type LeafOptions } from './keyless-material.js';

const REF = 'registry.example.com/keyless/app:v1';
const MANIFEST = Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}');
const parseDockerReference = (s: string) => {
  const n = parseNormalizedName(s);
  return { name: repositoryString(n), ...(n.tag !== undefined ? { tag: n.tag } : {}), ...(n.digest !== undefined ? { digest: n.digest } : {}) };
};
const image = (sigs: Buffer[]): PolicyImage => ({
  transport: 'docker',
  identity: REF,
  namespaces: [],
  name: `docker://${REF}`,
  dockerReference: REF,
  manifest: MANIFEST,
  signatures: async () => sigs,
});
const check = (req: PolicyRequirement, sigs: Buffer[]) => new PolicyContext({ default: [req], transports: new Map() }, { parseDockerReference }).checkImage(image(sigs));

async function refusal(p: Promise<unknown>): Promise<string> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e, 'expected a refusal').to.be.instanceOf(FerryError);
  expect((e as FerryError).code).to.equal('E_POLICY');
  return (e as FerryError).message;
}

const now = () => Math.floor(Date.now() / 1000);

describe('signature/sigstore: fulcio, rekor and pki trust roots', function () {
  this.timeout(60_000);
  const cleanup = useCleanup('after');
  let dir: string;
  let fulcio: CA;
  let rogue: CA;
  let rekor: { privateKey: KeyObject; publicKey: KeyObject };
  let otherRekor: { privateKey: KeyObject; publicKey: KeyObject };
  let rekorPub: string;
  let otherRekorPub: string;
  let fulcioReq: PolicyRequirement;

  before(async () => {
    dir = await cleanup.tempDir('ferry-keyless-');
    fulcio = await makeCA(dir, 'fulcio');
    rogue = await makeCA(dir, 'rogue');
    rekor = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    otherRekor = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    rekorPub = join(dir, 'rekor.pub');
    otherRekorPub = join(dir, 'other-rekor.pub');
    await writeFile(rekorPub, rekor.publicKey.export({ type: 'spki', format: 'pem' }));
    await writeFile(otherRekorPub, otherRekor.publicKey.export({ type: 'spki', format: 'pem' }));
    await writeFile(join(dir, 'fulcio-root.pem'), fulcio.rootPEM);
    fulcioReq = {
      type: 'sigstoreSigned',
      roots: { fulcio: { ca: { path: join(dir, 'fulcio-root.pem') }, oidcIssuer: ISSUER, subjectEmail: EMAIL }, rekor: { path: rekorPub } },
      signedIdentity: { type: 'matchRepoDigestOrExact' },
    };
  });

  interface Variant {
    ca?: CA;
    leaf?: LeafOptions;
    integratedTime?: number;
    rekorKey?: KeyObject;
    hashedPayload?: Buffer;
    entrySignature?: Buffer;
    entryPEM?: string;
    omit?: string[];
    tamperSET?: (set: string) => string;
    chain?: string;
  }

  /** A keyless signature of MANIFEST as REF, broken as `v` says. */
  async function keyless(v: Variant = {}): Promise<Buffer> {
    const ca = v.ca ?? fulcio;
    const leaf = await makeLeaf(ca, v.leaf ?? { issuerV1: ISSUER, issuerV2: ISSUER, email: EMAIL });
    const parts = signPayload(MANIFEST, REF, leaf.key);
    let set = makeSET(v.rekorKey ?? rekor.privateKey, {
      publicKeyPEM: v.entryPEM ?? leaf.pem,
      signature: v.entrySignature ?? parts.signature,
      hashedPayload: v.hashedPayload ?? parts.payload,
      integratedTime: v.integratedTime ?? now(),
    });
    if (v.tamperSET) set = v.tamperSET(set);
    const annotations: Record<string, string> = {
      'dev.sigstore.cosign/certificate': leaf.pem,
      'dev.sigstore.cosign/chain': v.chain ?? ca.intermediatePEM + ca.rootPEM,
      'dev.sigstore.cosign/bundle': set,
    };
    for (const k of v.omit ?? []) delete annotations[k];
    return signatureBlob(parts, annotations);
  }

  it('accepts a keyless signature: Fulcio certificate (issuer v1 and v2, v1 only, v2 only) and Rekor SET', async () => {
    await check(fulcioReq, [await keyless()]);
    await check(fulcioReq, [await keyless({ leaf: { issuerV1: ISSUER, email: EMAIL } })]);
    await check(fulcioReq, [await keyless({ leaf: { issuerV2: ISSUER, email: EMAIL } })]);
    // one of several Rekor keys, and a CA given inline
    const fulcioData = fulcioReq.type === 'sigstoreSigned' ? fulcioReq.roots.fulcio! : undefined!;
    await check({ ...fulcioReq, roots: { fulcio: { ...fulcioData, ca: { data: Buffer.from(fulcio.rootPEM) } }, rekor: { paths: [otherRekorPub, rekorPub] } } } as PolicyRequirement, [await keyless()]);
  });

  it('refuses a wrong OIDC issuer, inconsistent issuer extensions, no issuer, a wrong e-mail', async () => {
    expect(await refusal(check(fulcioReq, [await keyless({ leaf: { issuerV1: 'https://evil.example.com', issuerV2: 'https://evil.example.com', email: EMAIL } })]))).to.contain(
      'unexpected Fulcio OIDC issuer "https://evil.example.com" (the policy requires "https://oidc.example.com")',
    );
    expect(await refusal(check(fulcioReq, [await keyless({ leaf: { issuerV1: ISSUER, issuerV2: 'https://evil.example.com', email: EMAIL } })]))).to.contain('inconsistent OIDC issuer extension values');
    expect(await refusal(check(fulcioReq, [await keyless({ leaf: { email: EMAIL } })]))).to.contain('Fulcio certificate is missing the issuer extension');
    expect(await refusal(check(fulcioReq, [await keyless({ leaf: { issuerV1: ISSUER, email: 'mallory@example.com' } })]))).to.contain(
      'required e-mail "signer@example.com" not found in the certificate (got ["mallory@example.com"])',
    );
  });

  it('checks the certificate at the integrated time: expired, not yet valid', async () => {
    expect(await refusal(check(fulcioReq, [await keyless({ integratedTime: now() + 3 * 86400 })]))).to.match(/leaf certificate has expired or is not yet valid: .* is outside /);
    expect(await refusal(check(fulcioReq, [await keyless({ integratedTime: now() - 86400 })]))).to.match(/leaf certificate has expired or is not yet valid/);
    // a time past what a Date holds (Go: year 285 million, long after the certificate expired) must not pass as valid
    expect(await refusal(check(fulcioReq, [await keyless({ integratedTime: 9e15 })]))).to.contain('Rekor SET: integratedTime 9000000000000000 is out of range');
  });

  it('refuses a certificate from another CA, one without code signing, and a chain that skips the intermediate', async () => {
    expect(await refusal(check(fulcioReq, [await keyless({ ca: rogue })]))).to.contain('verifying leaf certificate failed: certificate signed by unknown authority');
    expect(await refusal(check(fulcioReq, [await keyless({ leaf: { issuerV1: ISSUER, email: EMAIL, eku: 'serverAuth' } })]))).to.contain('does not allow code signing');
    // the chain's last certificate is taken for the root and not used: a chain of the intermediate alone does not help
    expect(await refusal(check(fulcioReq, [await keyless({ chain: fulcio.intermediatePEM })]))).to.contain('certificate signed by unknown authority');
    // a rogue root in the chain annotation is not trusted either
    expect(await refusal(check(fulcioReq, [await keyless({ ca: rogue, chain: rogue.intermediatePEM + rogue.rootPEM + rogue.rootPEM })]))).to.contain('unknown authority');
  });

  it('refuses a tampered SET, a SET by another Rekor key, an entry for another payload, signature or certificate', async () => {
    let why = await refusal(check(fulcioReq, [await keyless({ tamperSET: (s) => s.replace('"logIndex":42', '"logIndex":43') })]));
    expect(why).to.contain('Rekor SET: cryptographic signature verification of the SET failed');
    why = await refusal(check(fulcioReq, [await keyless({ rekorKey: otherRekor.privateKey })]));
    expect(why).to.contain('Rekor SET: cryptographic signature verification of the SET failed');
    why = await refusal(check(fulcioReq, [await keyless({ hashedPayload: Buffer.from('another payload') })]));
    expect(why).to.contain('Rekor SET: the payload hash in the Rekor SET does not match the signature payload');
    why = await refusal(check(fulcioReq, [await keyless({ entrySignature: Buffer.from('another signature') })]));
    expect(why).to.contain('Rekor SET: the signature in the Rekor SET does not match the layer signature');
    const other = await makeLeaf(fulcio, { issuerV1: ISSUER, email: EMAIL });
    why = await refusal(check(fulcioReq, [await keyless({ entryPEM: other.pem })]));
    expect(why).to.contain('Rekor SET: the publicKey in the Rekor SET does not match the signing key or certificate');
    why = await refusal(check(fulcioReq, [await keyless({ tamperSET: (s) => s.replace('{', '{"Extra":1,') })]));
    expect(why).to.contain('Rekor SET: the SET annotation: unknown key "Extra"');
  });

  it('refuses a signature without SET or certificate', async () => {
    expect(await refusal(check(fulcioReq, [await keyless({ omit: ['dev.sigstore.cosign/bundle'] })]))).to.contain('missing dev.sigstore.cosign/bundle annotation');
    expect(await refusal(check(fulcioReq, [await keyless({ omit: ['dev.sigstore.cosign/certificate'] })]))).to.contain('missing dev.sigstore.cosign/certificate annotation');
  });

  it('public keys with rekorPublicKey…: accepts with a SET naming the key, refuses without one or with one for another key', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pubPath = join(dir, 'cosign.pub');
    const otherPath = join(dir, 'cosign-other.pub');
    await writeFile(pubPath, publicKey.export({ type: 'spki', format: 'pem' }));
    await writeFile(otherPath, other.publicKey.export({ type: 'spki', format: 'pem' }));
    const parts = signPayload(MANIFEST, REF, privateKey);
    const setFor = (pem: string) => makeSET(rekor.privateKey, { publicKeyPEM: pem, signature: parts.signature, hashedPayload: parts.payload, integratedTime: now() });
    const req = (keys: string[]): PolicyRequirement => ({ type: 'sigstoreSigned', keys: { paths: keys }, roots: { rekor: { path: rekorPub } }, signedIdentity: { type: 'matchRepoDigestOrExact' } });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
    await check(req([otherPath, pubPath]), [signatureBlob(parts, { 'dev.sigstore.cosign/bundle': setFor(pem) })]);
    expect(await refusal(check(req([pubPath]), [signatureBlob(parts, {})]))).to.contain('missing dev.sigstore.cosign/bundle annotation');
    const otherPem = other.publicKey.export({ type: 'spki', format: 'pem' }) as string;
    expect(await refusal(check(req([pubPath]), [signatureBlob(parts, { 'dev.sigstore.cosign/bundle': setFor(otherPem) })]))).to.contain(
      'no public key verified against the Rekor SET: Rekor SET: the publicKey in the Rekor SET does not match',
    );
    // without rekorPublicKey…, the same signature needs no SET
    const plain: PolicyRequirement = { type: 'sigstoreSigned', keys: { path: pubPath }, roots: {}, signedIdentity: { type: 'matchRepoDigestOrExact' } };
    await check(plain, [signatureBlob(parts, {})]);
    // the signature's base64 may be wrapped in lines, as cosign writes it for certificates (Go's decoder skips them)
    const wrapped = signatureBlob(parts, { 'dev.cosignproject.cosign/signature': parts.signature.toString('base64').replace(/(.{20})/g, '$1\n') });
    await check(plain, [wrapped]);
    // a Rekor key that is not ECDSA is refused
    const ed = generateKeyPairSync('ed25519');
    const edPath = join(dir, 'ed-rekor.pub');
    await writeFile(edPath, ed.publicKey.export({ type: 'spki', format: 'pem' }));
    expect(await refusal(check({ ...req([pubPath]), roots: { rekor: { path: edPath } } } as PolicyRequirement, [signatureBlob(parts, { 'dev.sigstore.cosign/bundle': setFor(pem) })]))).to.contain(
      'Rekor public key 1 is not using ECDSA',
    );
  });

  it('pki: accepts a certificate chaining to the roots, with the e-mail and hostname; refuses others', async () => {
    const pki = await makeCA(dir, 'pki');
    await writeFile(join(dir, 'pki-root.pem'), pki.rootPEM);
    await writeFile(join(dir, 'pki-int.pem'), pki.intermediatePEM);
    const leaf = await makeLeaf(pki, { email: EMAIL, dns: 'build.example.com' });
    const parts = signPayload(MANIFEST, REF, leaf.key);
    const sig = (chain?: string) => signatureBlob(parts, { 'dev.sigstore.cosign/certificate': leaf.pem, ...(chain !== undefined ? { 'dev.sigstore.cosign/chain': chain } : {}) });
    const req = (p: object): PolicyRequirement => ({ type: 'sigstoreSigned', roots: { pki: { caRoots: { path: join(dir, 'pki-root.pem') }, ...p } }, signedIdentity: { type: 'matchRepoDigestOrExact' } });
    await check(req({ caIntermediates: { path: join(dir, 'pki-int.pem') }, subjectEmail: EMAIL, subjectHostname: 'build.example.com' }), [sig()]);
    await check(req({ subjectEmail: EMAIL }), [sig(pki.intermediatePEM + pki.rootPEM)]);
    expect(await refusal(check(req({ subjectEmail: EMAIL }), [sig()]))).to.contain('certificate signed by unknown authority');
    expect(await refusal(check(req({ caIntermediates: { path: join(dir, 'pki-int.pem') }, subjectHostname: 'other.example.com' }), [sig()]))).to.contain(
      'unexpected subject hostname: the certificate is not valid for "other.example.com"',
    );
    expect(await refusal(check(req({ caIntermediates: { path: join(dir, 'pki-int.pem') }, subjectEmail: 'x@example.com' }), [sig()]))).to.contain('required e-mail "x@example.com" not found');
    const rogueLeaf = await makeLeaf(rogue, { email: EMAIL });
    const rp = signPayload(MANIFEST, REF, rogueLeaf.key);
    const rogueSig = signatureBlob(rp, { 'dev.sigstore.cosign/certificate': rogueLeaf.pem, 'dev.sigstore.cosign/chain': rogue.intermediatePEM + rogue.rootPEM });
    expect(await refusal(check(req({ subjectEmail: EMAIL }), [rogueSig]))).to.contain('certificate signed by unknown authority');
  });
});
