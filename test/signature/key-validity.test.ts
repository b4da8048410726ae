/**
 * Signatures fail closed on the key's state now (issue: an expired key's old signatures were accepted): expired keys,
 * signatures dated after the key's expiry, revoked keys, revoked subkeys and keys without a self-signature are
 * refused by standalone-verify, with the GnuPG keyring and with --public-key, as skopeo 1.9.3 (gpgme) refuses them.
 * Keys are real gpg keys made with a faked clock in a temporary GNUPGHOME.
 */
import { expect } from 'chai';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodePayload } from '../../src/signature/payload.js';
import { manifestDigest } from '../../src/manifest/manifest-digest.js';
import { ferry } from '../harness/cli.js';
import { run } from '../harness/procs.js';
import { useCleanup } from '../harness/tmp.js';
import { makeGpgHome, type GpgHome } from './gpg-home.js';

const REF = 'registry.example.com/team/app:1';
const MANIFEST = '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}';

/** Splits binary OpenPGP data into packets (old and new formats, definite lengths): [tag, bytes]. */
function packets(data: Buffer): [number, Buffer][] {
  const out: [number, Buffer][] = [];
  let i = 0;
  while (i < data.length) {
    const start = i;
    const b = data[i++]!;
    let tag: number;
    let len: number;
    if (b & 0x40) {
      tag = b & 0x3f;
      const l0 = data[i++]!;
      if (l0 < 192) len = l0;
      else if (l0 < 224) len = ((l0 - 192) << 8) + data[i++]! + 192;
      else if (l0 === 255) (len = data.readUInt32BE(i)), (i += 4);
      else throw new Error('partial lengths not expected in exported keys');
    } else {
      tag = (b >> 2) & 0xf;
      const lt = b & 3;
      len = lt === 0 ? data[i]! : lt === 1 ? data.readUInt16BE(i) : data.readUInt32BE(i);
      i += lt === 0 ? 1 : lt === 1 ? 2 : 4;
    }
    i += len;
    out.push([tag, data.subarray(start, i)]);
  }
  return out;
}

describe('signature: key validity now (expired, revoked, no self-signature), as skopeo', function () {
  this.timeout(120_000);
  const cleanup = useCleanup('after');
  let home: GpgHome;
  let work: string;
  let manifest: string;
  let payload: string;

  const gpgOk = async (args: string[]) => {
    const r = await home.gpg(['--pinentry-mode', 'loopback', '--passphrase', '', ...args]);
    if (r.code !== 0) throw new Error(`gpg ${args.join(' ')}: ${r.stderr}`);
    return r;
  };
  const fingerprints = async (uid: string) => [...(await home.gpg(['--with-colons', '--list-keys', uid])).stdout.matchAll(/^fpr:+([0-9A-F]{40}):/gm)].map((m) => m[1]!);
  const key = async (uid: string, opts: { expire?: string; usage?: string } = {}) => {
    await gpgOk(['--faked-system-time', '20200101T000000!', '--quick-gen-key', uid, 'ed25519', opts.usage ?? 'sign', opts.expire ?? 'never']);
    return (await fingerprints(uid))[0]!;
  };
  const sign = async (signer: string, when: string, name: string) => {
    const out = join(work, name);
    await gpgOk(['--faked-system-time', `${when}!`, '-u', `${signer}!`, '--sign', '-o', out, payload]);
    return out;
  };

  /** ferry (keyring, then --public-key) and skopeo (keyring) on the same inputs: all must refuse. */
  async function refusedByAll(fpr: string, sig: string, skopeoFpr = fpr): Promise<string> {
    const s = await run('skopeo', ['standalone-verify', manifest, REF, skopeoFpr, sig], { env: { ...process.env, ...home.env } });
    expect(s.code, `skopeo accepted: ${s.stdout}`).to.equal(1);
    const withKeyring = await ferry(['standalone-verify', manifest, REF, fpr, sig], { env: home.env });
    expect(withKeyring.code, withKeyring.stdout).to.equal(1);
    const pub = await home.exportKey(fpr, 'public');
    const withFile = await ferry(['standalone-verify', '--public-key', pub, manifest, REF, fpr, sig], { env: home.env });
    expect(withFile.code, withFile.stdout).to.equal(1);
    expect(withFile.stderr).to.equal(withKeyring.stderr);
    return withKeyring.stderr;
  }

  before(async () => {
    home = await makeGpgHome(cleanup, 'validity-gpg');
    work = await cleanup.tempDir('validity');
    manifest = join(work, 'manifest.json');
    await writeFile(manifest, MANIFEST);
    payload = join(work, 'payload.json');
    await writeFile(payload, encodePayload({ dockerManifestDigest: manifestDigest(Buffer.from(MANIFEST)), dockerReference: REF }));
  });

  it('accepts a valid key (the control case)', async () => {
    const fpr = await key('Good <good@example.com>');
    const sig = await sign(fpr, '20200102T000000', 'good.sig');
    const s = await run('skopeo', ['standalone-verify', manifest, REF, fpr, sig], { env: { ...process.env, ...home.env } });
    expect(s.code, s.stderr).to.equal(0);
    const f = await ferry(['standalone-verify', manifest, REF, fpr, sig], { env: home.env });
    expect(f.code, f.stderr).to.equal(0);
  });

  it('refuses a key that has expired since the signature was made (inside its validity)', async () => {
    const fpr = await key('Expired <expired@example.com>', { expire: '2d' });
    const sig = await sign(fpr, '20200101T120000', 'expired.sig');
    expect(await refusedByAll(fpr, sig)).to.equal(`Error: signature made by key ${fpr}, which is not valid now: Primary key is expired\n`);
  });

  it('refuses a signature dated after the key expired', async () => {
    const fpr = await key('Late <late@example.com>');
    const sig = await sign(fpr, '20200110T000000', 'late.sig');
    await gpgOk(['--faked-system-time', '20200101T000100!', '--quick-set-expire', fpr, '2d']);
    expect(await refusedByAll(fpr, sig)).to.contain('Error: signature verification failed');
  });

  it('refuses a revoked key', async () => {
    const fpr = await key('Revoked <revoked@example.com>');
    const sig = await sign(fpr, '20200102T000000', 'revoked.sig');
    const rev = (await readFile(join(home.dir, 'openpgp-revocs.d', `${fpr}.rev`), 'utf8')).replace(/^:-----BEGIN/m, '-----BEGIN');
    await writeFile(join(work, 'revoke.asc'), rev);
    await gpgOk(['--import', join(work, 'revoke.asc')]);
    expect(await refusedByAll(fpr, sig)).to.contain('Primary key is revoked');
  });

  it('refuses a revoked signing subkey (named by the primary or the subkey fingerprint)', async () => {
    const primary = await key('Sub <sub@example.com>', { usage: 'cert' });
    await gpgOk(['--faked-system-time', '20200101T000000!', '--quick-add-key', primary, 'ed25519', 'sign', 'never']);
    const sub = (await fingerprints(primary))[1]!;
    const sig = await sign(sub, '20200102T000000', 'sub.sig');
    const r = await home.gpg(['--pinentry-mode', 'loopback', '--passphrase', '', '--command-fd', '0', '--edit-key', primary], 'key 1\nrevkey\ny\n0\n\ny\nsave\n');
    expect(r.code, r.stderr).to.equal(0);
    expect(await refusedByAll(primary, sig, sub)).to.contain('Subkey is revoked');
  });

  it('refuses a subkey that can no longer sign: its newest binding signature drops the signing capability', async () => {
    const primary = await key('Usage <usage@example.com>', { usage: 'cert' });
    await gpgOk(['--faked-system-time', '20200101T000000!', '--quick-add-key', primary, 'ed25519', 'sign', 'never']);
    const sub = (await fingerprints(primary))[1]!;
    const sig = await sign(sub, '20200102T000000', 'usage.sig');
    const before = await readFile(await home.exportKey(primary, 'public'));
    // gpg replaces the binding signature: S (sign) becomes A (authenticate), dated after the signature
    const r = await home.gpg(['--pinentry-mode', 'loopback', '--passphrase', '', '--expert', '--faked-system-time', '20200103T000000!', '--command-fd', '0', '--edit-key', primary], 'key 1\nchange-usage\nS\nA\nQ\nsave\n');
    expect(r.code, r.stderr).to.equal(0);
    const after = packets(await readFile(await home.exportKey(primary, 'public')));
    // a key file holding both binding signatures: the old one (sign) still verifies at the signature's date
    const both = join(work, 'usage-both.gpg');
    await writeFile(both, Buffer.concat([before, after.at(-1)![1]]));
    expect(after.at(-1)![0]).to.equal(2);
    const other = await makeGpgHome(cleanup, 'validity-usage');
    expect((await other.gpg(['--import', both])).code).to.equal(0);
    const s = await run('skopeo', ['standalone-verify', manifest, REF, sub, sig], { env: { ...process.env, ...other.env } });
    expect(s.code, `skopeo accepted: ${s.stdout}`).to.equal(1);
    const f = await ferry(['standalone-verify', '--public-key', both, manifest, REF, primary, sig]);
    expect(f.code, f.stdout).to.equal(1);
    expect(f.stderr).to.equal(`Error: signature made by key ${sub}, which is not valid now: Could not find valid signing key packet in key ${primary.slice(-16).toLowerCase()}\n`);
  });

  it('refuses a public key without its self-signature (--public-key)', async () => {
    const fpr = await key('Bare <bare@example.com>');
    const sig = await sign(fpr, '20200102T000000', 'bare.sig');
    const pub = await readFile(await home.exportKey(fpr, 'public'));
    const bare = join(work, 'bare.gpg');
    await writeFile(bare, Buffer.concat(packets(pub).filter(([tag]) => tag !== 2).map(([, b]) => b)));
    const f = await ferry(['standalone-verify', '--public-key', bare, manifest, REF, fpr, sig]);
    expect(f.code, f.stdout).to.equal(1);
    expect(f.stderr).to.match(/^Error: .*(self-signature|no usable OpenPGP public key)/);
  });
});
