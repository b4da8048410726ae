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
const MANIFEST = '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}';

describe('cli/commands/standalone-sign (interop with gpg and skopeo)', function () {
  this.timeout(30_000);
  const cleanup = useCleanup('after');
  let home: GpgHome;
  let dir: string;
  let manifest: string;
  let alice: string;
  let carol: string;
  const PASS = 'correct horse battery staple';

  before(async () => {
    home = await makeGpgHome(cleanup, 'sign-gpg');
    dir = await cleanup.tempDir('sign');
    manifest = path.join(dir, 'manifest.json');
    await writeFile(manifest, MANIFEST);
    alice = await home.generateKey('Alice <alice@example.com>');
    carol = await home.generateKey('Carol <carol@example.com>', PASS);
    await writeFile(path.join(dir, 'pass'), PASS + '\nsecond line is ignored\n');
  });

  const skopeoVerify = (sig: string, fpr: string, ref = REF) => run('skopeo', ['standalone-verify', manifest, ref, fpr, sig], { env: home.env });
  const payloadOf = async (sig: string) => (await home.gpg(['--decrypt', sig])).stdout;

  it('signs with a key of the GnuPG keyring; skopeo standalone-verify accepts the signature', async () => {
    const sig = path.join(dir, 'alice.sig');
    const r = await ferry(['standalone-sign', manifest, REF, alice, '--output', sig], { env: home.env });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.equal('');
    const s = await skopeoVerify(sig, alice);
    expect(s.code, s.stderr).to.equal(0);
    expect(s.stdout).to.equal(`Signature verified, digest ${manifestDigest(Buffer.from(MANIFEST))}\n`);
    // skopeo itself checks what is signed
    expect((await skopeoVerify(sig, alice, 'registry.example.com/team/app:2.0')).code).to.not.equal(0);
    // binary, not armored; the payload as containers/image writes it
    expect((await readFile(sig))[0]! & 0x80).to.equal(0x80);
    const payload = await payloadOf(sig);
    expect(payload).to.match(
      new RegExp(
        `^\\{"critical":\\{"identity":\\{"docker-reference":"${REF}"\\},"image":\\{"docker-manifest-digest":"${manifestDigest(Buffer.from(MANIFEST))}"\\},"type":"atomic container signature"\\},"optional":\\{"creator":"ferry \\d+\\.\\d+\\.\\d+[^"]*","timestamp":\\d+\\}\\}$`,
      ),
    );
  });

  it('writes the same critical section as skopeo standalone-sign', async () => {
    const ours = path.join(dir, 'ours.sig');
    const theirs = path.join(dir, 'theirs.sig');
    expect((await ferry(['standalone-sign', manifest, REF, alice, '-o', ours], { env: home.env })).code).to.equal(0);
    const s = await run('skopeo', ['standalone-sign', manifest, REF, alice, '-o', theirs], { env: home.env });
    expect(s.code, s.stderr).to.equal(0);
    const critical = (p: string) => p.slice(0, p.indexOf(',"optional":'));
    expect(critical(await payloadOf(ours))).to.equal(critical(await payloadOf(theirs)));
  });

  it('signs with a protected keyring key given --passphrase-file (first line), and refuses without it', async () => {
    const sig = path.join(dir, 'carol.sig');
    const without = await ferry(['standalone-sign', manifest, REF, carol, '-o', sig], { env: home.env });
    expectOneLineError(without, /passphrase/);
    const r = await ferry(['standalone-sign', manifest, REF, carol, '-o', sig, '--passphrase-file', path.join(dir, 'pass')], { env: home.env });
    expect(r.code, r.stderr).to.equal(0);
    const s = await skopeoVerify(sig, carol);
    expect(s.code, s.stderr).to.equal(0);
  });

  it('signs with --key FILE without any keyring (armored, or binary and protected)', async () => {
    const empty = { GNUPGHOME: await cleanup.tempDir('sign-nokeyring') };
    const armored = await home.exportKey(alice, 'secret', { armor: true });
    const sig1 = path.join(dir, 'key-file.sig');
    const r1 = await ferry(['standalone-sign', '--key', armored, manifest, REF, alice.toLowerCase(), '-o', sig1], { env: empty });
    expect(r1.code, r1.stderr).to.equal(0);
    expect((await skopeoVerify(sig1, alice)).code).to.equal(0);

    const binary = await home.exportKey(carol, 'secret', { passphrase: PASS });
    const sig2 = path.join(dir, 'key-file-protected.sig');
    const wrong = path.join(dir, 'wrong-pass');
    await writeFile(wrong, 'not it\n');
    expectOneLineError(await ferry(['standalone-sign', '--key', binary, '--passphrase-file', wrong, manifest, REF, carol, '-o', sig2], { env: empty }), /cannot unlock private key .*wrong passphrase/);
    const r2 = await ferry(['standalone-sign', '--key', binary, '--passphrase-file', path.join(dir, 'pass'), manifest, REF, carol, '-o', sig2], { env: empty });
    expect(r2.code, r2.stderr).to.equal(0);
    expect((await skopeoVerify(sig2, carol)).code).to.equal(0);
  });

  it('refuses a fingerprint that is not the key, a key missing from the keyring, bad arguments', async () => {
    const sig = path.join(dir, 'refused.sig');
    const aliceFile = await home.exportKey(alice, 'secret');
    expectOneLineError(await ferry(['standalone-sign', '--key', aliceFile, manifest, REF, carol, '-o', sig], { env: home.env }), new RegExp(`has no private key with fingerprint ${carol} \\(it holds ${alice}\\)`));
    const unknown = 'ABCDEF0123456789ABCDEF0123456789ABCDEF01';
    expectOneLineError(await ferry(['standalone-sign', manifest, REF, unknown, '-o', sig], { env: home.env }), new RegExp(`no secret key "${unknown}" in the GnuPG keyring`));
    expectOneLineError(await ferry(['standalone-sign', manifest, REF, 'nobody@example.com', '-o', sig], { env: home.env }), /no secret key "nobody@example.com" in the GnuPG keyring/);
    // a name matching two keys is refused, as gpgme refuses it
    expectOneLineError(await ferry(['standalone-sign', manifest, REF, 'example.com', '-o', sig], { env: home.env }), /"example.com" is ambiguous: it names 2 secret keys/);
    // a key file is searched by fingerprint only
    expectOneLineError(await ferry(['standalone-sign', '--key', aliceFile, manifest, REF, 'alice@example.com', '-o', sig], { env: home.env }), /invalid key fingerprint "alice@example.com"/);
    const noOutput = await ferry(['standalone-sign', manifest, REF, alice], { env: home.env });
    expect(noOutput.code).to.equal(1);
    expect(noOutput.stderr).to.contain('Missing required argument: output');
    const missing = await ferry(['standalone-sign', path.join(dir, 'nope.json'), REF, alice, '-o', sig], { env: home.env });
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.contain('nope.json: no such file');
  });

  it('names keyring keys however gpg names them: long and short key ID (0x too), e-mail address, a subkey by its key ID', async () => {
    const longId = alice.slice(-16);
    for (const name of [longId, `0x${alice.slice(-8)}`, 'alice@example.com', '<alice@example.com>', alice.toLowerCase()]) {
      const sig = path.join(dir, `by-name-${name.replace(/[^a-z0-9]/gi, '_')}.sig`);
      const r = await ferry(['standalone-sign', manifest, REF, name, '-o', sig], { env: home.env });
      expect(r.code, `${name}: ${r.stderr}`).to.equal(0);
      expect((await skopeoVerify(sig, alice)).code, name).to.equal(0);
    }
    // skopeo takes the same names
    const theirs = path.join(dir, 'skopeo-by-mail.sig');
    expect((await run('skopeo', ['standalone-sign', manifest, REF, 'alice@example.com', '-o', theirs], { env: home.env })).code).to.equal(0);
    // a signing subkey named by its key ID signs with that subkey
    const add = await home.gpg(['--pinentry-mode', 'loopback', '--passphrase', '', '--quick-add-key', alice, 'ed25519', 'sign', 'never']);
    expect(add.code, add.stderr).to.equal(0);
    const list = await home.gpg(['--with-colons', '--list-secret-keys', alice]);
    const subFpr = [...list.stdout.matchAll(/^fpr:+([0-9A-F]{40}):/gm)].map((m) => m[1]!).find((f) => f !== alice)!;
    const subSig = path.join(dir, 'by-subkey.sig');
    const r = await ferry(['standalone-sign', manifest, REF, subFpr.slice(-16), '-o', subSig], { env: home.env });
    expect(r.code, r.stderr).to.equal(0);
    const v = await ferry(['standalone-verify', manifest, REF, subFpr, subSig], { env: home.env });
    expect(v.code, v.stderr).to.equal(0);
  });

  it('a wrong passphrase for a keyring key says "Bad passphrase"', async () => {
    const wrong = path.join(dir, 'wrong-keyring-pass');
    await writeFile(wrong, 'not it\n');
    const r = await ferry(['standalone-sign', manifest, REF, 'carol@example.com', '--passphrase-file', wrong, '-o', path.join(dir, 'bad.sig')], { env: home.env });
    expectOneLineError(r, /Bad passphrase/);
    expect(r.stderr).to.not.contain('nothing exported');
  });
});
