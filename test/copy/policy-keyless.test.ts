/**
 * Keyless (Fulcio + Rekor) sigstore signatures end to end: images signed here with a generated Fulcio-like CA and
 * Rekor key are pushed to the real registry as sigstore attachments; `ferry copy` out of it under a policy with
 * `fulcio` and `rekorPublicKeyPath` accepts the valid signature and refuses the broken ones with exit status 1,
 * writing nothing.
 */
import { expect } from 'chai';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ferry } from '../harness/cli.js';
import { expectOneLineError } from '../harness/expect.js';
import { buildImage } from '../harness/images.js';
import { useRegistry } from '../harness/registry.js';
import { useCleanup } from '../harness/tmp.js';
import { EMAIL, ISSUER, makeCA, makeLeaf, makeSET, signatureBlob, signPayload, type CA, type LeafOptions } from '../signature/sigstore/keyless-material.js';

describe('copy: keyless sigstore signatures (fulcio + rekor) through the registry', function () {
  this.timeout(120_000);
  const cleanup = useCleanup('after');
  const registry = useRegistry('http');
  let dir: string;
  let regd: string;
  let src: string;
  let manifest: Buffer;
  let ca: CA;
  let rekor: { privateKey: KeyObject; publicKey: KeyObject };
  let policy: string;
  const host = () => registry().host;

  /**
   * Pushes the image to `repo` with one keyless signature for it, made as `leaf` says, integrated `delay` seconds after
   * the certificate was made (not before: openssl dates it when it signs, which can be seconds later on a busy machine).
   */
  const pushSigned = async (repo: string, leafOpts: LeafOptions = { issuerV1: ISSUER, issuerV2: ISSUER, email: EMAIL }, delay = 0, omitSET = false) => {
    const leaf = await makeLeaf(ca, leafOpts);
    const parts = signPayload(manifest, `${host()}/${repo}:v1`, leaf.key);
    const annotations: Record<string, string> = { 'dev.sigstore.cosign/certificate': leaf.pem, 'dev.sigstore.cosign/chain': ca.intermediatePEM + ca.rootPEM };
    if (!omitSET) annotations['dev.sigstore.cosign/bundle'] = makeSET(rekor.privateKey, { publicKeyPEM: leaf.pem, signature: parts.signature, hashedPayload: parts.payload, integratedTime: Math.floor(Date.now() / 1000) + delay });
    await writeFile(path.join(src, 'signature-1'), signatureBlob(parts, annotations));
    const r = await ferry(['--insecure-policy', '--registries.d', regd, 'copy', '--quiet', '--dest-tls-verify=false', `dir:${src}`, `docker://${host()}/${repo}:v1`]);
    expect(r.code, r.stderr).to.equal(0);
  };
  const pull = async (repo: string) => {
    const out = path.join(dir, `out-${repo.replace(/\//g, '-')}`);
    const r = await ferry(['--policy', policy, '--registries.d', regd, 'copy', '--quiet', '--src-tls-verify=false', `docker://${host()}/${repo}:v1`, `dir:${out}`]);
    return { r, out };
  };

  before(async () => {
    dir = await cleanup.tempDir('policy-keyless');
    regd = path.join(dir, 'registries.d');
    await mkdir(regd);
    await writeFile(path.join(regd, 'test.yaml'), `docker:\n  ${host()}:\n    use-sigstore-attachments: true\n`);
    const img = await buildImage(path.join(dir, 'img'), { seed: 31, tag: 'v1', layers: 1, layerSize: 1000 });
    src = path.join(dir, 'src');
    const r = await ferry(['--insecure-policy', 'copy', '--quiet', `oci:${img.layoutDir}:v1`, `dir:${src}`]);
    expect(r.code, r.stderr).to.equal(0);
    manifest = await readFile(path.join(src, 'manifest.json'));
    ca = await makeCA(dir, 'fulcio');
    rekor = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await writeFile(path.join(dir, 'rekor.pub'), rekor.publicKey.export({ type: 'spki', format: 'pem' }));
    await writeFile(path.join(dir, 'fulcio.pem'), ca.rootPEM);
    policy = path.join(dir, 'policy.json');
    const req = { type: 'sigstoreSigned', fulcio: { caPath: path.join(dir, 'fulcio.pem'), oidcIssuer: ISSUER, subjectEmail: EMAIL }, rekorPublicKeyPath: path.join(dir, 'rekor.pub') };
    await writeFile(policy, JSON.stringify({ default: [{ type: 'reject' }], transports: { docker: { [host()]: [req] } } }));
  });

  it('accepts the valid keyless signature and copies it with the image', async () => {
    await pushSigned('keyless/good');
    const { r, out } = await pull('keyless/good');
    expect(r.code, r.stderr).to.equal(0);
    expect(existsSync(path.join(out, 'signature-1'))).to.equal(true);
  });

  it('refuses a wrong issuer, a wrong e-mail, a certificate expired at the integrated time, a missing SET — nothing written', async () => {
    const cases: [string, () => Promise<void>, RegExp][] = [
      ['keyless/issuer', () => pushSigned('keyless/issuer', { issuerV1: 'https://evil.example.com', email: EMAIL }), /unexpected Fulcio OIDC issuer "https:\/\/evil.example.com"/],
      ['keyless/email', () => pushSigned('keyless/email', { issuerV1: ISSUER, email: 'mallory@example.com' }), /required e-mail "signer@example.com" not found/],
      ['keyless/expired', () => pushSigned('keyless/expired', undefined, 3 * 86400), /leaf certificate has expired or is not yet valid/],
      ['keyless/noset', () => pushSigned('keyless/noset', undefined, undefined, true), /missing dev.sigstore.cosign\/bundle annotation/],
    ];
    for (const [repo, push, why] of cases) {
      await push();
      const { r, out } = await pull(repo);
      expectOneLineError(r, why);
      expect(r.code).to.equal(1);
      expect(existsSync(out)).to.equal(false);
    }
  });
});
