/**
 * The trust policy on copy and sync, end to end: skopeo 1.9.3 signs an image into `dir:` with a gpg key, and ferry
 * copies it from there under a signedBy policy — accepting it, and refusing unsigned, tampered, wrong-key,
 * wrong-identity, expired-key and other-digest images with exit status 1 and nothing at the destination. skopeo
 * runs the same copies under the same policy and must agree.
 */
import { expect } from 'chai';
import { cp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodePayload } from '../../src/signature/payload.js';
import { manifestDigest } from '../../src/manifest/manifest-digest.js';
import { ferry } from '../harness/cli.js';
import { buildImage } from '../harness/images.js';
import { run } from '../harness/procs.js';
import { useCleanup } from '../harness/tmp.js';
import { useRegistry } from '../harness/registry.js';
import { makeGpgHome, type GpgHome } from '../signature/gpg-home.js';

const IDENTITY = 'registry.example.com/signed/app:v1';

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/** Generates a key dated 2020 (so that signatures made now are never older than their key), with an expiry if given. */
async function keyIn(home: GpgHome, uid: string, expire = 'never', usage = 'sign'): Promise<string> {
  const r = await home.gpg(['--pinentry-mode', 'loopback', '--passphrase', '', '--faked-system-time', '20200101T000000!', '--quick-gen-key', uid, 'ed25519', usage, expire]);
  if (r.code !== 0) throw new Error(r.stderr);
  const list = await home.gpg(['--with-colons', '--list-keys', uid]);
  return /^fpr:+([0-9A-F]{40}):/m.exec(list.stdout)![1]!;
}

describe('copy: trust policy (skopeo-signed dir: images, signedBy)', function () {
  this.timeout(120_000);
  const cleanup = useCleanup('after');
  const registry = useRegistry('http');
  let work: string;
  let home: GpgHome;
  let signed: string;
  let otherSigned: string;
  let keyA: string;
  let keyB: string;
  let keyExpired: string;
  let fprA: string;

  const policyFile = async (name: string, keyPath: string, signedIdentity: unknown = { type: 'exactReference', dockerReference: IDENTITY }) => {
    const file = join(work, `${name}.json`);
    await writeFile(
      file,
      JSON.stringify({ default: [{ type: 'reject' }], transports: { dir: { '': [{ type: 'signedBy', keyType: 'GPGKeys', keyPath, signedIdentity }] } } }),
    );
    return file;
  };

  /** A copy of the signed image, changed by `change`. */
  const variant = async (name: string, change: (dir: string) => Promise<void>) => {
    const dir = join(work, name);
    await cp(signed, dir, { recursive: true });
    await change(dir);
    return dir;
  };

  before(async () => {
    work = await cleanup.tempDir('policy-copy');
    home = await makeGpgHome(cleanup, 'policy-gpg');
    fprA = await keyIn(home, 'A <a@example.com>');
    const fprB = await keyIn(home, 'B <b@example.com>');
    const fprE = await keyIn(home, 'Expired <e@example.com>', '2d');
    keyA = await home.exportKey(fprA, 'public');
    keyB = await home.exportKey(fprB, 'public');
    keyExpired = await home.exportKey(fprE, 'public');
    const img = await buildImage(join(work, 'layout'), { seed: 91, layers: 1, layerSize: 2048, tag: 'v1' });
    const other = await buildImage(join(work, 'layout2'), { seed: 92, layers: 1, layerSize: 2048, tag: 'v1' });
    signed = join(work, 'signed');
    otherSigned = join(work, 'other-signed');
    const env = { ...process.env, ...home.env };
    for (const [src, dest] of [
      [img.layoutDir, signed],
      [other.layoutDir, otherSigned],
    ] as const) {
      const r = await run('skopeo', ['--insecure-policy', 'copy', '--quiet', '--sign-by', fprA, '--sign-identity', IDENTITY, `oci:${src}:v1`, `dir:${dest}`], { env, timeoutMs: 60_000 });
      expect(r.code, r.stderr).to.equal(0);
    }
    expect(await exists(join(signed, 'signature-1'))).to.equal(true);
    // a signature by the expired key, made while it was valid (gpg with a faked clock: gpgme would refuse to sign now)
    const payload = join(work, 'payload.json');
    await writeFile(payload, encodePayload({ dockerManifestDigest: manifestDigest(await readFile(join(signed, 'manifest.json'))), dockerReference: IDENTITY }));
    const r = await home.gpg(['--pinentry-mode', 'loopback', '--passphrase', '', '--faked-system-time', '20200101T120000!', '-u', fprE, '--sign', '-o', join(work, 'expired.sig'), payload]);
    expect(r.code, r.stderr).to.equal(0);
  });

  /** Runs ferry and skopeo on the same copy; both must succeed, or both fail (ferry with exit 1 and nothing written). */
  async function both(policy: string, src: string, ok: boolean): Promise<string> {
    const n = Math.random().toString(36).slice(2);
    const fdest = join(work, `ferry-dest-${n}`);
    const sdest = join(work, `skopeo-dest-${n}`);
    const f = await ferry(['--policy', policy, 'copy', '--quiet', `dir:${src}`, `dir:${fdest}`]);
    const s = await run('skopeo', ['--policy', policy, 'copy', '--quiet', `dir:${src}`, `dir:${sdest}`], { timeoutMs: 60_000 });
    expect(s.code === 0, `skopeo: ${s.stderr}`).to.equal(ok);
    if (ok) {
      expect(f.code, f.stderr).to.equal(0);
      expect(await readFile(join(fdest, 'signature-1'))).to.deep.equal(await readFile(join(src, 'signature-1')));
    } else {
      expect(f.code, f.stderr).to.equal(1);
      expect(await exists(fdest), 'nothing at the destination').to.equal(false);
      expect(f.stderr).to.match(/^Error: Source image rejected: dir:/);
    }
    return f.stderr;
  }

  it('accepts the image skopeo signed with the policy key', async () => {
    await both(await policyFile('a', keyA), signed, true);
  });

  it('reads every key of a key file: armored blocks one after the other, with text around them (as gpg imports them)', async () => {
    // `cat b.asc a.asc > trusted.asc`: gpg imports both blocks (openpgp.js alone reads the first)
    const armoredA = await home.exportKey(fprA, 'public', { armor: true });
    const armoredB = await home.exportKey(/^fpr:+([0-9A-F]{40}):/m.exec((await home.gpg(['--with-colons', '--list-keys', 'b@example.com'])).stdout)![1]!, 'public', { armor: true });
    const two = join(work, 'two-blocks.asc');
    await writeFile(two, Buffer.concat([Buffer.from('Trusted keys of the team\n\n'), await readFile(armoredB), Buffer.from('\n'), await readFile(armoredA)]));
    await both(await policyFile('two-blocks', two), signed, true);
    // only B's block: refused, as before
    const onlyB = join(work, 'only-b.asc');
    await writeFile(onlyB, await readFile(armoredB));
    await both(await policyFile('only-b', onlyB), signed, false);
  });

  it('refuses an unsigned image', async () => {
    const unsigned = await variant('unsigned', (d) => rm(join(d, 'signature-1')));
    const err = await both(await policyFile('a', keyA), unsigned, false);
    expect(err).to.contain(`signedBy (GPGKeys, keyPath "${keyA}") (policy transports.dir[""]): A signature was required, but no signature exists`);
  });

  it('refuses a tampered manifest', async () => {
    const tampered = await variant('tampered', async (d) => writeFile(join(d, 'manifest.json'), (await readFile(join(d, 'manifest.json'), 'utf8')) + '\n'));
    expect(await both(await policyFile('a', keyA), tampered, false)).to.match(/Signature for digest sha256:[0-9a-f]{64} does not match\n$/);
  });

  it('refuses a signature by another key', async () => {
    expect(await both(await policyFile('b', keyB), signed, false)).to.contain(`signature made by key ID ${fprA.slice(24)}, which is not among the public keys`);
  });

  it('refuses a signature for another identity', async () => {
    const err = await both(await policyFile('other-id', keyA, { type: 'exactReference', dockerReference: 'registry.example.com/signed/other:v1' }), signed, false);
    expect(err).to.contain(`Signature for identity "${IDENTITY}" is not accepted`);
  });

  it('refuses a signature by a key that has expired since (made while it was valid)', async () => {
    const expired = await variant('expired', (d) => cp(join(work, 'expired.sig'), join(d, 'signature-1')));
    expect(await both(await policyFile('expired', keyExpired), expired, false)).to.contain('which is not valid now: Primary key is expired');
  });

  it('refuses a signature of another image (another digest)', async () => {
    const swapped = await variant('swapped', (d) => cp(join(otherSigned, 'signature-1'), join(d, 'signature-1')));
    expect(await both(await policyFile('a', keyA), swapped, false)).to.match(/Signature for digest sha256:[0-9a-f]{64} does not match\n$/);
  });

  it('sync refuses too, writing nothing; --insecure-policy accepts anything', async () => {
    const unsigned = await variant('sync-unsigned', (d) => rm(join(d, 'signature-1')));
    const r = await ferry(['--policy', await policyFile('a', keyA), 'sync', '--quiet', '--src', 'dir', '--dest', 'docker', '--dest-tls-verify=false', unsigned, `${registry().host}/synced`]);
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stderr).to.contain('A signature was required, but no signature exists');
    const tags = () => ferry(['list-tags', '--tls-verify=false', `docker://${registry().host}/synced/sync-unsigned`]);
    expect((await tags()).code).to.equal(2);
    const again = await ferry(['--insecure-policy', 'sync', '--quiet', '--src', 'dir', '--dest', 'docker', '--dest-tls-verify=false', unsigned, `${registry().host}/synced`]);
    expect(again.code, again.stderr).to.equal(0);
    expect((await tags()).code).to.equal(0);
    const ok = await ferry(['--insecure-policy', 'copy', '--quiet', `dir:${unsigned}`, `dir:${join(work, 'insecure-dest')}`]);
    expect(ok.code, ok.stderr).to.equal(0);
  });

  it('a policy file that is missing or invalid stops the copy before anything else', async () => {
    const dest = join(work, 'never');
    let r = await ferry(['--policy', join(work, 'missing.json'), 'copy', `dir:${signed}`, `dir:${dest}`]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.equal(`Error: Error loading trust policy: reading policy file ${join(work, 'missing.json')}: no such file\n`);
    const bad = join(work, 'bad.json');
    await writeFile(bad, JSON.stringify({ default: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: keyA, keyFile: 'x' }] }));
    r = await ferry(['--policy', bad, 'copy', `dir:${signed}`, `dir:${dest}`]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.equal(`Error: Error loading trust policy: invalid policy in "${bad}": $.default[0].keyFile: unknown field "keyFile"\n`);
    expect(await exists(dest)).to.equal(false);
  });

  it('untrusted-signature-dump-without-verification prints what skopeo prints', async () => {
    const sig = join(signed, 'signature-1');
    const s = await run('skopeo', ['untrusted-signature-dump-without-verification', sig]);
    expect(s.code, s.stderr).to.equal(0);
    const f = await ferry(['untrusted-signature-dump-without-verification', sig]);
    expect(f.code, f.stderr).to.equal(0);
    expect(f.stdout).to.equal(s.stdout);
    expect(f.stdout).to.contain(`"UntrustedShortKeyIdentifier": "${fprA.slice(24)}"`);
  });
});
