import { expect } from 'chai';
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import type * as openpgp from 'openpgp';
import { openpgp as loadOpenpgp } from '../../src/signature/openpgp.js';
import { useCleanup } from '../harness/tmp.js';
import { FerryError } from '../../src/errors.js';
import { digestOf } from '../../src/util/digest.js';
import { encodePayload } from '../../src/signature/payload.js';
import { loadSigningKey, loadVerificationKeys, type SigningKey } from '../../src/signature/keys.js';
import { signDockerManifest, signPayload } from '../../src/signature/sign.js';
import { verifyDockerManifestSignature, verifySignedMessage } from '../../src/signature/verify.js';
import { parseNormalizedName, repositoryString } from '../../src/reference/name.js';

const MANIFEST = Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}');
const REF = 'registry.example.com/team/app:1.0';
const parse = (s: string) => {
  const n = parseNormalizedName(s);
  return { name: repositoryString(n), ...(n.tag !== undefined ? { tag: n.tag } : {}), ...(n.digest !== undefined ? { digest: n.digest } : {}) };
};

async function rejection(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e, String(e)).to.be.instanceOf(FerryError);
    return (e as Error).message;
  }
  throw new Error('expected a rejection');
}

describe('signature: sign and verify (openpgp.js keys)', function () {
  const cleanup = useCleanup('after');
  let dir: string;
  let alice: { armored: string; key: openpgp.PrivateKey; fpr: string };
  let bob: { armored: string; key: openpgp.PrivateKey; fpr: string };
  let aliceKey: SigningKey;
  /** The same openpgp instance as ferry's (its CommonJS build): keys cannot cross between module instances. */
  let pgp: typeof openpgp;

  /**
   * A key created an hour ago: the tests sign with a date fixed in `before`, and a key made after it (in a later
   * second) would be "created in the future" for that signature, which openpgp.js refuses.
   */
  async function generate(name: string, extra: { subkeys?: openpgp.SubkeyOptions[] } = {}) {
    const created = new Date(Date.now() - 3600_000);
    const { privateKey } = await pgp.generateKey({ type: 'ecc', userIDs: [{ name, email: `${name}@example.com` }], format: 'armored', date: created, ...extra });
    const key = await pgp.readPrivateKey({ armoredKey: privateKey });
    return { armored: privateKey, key, fpr: key.getFingerprint().toUpperCase() };
  }
  async function keyFile(name: string, content: string): Promise<string> {
    const file = path.join(dir, name);
    await writeFile(file, content);
    return file;
  }

  before(async () => {
    pgp = await loadOpenpgp();
    dir = await cleanup.tempDir('sig');
    [alice, bob] = await Promise.all([generate('alice'), generate('bob')]);
    date = new Date();
    aliceKey = await loadSigningKey({ fingerprint: alice.fpr, keyFile: await keyFile('alice.asc', alice.armored) });
  });

  let date: Date;
  const sign = (manifest = MANIFEST, ref = REF, key = aliceKey) => signDockerManifest({ manifest, dockerReference: ref, key, creator: 'ferry test', date });

  it('signs a binary, non-detached message that verifies with the public key', async () => {
    const sig = await sign();
    expect(sig[0]! & 0x80, 'binary packet, not armor').to.equal(0x80);
    const r = await verifyDockerManifestSignature({ signature: sig, manifest: MANIFEST, dockerReference: REF, parseDockerReference: parse, expectedFingerprints: [alice.fpr], keys: [alice.key.toPublic()] });
    expect(r.fingerprint).to.equal(alice.fpr);
    expect(r.payload).to.deep.equal({ dockerManifestDigest: digestOf(MANIFEST), dockerReference: REF, creator: 'ferry test', timestamp: Math.floor(date.getTime() / 1000) });
    const any = await verifyDockerManifestSignature({ signature: sig, manifest: MANIFEST, dockerReference: REF, parseDockerReference: parse, expectedFingerprints: 'any', keys: [bob.key.toPublic(), alice.key.toPublic()] });
    expect(any.fingerprint).to.equal(alice.fpr);
  });

  it('refuses a tampered signature, another key, an unexpected key, another manifest or reference', async () => {
    const sig = await sign();
    const verify = (o: Partial<Parameters<typeof verifyDockerManifestSignature>[0]>) =>
      verifyDockerManifestSignature({ signature: sig, manifest: MANIFEST, dockerReference: REF, parseDockerReference: parse, expectedFingerprints: [alice.fpr], keys: [alice.key.toPublic()], ...o });
    // change one byte of the signed content (the digest's hex inside the literal data packet)
    const tampered = Buffer.from(sig);
    const at = tampered.indexOf(Buffer.from(digestOf(MANIFEST).slice(7, 20)));
    expect(at).to.be.greaterThan(0);
    tampered[at] = tampered[at] === 0x61 ? 0x62 : 0x61;
    expect(await rejection(verify({ signature: tampered }))).to.match(/^signature verification failed: /);
    expect(await rejection(verify({ keys: [bob.key.toPublic()] }))).to.match(/^signature made by key ID [0-9A-F]{16}, which is not among the public keys \([0-9A-F]{40}\)$/);
    expect(await rejection(verify({ keys: [bob.key.toPublic(), alice.key.toPublic()], expectedFingerprints: [bob.fpr] }))).to.equal(
      `signature by key ${alice.fpr} does not match the expected fingerprints ${bob.fpr}`,
    );
    expect(await rejection(verify({ manifest: Buffer.from('{}') }))).to.equal(
      `signature is for manifest digest ${digestOf(MANIFEST)}, which does not match the manifest (${digestOf('{}')})`,
    );
    expect(await rejection(verify({ dockerReference: 'registry.example.com/team/app:2.0' }))).to.equal(
      `signature is for docker reference "${REF}", not "registry.example.com/team/app:2.0"`,
    );
    // names compared normalized, as skopeo standalone-verify compares them, but no tag is added
    const hub = await sign(MANIFEST, 'busybox');
    expect(await rejection(verify({ signature: hub, dockerReference: 'docker.io/library/busybox:latest' }))).to.contain('not "docker.io/library/busybox:latest"');
    const hubTagged = await sign(MANIFEST, 'docker.io/library/busybox:latest');
    for (const same of ['busybox:latest', 'library/busybox:latest', 'docker.io/library/busybox:latest']) {
      expect((await verify({ signature: hubTagged, dockerReference: same })).payload.dockerReference).to.equal('docker.io/library/busybox:latest');
    }
    const short = await sign(MANIFEST, 'busybox:latest');
    expect((await verify({ signature: short, dockerReference: 'docker.io/library/busybox:latest' })).payload.dockerReference).to.equal('busybox:latest');
    // an invalid name is never matched, even by the same string in the signature
    const invalid = await sign(MANIFEST, 'UPPER/app:1');
    const e = await verify({ signature: invalid, dockerReference: 'UPPER/app:1' }).then(() => undefined, (x: unknown) => x);
    expect((e as FerryError).code).to.equal('E_INVALID_REFERENCE');
    expect(await rejection(verify({ signature: invalid }))).to.equal(`signature is for docker reference "UPPER/app:1", not "${REF}"`);
  });

  it('verifies the OpenPGP signature before reading the payload', async () => {
    const garbage = await signPayload(Buffer.from('{"critical":{"surprise":1},"optional":{}}'), aliceKey);
    const base = { signature: garbage, manifest: MANIFEST, dockerReference: REF, parseDockerReference: parse };
    // an unexpected signer is refused for that, never for its payload
    expect(await rejection(verifyDockerManifestSignature({ ...base, expectedFingerprints: [bob.fpr], keys: [bob.key.toPublic()] }))).to.contain('not among the public keys');
    expect(await rejection(verifyDockerManifestSignature({ ...base, expectedFingerprints: [bob.fpr], keys: [alice.key.toPublic(), bob.key.toPublic()] }))).to.contain('does not match the expected fingerprints');
    // the expected signer's payload is then parsed strictly
    expect(await rejection(verifyDockerManifestSignature({ ...base, expectedFingerprints: [alice.fpr], keys: [alice.key.toPublic()] }))).to.contain('invalid signature payload: unknown field "surprise" in critical');
  });

  it('refuses garbage, unsigned messages and messages with two signatures', async () => {
    const keys = [alice.key.toPublic()];
    expect(await rejection(verifySignedMessage(Buffer.from('{"critical":{}}'), keys))).to.match(/^invalid signature: not an OpenPGP signed message/);
    expect(await rejection(verifySignedMessage(Buffer.alloc(0), keys))).to.match(/^invalid signature/);
    // a one-pass signature packet of an unknown version (not covered by the signature): refused, as gpg does
    const sig = await sign();
    expect([sig[0], sig[2]], 'new-format one-pass signature packet, version 3').to.deep.equal([0xc4, 3]);
    const odd = Buffer.from(sig);
    odd[2] = 9;
    expect(await rejection(verifySignedMessage(odd, keys))).to.match(/^invalid signature: .*one-pass signature packet/);
    const literal = await pgp.createMessage({ binary: encodePayload({ dockerManifestDigest: digestOf(MANIFEST), dockerReference: REF }) });
    const unsigned = Buffer.from(literal.write() as Uint8Array);
    expect(await rejection(verifySignedMessage(unsigned, keys))).to.equal('invalid signature: the message is not signed');
    const bobKey = await loadSigningKey({ fingerprint: bob.fpr, keyFile: await keyFile('bob.asc', bob.armored) });
    const twice = await pgp.sign({ message: literal, signingKeys: [aliceKey.key, bobKey.key], format: 'binary' });
    expect(await rejection(verifySignedMessage(twice, [...keys, bob.key.toPublic()]))).to.equal('invalid signature: expected one signature, found 2');
  });

  it('accepts an armored signature too', async () => {
    const armored = pgp.armor(pgp.enums.armor.message, await sign());
    const r = await verifySignedMessage(Buffer.from(armored), [alice.key.toPublic()]);
    expect(r.signingFingerprint).to.equal(alice.fpr);
  });

  it('signs with a subkey named by its fingerprint, and accepts either fingerprint when verifying', async () => {
    const carol = await generate('carol', { subkeys: [{ sign: true }] });
    const subFpr = carol.key.getSubkeys()[0]!.getFingerprint().toUpperCase();
    const file = await keyFile('carol.asc', carol.armored);
    const bySub = await loadSigningKey({ fingerprint: subFpr, keyFile: file });
    expect(bySub.signingFingerprint).to.equal(subFpr);
    expect(bySub.primaryFingerprint).to.equal(carol.fpr);
    const sig = await sign(MANIFEST, REF, bySub);
    const keys = [carol.key.toPublic()];
    const base = { signature: sig, manifest: MANIFEST, dockerReference: REF, parseDockerReference: parse, keys };
    expect((await verifyDockerManifestSignature({ ...base, expectedFingerprints: [subFpr] })).fingerprint).to.equal(subFpr);
    expect((await verifyDockerManifestSignature({ ...base, expectedFingerprints: [carol.fpr] })).fingerprint).to.equal(carol.fpr);
  });

  it('loads keys: wrong fingerprint, protected keys with no, wrong and right passphrase, public-only files', async () => {
    const protectedKey = await pgp.encryptKey({ privateKey: alice.key, passphrase: 'open sesame' });
    const file = await keyFile('alice-protected.asc', protectedKey.armor());
    expect(await rejection(loadSigningKey({ fingerprint: bob.fpr, keyFile: file }))).to.equal(`${file} has no private key with fingerprint ${bob.fpr} (it holds ${alice.fpr})`);
    expect(await rejection(loadSigningKey({ fingerprint: alice.fpr, keyFile: file }))).to.contain('is protected by a passphrase: give it with --passphrase-file');
    expect(await rejection(loadSigningKey({ fingerprint: alice.fpr, keyFile: file, passphrase: 'wrong' }))).to.contain(`cannot unlock private key ${alice.fpr}`);
    const k = await loadSigningKey({ fingerprint: alice.fpr, keyFile: file, passphrase: 'open sesame' });
    expect(k.key.isDecrypted()).to.equal(true);
    const pub = await keyFile('alice.pub', alice.key.toPublic().armor());
    expect(await rejection(loadSigningKey({ fingerprint: alice.fpr, keyFile: pub }))).to.contain('holds no usable OpenPGP private key');
    // binary public keys, several files
    const bobBin = path.join(dir, 'bob.gpg');
    await writeFile(bobBin, bob.key.toPublic().write());
    const keys = await loadVerificationKeys({ fingerprints: [], publicKeyFiles: [pub, bobBin] });
    expect(keys.map((x) => x.getFingerprint().toUpperCase())).to.deep.equal([alice.fpr, bob.fpr]);
    expect(keys.every((x) => !x.isPrivate())).to.equal(true);
    expect(await rejection(loadVerificationKeys({ fingerprints: [], publicKeyFiles: [path.join(dir, 'missing.asc')] }))).to.contain('no such file');
  });

  it('signs the digest registries compute for a signed schema1 manifest', async () => {
    const payload = '{"schemaVersion":1,"name":"team/app","tag":"1.0"}';
    const header = Buffer.from(JSON.stringify({ formatLength: payload.length - 1, formatTail: Buffer.from('}').toString('base64url') })).toString('base64url');
    const signed = Buffer.from(`${payload.slice(0, -1)},"signatures":[{"protected":"${header}","signature":"x"}]}`);
    const sig = await sign(signed);
    const r = await verifyDockerManifestSignature({ signature: sig, manifest: signed, dockerReference: REF, parseDockerReference: parse, expectedFingerprints: [alice.fpr], keys: [alice.key.toPublic()] });
    expect(r.payload.dockerManifestDigest).to.equal(digestOf(payload));
  });
});
