/**
 * Policy evaluation (containers/image policy_eval*.go): scope choice, reject/accept, signedIdentity matching, and
 * sigstoreSigned against cosign-made test vectors (test/signature/fixtures/cosign, from containers/image).
 */
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FerryError } from '../../src/errors.js';
import { PolicyContext, requirementsFor } from '../../src/signature/policy/evaluate.js';
import { identityMatches } from '../../src/signature/policy/identity.js';
import type { PolicyImage } from '../../src/signature/policy/image.js';
import type { Policy, PolicyRequirement, ReferenceMatch } from '../../src/config/policy-types.js';
import { signatureFromBlob, signatureToBlob, type SigstoreSignature } from '../../src/signature/blob.js';
import { parseNormalizedName, repositoryString } from '../../src/reference/name.js';
import { ROOT } from '../harness/cli.js';

const FIXTURES = join(ROOT, 'test/signature/fixtures/cosign');
const parseDockerReference = (s: string) => {
  const n = parseNormalizedName(s);
  return { name: repositoryString(n), ...(n.tag !== undefined ? { tag: n.tag } : {}), ...(n.digest !== undefined ? { digest: n.digest } : {}) };
};
const policyOf = (reqs: PolicyRequirement[]): Policy => ({ default: reqs, transports: new Map() });
const ctx = (reqs: PolicyRequirement[]) => new PolicyContext(policyOf(reqs), { parseDockerReference });

async function fixtureImage(dir: string, over: Partial<PolicyImage> = {}): Promise<PolicyImage> {
  const manifest = await readFile(join(FIXTURES, dir, 'manifest.json'));
  const sig = await readFile(join(FIXTURES, dir, 'signature-1'));
  return {
    transport: 'docker',
    identity: '192.168.64.2:5000/cosign-signed-single-sample:latest',
    namespaces: [],
    name: 'docker://192.168.64.2:5000/cosign-signed-single-sample:latest',
    dockerReference: '192.168.64.2:5000/cosign-signed-single-sample:latest',
    manifest,
    signatures: async () => [sig],
    ...over,
  };
}

async function refusal(p: Promise<unknown>): Promise<FerryError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e, 'expected a refusal').to.be.instanceOf(FerryError);
  expect((e as FerryError).code).to.equal('E_POLICY');
  return e as FerryError;
}

describe('signature/policy: evaluation', () => {
  const cosign = { path: join(FIXTURES, 'cosign.pub') };
  // the cosign fixtures sign a repository name without tag, which only matchRepository and exactRepository accept
  const sigstore = (keys = cosign, signedIdentity: ReferenceMatch = { type: 'matchRepository' }): PolicyRequirement => ({ type: 'sigstoreSigned', keys, roots: {}, signedIdentity });

  it('chooses the most specific scope: identity, namespaces, the transport default, then default', () => {
    const reqs = (t: string) => [{ type: t }] as PolicyRequirement[];
    const policy: Policy = {
      default: reqs('reject'),
      transports: new Map([['docker', new Map([['a.io/ns', reqs('insecureAcceptAnything')], ['', reqs('signedBaseLayer')], ['a.io/ns/x:1', reqs('reject')]])]]),
    };
    const img = { transport: 'docker', identity: 'a.io/ns/x:2', namespaces: ['a.io/ns/x', 'a.io/ns', 'a.io', '*.io'] };
    expect(requirementsFor(policy, img)).to.deep.equal({ requirements: reqs('insecureAcceptAnything'), source: 'transports.docker["a.io/ns"]' });
    expect(requirementsFor(policy, { ...img, identity: 'a.io/ns/x:1' }).source).to.equal('transports.docker["a.io/ns/x:1"]');
    expect(requirementsFor(policy, { ...img, namespaces: ['b.io'] }).source).to.equal('transports.docker[""]');
    expect(requirementsFor(policy, { ...img, transport: 'dir' }).source).to.equal('default');
  });

  it('accepts the cosign-signed image with cosign.pub (and with it among keyPaths / keyDatas)', async () => {
    await ctx([sigstore()]).checkImage(await fixtureImage('dir-img-cosign-valid'));
    await ctx([sigstore({ paths: [join(FIXTURES, 'cosign2.pub'), join(FIXTURES, 'cosign.pub')] } as never)]).checkImage(await fixtureImage('dir-img-cosign-valid'));
    const datas = [await readFile(join(FIXTURES, 'cosign2.pub')), await readFile(join(FIXTURES, 'cosign.pub'))];
    await ctx([sigstore({ datas } as never)]).checkImage(await fixtureImage('dir-img-cosign-valid'));
  });

  it('the default matchRepoDigestOrExact refuses a signature for a repository name without tag, as containers/image', async () => {
    const e = await refusal(ctx([sigstore(cosign, { type: 'matchRepoDigestOrExact' })]).checkImage(await fixtureImage('dir-img-cosign-valid')));
    expect(e.message).to.match(/Signature for identity "192.168.64.2:5000\/cosign-signed-single-sample" is not accepted$/);
    await ctx([sigstore(cosign, { type: 'matchRepoDigestOrExact' })]).checkImage(
      await fixtureImage('dir-img-cosign-valid-with-tag', { dockerReference: '192.168.64.2:5000/skopeo-signed:tag' }),
    );
  });

  it('refuses it with another key, a tampered payload, another manifest, another identity', async () => {
    let e = await refusal(ctx([sigstore({ path: join(FIXTURES, 'cosign2.pub') })]).checkImage(await fixtureImage('dir-img-cosign-valid')));
    expect(e.message).to.equal(
      `Source image rejected: docker://192.168.64.2:5000/cosign-signed-single-sample:latest: sigstoreSigned (keyPath "${join(FIXTURES, 'cosign2.pub')}") (policy default): cryptographic signature verification failed: public key 1: the signature does not verify`,
    );
    const good = (await fixtureImage('dir-img-cosign-valid')).signatures;
    const sig = signatureFromBlob((await good())[0]!) as SigstoreSignature;
    const tampered = signatureToBlob({ ...sig, untrustedPayload: Buffer.from(sig.untrustedPayload.toString('utf8').replace('cosign-signed-single-sample', 'cosign-signed-single-sampl3')) });
    e = await refusal(ctx([sigstore()]).checkImage(await fixtureImage('dir-img-cosign-valid', { signatures: async () => [tampered] })));
    expect(e.message).to.contain('cryptographic signature verification failed');
    e = await refusal(ctx([sigstore()]).checkImage(await fixtureImage('dir-img-cosign-modified-manifest')));
    expect(e.message).to.match(/Signature for digest sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00 does not match$/);
    e = await refusal(ctx([sigstore()]).checkImage(await fixtureImage('dir-img-cosign-valid', { dockerReference: '192.168.64.2:5000/other:latest' })));
    expect(e.message).to.match(/Signature for identity "192.168.64.2:5000\/cosign-signed-single-sample" is not accepted$/);
    // a dir: image has no docker identity: only exactReference / exactRepository can accept
    e = await refusal(ctx([sigstore()]).checkImage(await fixtureImage('dir-img-cosign-valid', { dockerReference: undefined })));
    expect(e.message).to.contain('is not accepted');
    await ctx([sigstore(cosign, { type: 'exactRepository', dockerRepository: '192.168.64.2:5000/cosign-signed-single-sample' })]).checkImage(
      await fixtureImage('dir-img-cosign-valid', { dockerReference: undefined }),
    );
  });

  it('refuses the cosign Fulcio + Rekor fixture under trust roots that did not issue it', async () => {
    // keyless signatures are covered with generated material in sigstore/keyless.test.ts; here: a real cosign SET
    // is checked against the policy's Rekor key (cosign.pub is an ECDSA key that did not sign it)
    const img = await fixtureImage('dir-img-cosign-fulcio-rekor-valid');
    const ca = { data: Buffer.from('not a certificate') };
    const fulcio: PolicyRequirement = { type: 'sigstoreSigned', roots: { fulcio: { ca, oidcIssuer: 'https://github.com/login/oauth', subjectEmail: 'mitr@redhat.com' }, rekor: cosign }, signedIdentity: { type: 'matchRepository' } };
    expect((await refusal(ctx([fulcio]).checkImage(img))).message).to.contain('error loading Fulcio CA certificates: no certificate found');
    const rekor: PolicyRequirement = { type: 'sigstoreSigned', keys: cosign, roots: { rekor: cosign }, signedIdentity: { type: 'matchRepository' } };
    expect((await refusal(ctx([rekor]).checkImage(await fixtureImage('dir-img-cosign-valid')))).message).to.contain('missing dev.sigstore.cosign/bundle annotation');
    const leaf = signatureFromBlob((await img.signatures())[0]!) as SigstoreSignature;
    expect((await refusal(ctx([rekor]).checkImage({ ...img, signatures: async () => [signatureToBlob(leaf)] }))).message).to.contain(
      'Rekor SET: cryptographic signature verification of the SET failed',
    );
  });

  it('every requirement must accept; unsigned images and simple signatures for sigstoreSigned say so as skopeo does', async () => {
    const img = await fixtureImage('dir-img-cosign-valid');
    let e = await refusal(ctx([{ type: 'insecureAcceptAnything' }, { type: 'reject' }]).checkImage(img));
    expect(e.message).to.equal(`Source image rejected: ${img.name}: reject (policy default): Running image ${img.name} is rejected by policy.`);
    e = await refusal(ctx([sigstore()]).checkImage({ ...img, signatures: async () => [] }));
    expect(e.message).to.match(/: A signature was required, but no signature exists$/);
    e = await refusal(ctx([sigstore()]).checkImage({ ...img, signatures: async () => [Buffer.from([0x89, 1, 2])] }));
    expect(e.message).to.match(/A signature was required, but no signature exists \(1 non-sigstore signatures, 0 sigstore non-signature attachments\)$/);
    const signedBy: PolicyRequirement = { type: 'signedBy', keyType: 'GPGKeys', keys: { path: '/nonexistent.gpg' }, signedIdentity: { type: 'matchRepository' } };
    e = await refusal(ctx([signedBy]).checkImage(img));
    expect(e.message).to.match(/signedBy \(GPGKeys, keyPath "\/nonexistent.gpg"\) \(policy default\): A signature was required, but no signature exists$/);
    // signatures are not even read for insecureAcceptAnything
    await ctx([{ type: 'insecureAcceptAnything' }]).checkImage({ ...img, signatures: () => Promise.reject(new Error('must not be read')) });
  });

  it('signedIdentity: each match type as containers/image', () => {
    const m = (match: ReferenceMatch, image: string | undefined, signed: string) => identityMatches(match, image, signed, parseDockerReference);
    const d = `sha256:${'a'.repeat(64)}`;
    expect(m({ type: 'matchExact' }, 'docker.io/library/busybox:1', 'busybox:1')).to.equal(true);
    expect(m({ type: 'matchExact' }, 'docker.io/library/busybox:1', 'busybox:2')).to.equal(false);
    expect(m({ type: 'matchExact' }, 'docker.io/library/busybox:1', 'busybox')).to.equal(false);
    expect(m({ type: 'matchRepoDigestOrExact' }, 'a.io/x:1', 'a.io/x:1')).to.equal(true);
    expect(m({ type: 'matchRepoDigestOrExact' }, 'a.io/x:1', 'a.io/x:2')).to.equal(false);
    expect(m({ type: 'matchRepoDigestOrExact' }, `a.io/x@${d}`, 'a.io/x:anything')).to.equal(true);
    expect(m({ type: 'matchRepoDigestOrExact' }, `a.io/x@${d}`, 'a.io/y:1')).to.equal(false);
    expect(m({ type: 'matchRepoDigestOrExact' }, `a.io/x@${d}`, 'a.io/x')).to.equal(false);
    expect(m({ type: 'matchRepository' }, 'a.io/x:1', 'a.io/x:2')).to.equal(true);
    expect(m({ type: 'matchRepository' }, 'a.io/x:1', 'a.io/x')).to.equal(true);
    expect(m({ type: 'matchRepository' }, undefined, 'a.io/x')).to.equal(false);
    expect(m({ type: 'exactReference', dockerReference: 'a.io/x:1' }, undefined, 'a.io/x:1')).to.equal(true);
    expect(m({ type: 'exactReference', dockerReference: 'a.io/x:1' }, 'a.io/x:1', 'a.io/x:2')).to.equal(false);
    expect(m({ type: 'exactRepository', dockerRepository: 'a.io/x' }, undefined, 'a.io/x:9')).to.equal(true);
    const remap: ReferenceMatch = { type: 'remapIdentity', prefix: 'mirror.local/team', signedPrefix: 'quay.io/team' };
    expect(m(remap, 'mirror.local/team/app:1', 'quay.io/team/app:1')).to.equal(true);
    expect(m(remap, 'mirror.local/team/app:1', 'mirror.local/team/app:1')).to.equal(false);
    expect(m(remap, 'mirror.local/teamx/app:1', 'mirror.local/teamx/app:1')).to.equal(true);
    expect(m(remap, 'mirror.local/team/app:1', 'not a reference')).to.equal(false);
  });
});
