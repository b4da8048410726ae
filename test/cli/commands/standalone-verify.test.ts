import { expect } from 'chai';
import path from 'node:path';
import { writeFile, readFile } from 'node:fs/promises';
import { useCleanup } from '../../harness/tmp.js';
import { run } from '../../harness/procs.js';
import { ferry } from '../../harness/cli.js';
import { makeGpgHome, type GpgHome } from '../../signature/gpg-home.js';
import { manifestDigest } from '../../../src/manifest/manifest-digest.js';
import { expectOneLineError } from '../../harness/expect.js';

const REF = 'registry.example.com/team/app:1.0';
const MANIFEST = '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}';
const DIGEST = manifestDigest(Buffer.from(MANIFEST));

describe('cli/commands/standalone-verify (interop with gpg and skopeo)', function () {
  this.timeout(30_000);
  const cleanup = useCleanup('after');
  let home: GpgHome;
  let dir: string;
  let manifest: string;
  let alice: string;
  let bob: string;
  /** Signed by skopeo standalone-sign with alice's key (a compressed OpenPGP message, as gpg writes them). */
  let skopeoSig: string;
  /** Signed by ferry with alice's key. */
  let ferrySig: string;
  let alicePub: string;
  let bobPub: string;

  before(async () => {
    home = await makeGpgHome(cleanup, 'verify-gpg');
    dir = await cleanup.tempDir('verify');
    manifest = path.join(dir, 'manifest.json');
    await writeFile(manifest, MANIFEST);
    alice = await home.generateKey('Alice <alice@example.com>');
    bob = await home.generateKey('Bob <bob@example.com>');
    skopeoSig = path.join(dir, 'skopeo.sig');
    const s = await run('skopeo', ['standalone-sign', manifest, REF, alice, '-o', skopeoSig], { env: home.env });
    expect(s.code, s.stderr).to.equal(0);
    ferrySig = path.join(dir, 'ferry.sig');
    const f = await ferry(['standalone-sign', manifest, REF, alice, '-o', ferrySig], { env: home.env });
    expect(f.code, f.stderr).to.equal(0);
    alicePub = await home.exportKey(alice, 'public', { armor: true });
    bobPub = await home.exportKey(bob, 'public');
  });

  const verify = (args: string[], env: Record<string, string> = home.env) => ferry(['standalone-verify', ...args], { env });

  it("verifies skopeo's signature with the GnuPG keyring, printing the fingerprint and digest", async () => {
    const r = await verify([manifest, REF, alice, skopeoSig]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.equal(`Signature verified using fingerprint ${alice}, digest ${DIGEST}\n`);
    // a list of fingerprints, in any case
    const list = await verify([manifest, REF, `${bob},${alice.toLowerCase()}`, ferrySig]);
    expect(list.code, list.stderr).to.equal(0);
    expect(list.stdout).to.equal(`Signature verified using fingerprint ${alice}, digest ${DIGEST}\n`);
  });

  it('verifies with --public-key-file files (or --public-key, its other name) and no keyring, also for "any"', async () => {
    const empty = { GNUPGHOME: await cleanup.tempDir('verify-nokeyring') };
    const r = await verify(['--public-key-file', bobPub, '--public-key', alicePub, manifest, REF, 'any', skopeoSig], empty);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.equal(`Signature verified using fingerprint ${alice}, digest ${DIGEST}\n`);
    expectOneLineError(await verify(['--public-key', alicePub, manifest, REF, bob, skopeoSig], empty), new RegExp(`signature by key ${alice} does not match the expected fingerprints ${bob}`));
    expectOneLineError(await verify(['--public-key', bobPub, manifest, REF, 'any', skopeoSig], empty), /signature made by key ID [0-9A-F]{16}, which is not among the public keys/);
    expectOneLineError(await verify([manifest, REF, 'any', skopeoSig]), /"any" needs --public-key/);
  });

  it('refuses another manifest, another reference, another key', async () => {
    const other = path.join(dir, 'other.json');
    await writeFile(other, MANIFEST.replace('"size":2', '"size":3'));
    expectOneLineError(await verify([other, REF, alice, skopeoSig]), new RegExp(`signature is for manifest digest ${DIGEST}, which does not match the manifest \\(sha256:`));
    expectOneLineError(await verify([manifest, 'registry.example.com/team/app:2.0', alice, skopeoSig]), /signature is for docker reference "registry.example.com\/team\/app:1.0", not "registry.example.com\/team\/app:2.0"/);
    expectOneLineError(await verify([manifest, 'REGISTRY.example.com/team/app:1.0', alice, ferrySig]), /signature is for docker reference/);
    expectOneLineError(await verify([manifest, REF, bob, skopeoSig]), /signature made by key ID [0-9A-F]{16}, which is not among the public keys/);
    expectOneLineError(await verify([manifest, REF, 'ABCDEF0123456789ABCDEF0123456789ABCDEF01', skopeoSig]), /no public key with fingerprint ABCDEF0123456789ABCDEF0123456789ABCDEF01 in the GnuPG keyring/);
  });

  it('compares the names normalized, as skopeo does: busybox:1 is docker.io/library/busybox:1; invalid names never match', async () => {
    const hub = path.join(dir, 'hub.sig');
    const s = await run('skopeo', ['standalone-sign', manifest, 'docker.io/library/busybox:1', alice, '-o', hub], { env: home.env });
    expect(s.code, s.stderr).to.equal(0);
    for (const [name, ok] of [
      ['busybox:1', true],
      ['library/busybox:1', true],
      ['docker.io/library/busybox:1', true],
      ['busybox', false],
      ['busybox:2', false],
      ['UPPER/busybox:1', false],
    ] as const) {
      const k = await run('skopeo', ['standalone-verify', manifest, name, alice, hub], { env: home.env });
      expect(k.code === 0, `skopeo on ${name}: ${k.stderr}`).to.equal(ok);
      const f = await verify([manifest, name, alice, hub]);
      expect(f.code === 0, `ferry on ${name}: ${f.stderr}`).to.equal(ok);
      if (ok) expect(f.stdout).to.equal(`Signature verified using fingerprint ${alice}, digest ${DIGEST}\n`);
    }
    expectOneLineError(await verify([manifest, 'UPPER/busybox:1', alice, hub]), /^Error: invalid docker reference "UPPER\/busybox:1": /);
  });

  it('refuses tampered signatures and garbage; skopeo refuses the same tampered file', async () => {
    const bytes = await readFile(ferrySig);
    const at = bytes.indexOf(Buffer.from(DIGEST.slice(7, 20)));
    expect(at).to.be.greaterThan(0);
    const tampered = Buffer.from(bytes);
    tampered[at] = tampered[at] === 0x61 ? 0x62 : 0x61;
    const file = path.join(dir, 'tampered.sig');
    await writeFile(file, tampered);
    expectOneLineError(await verify([manifest, REF, alice, file]), /signature verification failed/);
    expect((await run('skopeo', ['standalone-verify', manifest, REF, alice, file], { env: home.env })).code).to.not.equal(0);

    // skopeo's signature is compressed: a flipped byte breaks it in some other way, still refused in one line
    const s = await readFile(skopeoSig);
    const broken = Buffer.from(s);
    broken[Math.floor(s.length / 2)]! ^= 0x55;
    await writeFile(file, broken);
    expectOneLineError(await verify([manifest, REF, alice, file]), /signature/);

    expectOneLineError(await verify([manifest, REF, alice, manifest]), /invalid signature: not an OpenPGP signed message/);
    const empty = path.join(dir, 'empty.sig');
    await writeFile(empty, '');
    expectOneLineError(await verify([manifest, REF, alice, empty]), /invalid signature/);
  });

  it('refuses a signed payload with unknown critical fields', async () => {
    // a message gpg signed with alice's key whose payload has an extra critical field
    const bad = `{"critical":{"identity":{"docker-reference":"${REF}"},"image":{"docker-manifest-digest":"${DIGEST}"},"type":"atomic container signature","extra":1},"optional":{}}`;
    const input = path.join(dir, 'bad-payload.json');
    await writeFile(input, bad);
    const out = path.join(dir, 'bad-payload.sig');
    const g = await home.gpg(['--local-user', alice, '--output', out, '--sign', input]);
    expect(g.code, g.stderr).to.equal(0);
    expectOneLineError(await verify([manifest, REF, alice, out]), /invalid signature payload: unknown field "extra" in critical/);
  });

  it('exits 2 when a file is missing', async () => {
    const r = await verify([manifest, REF, alice, path.join(dir, 'nope.sig')]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/^Error: reading signature .*nope\.sig: no such file\n$/);
  });
});
