/**
 * Signatures through registries and signing on copy and sync, against the real registry, gpg, skopeo 1.9.3 and
 * podman: the registries.d lookaside (file:// and http://), sigstore attachments, dir: and containers-storage:.
 */
import { expect } from 'chai';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { FERRY_BIN, ferry } from '../../harness/cli.js';
import { buildImage, pushImage, type BuiltImage } from '../../harness/images.js';
import { useRegistry } from '../../harness/registry.js';
import { run } from '../../harness/procs.js';
import { useCleanup } from '../../harness/tmp.js';
import { makeGpgHome, type GpgHome } from '../../signature/gpg-home.js';
import { hasCommand, isRoot, podmanArgs, removeStore, tempStore } from '../../store/helpers.js';
import { signatureFromBlob } from '../../../src/signature/blob.js';
import { expectOneLineError } from '../../harness/expect.js';

const hexOf = (digest: string) => digest.slice('sha256:'.length);

describe('signing on copy and sync; signatures through registries (lookaside, sigstore attachments)', function () {
  this.timeout(120_000);
  const cleanup = useCleanup('after');
  const registry = useRegistry('http');
  let home: GpgHome;
  let alice: string;
  let carol: string;
  let img: BuiltImage;
  let dir: string;
  let look: string;
  let regd: string;
  let alicePub: string;
  let policy: string;
  const PASS = 'carol passphrase';
  let env: Record<string, string>;

  const host = () => registry().host;
  /** ferry with the test registries.d and GnuPG home. */
  const f = (args: string[], opts: { regd?: string } = {}) => ferry(['--registries.d', opts.regd ?? regd, ...args, ...(args[0] === 'copy' || args[0] === 'sync' ? ['--quiet'] : [])], { env });
  const skopeo = (args: string[]) => run('skopeo', ['--registries.d', regd, ...args], { env, timeoutMs: 60_000 });
  const lookasidePath = (repo: string, digest: string, n = 1) => path.join(look, `${repo}@sha256=${hexOf(digest)}`, `signature-${n}`);

  before(async () => {
    home = await makeGpgHome(cleanup, 'copy-sign-gpg');
    env = { ...home.env };
    dir = await cleanup.tempDir('copy-sign');
    look = path.join(dir, 'lookaside');
    regd = path.join(dir, 'registries.d');
    alice = await home.generateKey('Alice <alice@example.com>');
    carol = await home.generateKey('Carol <carol@example.com>', PASS);
    alicePub = await home.exportKey(alice, 'public');
    await writeFile(path.join(dir, 'pass'), `${PASS}\n`);
    img = await buildImage(path.join(dir, 'img'), { seed: 91, tag: 'v1', layers: 2, layerSize: 4000 });
    await pushImage(img, registry(), 'plain/app:v1');
    await mkdir(regd);
    await writeFile(
      path.join(regd, 'test.yaml'),
      `docker:\n  ${host()}:\n    lookaside: file://${look}\n  ${host()}/sig:\n    use-sigstore-attachments: true\n`,
    );
    policy = path.join(dir, 'policy.json');
    const signedBy = (identity?: object) => [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: alicePub, ...(identity ? { signedIdentity: identity } : {}) }];
    await writeFile(
      policy,
      JSON.stringify({
        default: [{ type: 'reject' }],
        transports: {
          docker: { [`${host()}/signed`]: signedBy(), [`${host()}/synced`]: signedBy(), [`${host()}/plain`]: [{ type: 'insecureAcceptAnything' }] },
          dir: { '': signedBy({ type: 'exactReference', dockerReference: `${host()}/signed/app:v1` }) },
          oci: { '': [{ type: 'insecureAcceptAnything' }] },
        },
      }),
    );
  });

  const skopeoAccepts = (src: string) => skopeo(['--policy', policy, 'copy', '--src-tls-verify=false', src, `dir:${path.join(dir, `skopeo-${Math.random().toString(16).slice(2)}`)}`]);

  it('copy --sign-by (an e-mail address) into a registry: the signature goes to the file:// lookaside and skopeo accepts it', async () => {
    const r = await f(['copy', '--dest-tls-verify=false', '--sign-by', 'alice@example.com', `oci:${img.layoutDir}:v1`, `docker://${host()}/signed/app:v1`]);
    expect(r.code, r.stderr).to.equal(0);
    const sig = lookasidePath('signed/app', img.digest);
    expect(existsSync(sig)).to.equal(true);
    expect(existsSync(lookasidePath('signed/app', img.digest, 2))).to.equal(false);
    const s = await skopeoAccepts(`docker://${host()}/signed/app:v1`);
    expect(s.code, s.stderr).to.equal(0);
    // the same policy refuses an unsigned image
    await pushImage(img, registry(), 'signed/unsigned:v1');
    const u = await skopeoAccepts(`docker://${host()}/signed/unsigned:v1`);
    expect(u.code).to.not.equal(0);
    expect(u.stderr).to.contain('signature');
  });

  it('copy --sign-by to dir: needs --sign-identity; the signature-1 it writes passes skopeo', async () => {
    const out = path.join(dir, 'to-dir');
    const without = await f(['copy', '--sign-by', alice, `oci:${img.layoutDir}:v1`, `dir:${out}`]);
    expectOneLineError(without, /--sign-identity/);
    expectOneLineError(await f(['copy', '--sign-by', alice, '--sign-identity', 'busybox:1', `oci:${img.layoutDir}:v1`, `dir:${out}`]), /must be a full name, e\.g\. docker\.io\/library\/busybox:1/);
    expectOneLineError(await f(['copy', '--sign-by', alice, '--sign-identity', `${host()}/signed/app`, `oci:${img.layoutDir}:v1`, `dir:${out}`]), /with a tag or digest/);
    // a destination that cannot store signatures is refused before anything is copied
    const oci = path.join(dir, 'sign-to-oci');
    expectOneLineError(await f(['copy', '--sign-by', alice, '--sign-identity', `${host()}/signed/app:v1`, `oci:${img.layoutDir}:v1`, `oci:${oci}:x`]), /cannot sign the image: .* does not support signatures/);
    expect(existsSync(path.join(oci, 'index.json'))).to.equal(false);
    const r = await f(['copy', '--sign-by', alice, '--sign-identity', `${host()}/signed/app:v1`, `oci:${img.layoutDir}:v1`, `dir:${out}`]);
    expect(r.code, r.stderr).to.equal(0);
    expect(existsSync(path.join(out, 'signature-1'))).to.equal(true);
    const s = await skopeoAccepts(`dir:${out}`);
    expect(s.code, s.stderr).to.equal(0);
  });

  it('multi-platform copies sign what skopeo signs: with --all each instance and the list, else the chosen image', async () => {
    const multi = await buildImage(path.join(dir, 'multi'), {
      seed: 94,
      tag: 'm',
      layers: 1,
      layerSize: 1000,
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64' },
      ],
    });
    const id = ['--sign-by', alice, '--sign-identity', `${host()}/signed/multi:m`];
    const all = path.join(dir, 'multi-all');
    const r = await f(['copy', '--all', ...id, `oci:${multi.layoutDir}:m`, `dir:${all}`]);
    expect(r.code, r.stderr).to.equal(0);
    const names = (await import('node:fs')).readdirSync(all).filter((n) => n.includes('signature')).sort();
    const instances = multi.manifests.map((m) => `${hexOf(m.digest)}.signature-1`).sort();
    expect(names).to.deep.equal([...instances, 'signature-1'].sort());
    // what skopeo signs with the same command line
    const bySkopeo = path.join(dir, 'multi-all-skopeo');
    const k = await run('skopeo', ['copy', '--quiet', '--all', ...id, `oci:${multi.layoutDir}:m`, `dir:${bySkopeo}`], { env });
    expect(k.code, k.stderr).to.equal(0);
    expect((await import('node:fs')).readdirSync(bySkopeo).filter((n) => n.includes('signature')).sort()).to.deep.equal(names);
    const one = path.join(dir, 'multi-one');
    const o = await f(['copy', '--override-arch', 'arm64', ...id, `oci:${multi.layoutDir}:m`, `dir:${one}`]);
    expect(o.code, o.stderr).to.equal(0);
    expect((await import('node:fs')).readdirSync(one).filter((n) => n.includes('signature'))).to.deep.equal(['signature-1']);
    const v = await run('skopeo', ['standalone-verify', path.join(one, 'manifest.json'), `${host()}/signed/multi:m`, alice, path.join(one, 'signature-1')], { env });
    expect(v.code, v.stderr).to.equal(0);
  });

  it('a protected key: --sign-passphrase-file unlocks it; a wrong one says Bad passphrase; none without a terminal names the flag', async () => {
    const dest = `docker://${host()}/plain/carol:v1`;
    const wrong = path.join(dir, 'wrong');
    await writeFile(wrong, 'nope\n');
    expectOneLineError(await f(['copy', '--dest-tls-verify=false', '--sign-by', carol, '--sign-passphrase-file', wrong, `oci:${img.layoutDir}:v1`, dest]), /Bad passphrase/);
    expectOneLineError(await f(['copy', '--dest-tls-verify=false', '--sign-by', carol, `oci:${img.layoutDir}:v1`, dest]), /--sign-passphrase-file/);
    const r = await f(['copy', '--dest-tls-verify=false', '--sign-by', carol, '--sign-passphrase-file', path.join(dir, 'pass'), `oci:${img.layoutDir}:v1`, dest]);
    expect(r.code, r.stderr).to.equal(0);
    expect(existsSync(lookasidePath('plain/carol', img.digest))).to.equal(true);
  });

  it('without --sign-passphrase-file, the passphrase of a protected key is asked on the terminal (real bin/ferry on a pty)', async function () {
    if (!hasCommand('script')) this.skip();
    /** Runs bin/ferry on a pseudo-terminal (util-linux script), typing `typed` at it. */
    const onTty = (args: string[], typed: string) =>
      run('script', ['-qe', '-c', [process.execPath, FERRY_BIN, '--registries.d', regd, ...args].join(' '), '/dev/null'], { input: typed, env, timeoutMs: 60_000 });
    const gpgOut = path.join(dir, 'tty-gpg');
    const g = await onTty(['copy', '--quiet', '--sign-by', 'carol@example.com', '--sign-identity', `${host()}/signed/app:v1`, `oci:${img.layoutDir}:v1`, `dir:${gpgOut}`], `${PASS}\r`);
    expect(g.code, g.stdout + g.stderr).to.equal(0);
    expect(g.stdout).to.contain(`Passphrase for key ${carol}:`);
    const v = await run('skopeo', ['standalone-verify', path.join(gpgOut, 'manifest.json'), `${host()}/signed/app:v1`, carol, path.join(gpgOut, 'signature-1')], { env });
    expect(v.code, v.stderr).to.equal(0);
    const prefix = path.join(dir, 'tty-key');
    expect((await ferry(['generate-sigstore-key', '--output-prefix', prefix, '--passphrase-file', path.join(dir, 'pass')])).code).to.equal(0);
    const sigOut = path.join(dir, 'tty-sigstore');
    const sg = await onTty(['copy', '--quiet', '--sign-by-sigstore-private-key', `${prefix}.private`, '--sign-identity', `${host()}/sig/app:v1`, `oci:${img.layoutDir}:v1`, `dir:${sigOut}`], `${PASS}\r`);
    expect(sg.code, sg.stdout + sg.stderr).to.equal(0);
    expect(signatureFromBlob(await readFile(path.join(sigOut, 'signature-1'))).kind).to.equal('sigstore');
    const bad = await onTty(['copy', '--quiet', '--sign-by-sigstore-private-key', `${prefix}.private`, '--sign-identity', `${host()}/sig/app:v1`, `oci:${img.layoutDir}:v1`, `dir:${path.join(dir, 'tty-bad')}`], 'wrong\r');
    expect(bad.code).to.equal(1);
    expect(bad.stdout).to.contain('wrong passphrase');
  });

  it('skopeo copy --sign-by into the lookaside → ferry reads the signature: copied to dir: as signature-1, byte for byte', async () => {
    const s = await skopeo(['copy', '--dest-tls-verify=false', '--sign-by', alice, `oci:${img.layoutDir}:v1`, `docker://${host()}/signed/by-skopeo:v1`]);
    expect(s.code, s.stderr).to.equal(0);
    const theirs = await readFile(lookasidePath('signed/by-skopeo', img.digest));
    const out = path.join(dir, 'from-skopeo');
    const r = await f(['copy', '--src-tls-verify=false', `docker://${host()}/signed/by-skopeo:v1`, `dir:${out}`]);
    expect(r.code, r.stderr).to.equal(0);
    expect((await readFile(path.join(out, 'signature-1'))).equals(theirs)).to.equal(true);
    expect(existsSync(path.join(out, 'signature-2'))).to.equal(false);
  });

  it('registry → dir: → registry keeps the signatures; --remove-signatures drops them', async () => {
    const mid = path.join(dir, 'round-trip');
    expect((await f(['copy', '--src-tls-verify=false', `docker://${host()}/signed/app:v1`, `dir:${mid}`])).code).to.equal(0);
    const original = await readFile(lookasidePath('signed/app', img.digest));
    expect((await readFile(path.join(mid, 'signature-1'))).equals(original)).to.equal(true);
    const back = await f(['copy', '--dest-tls-verify=false', `dir:${mid}`, `docker://${host()}/signed/again:v1`]);
    expect(back.code, back.stderr).to.equal(0);
    expect((await readFile(lookasidePath('signed/again', img.digest))).equals(original)).to.equal(true);
    // skopeo finds it there (it names signed/app:v1, so only a policy without identity checks takes it)
    const out = path.join(dir, 'round-trip-skopeo');
    const s = await skopeo(['--insecure-policy', 'copy', '--src-tls-verify=false', `docker://${host()}/signed/again:v1`, `dir:${out}`]);
    expect(s.code, s.stderr).to.equal(0);
    expect((await readFile(path.join(out, 'signature-1'))).equals(original)).to.equal(true);

    const dropped = path.join(dir, 'dropped');
    expect((await f(['copy', '--remove-signatures', '--src-tls-verify=false', `docker://${host()}/signed/app:v1`, `dir:${dropped}`])).code).to.equal(0);
    expect(existsSync(path.join(dropped, 'manifest.json'))).to.equal(true);
    expect(existsSync(path.join(dropped, 'signature-1'))).to.equal(false);
  });

  it('a copy that would change the manifest or cannot store signatures is refused unless --remove-signatures', async () => {
    const src = `docker://${host()}/signed/app:v1`;
    const conv = await f(['copy', '--src-tls-verify=false', '--format', 'v2s2', src, `dir:${path.join(dir, 'conv')}`]);
    expectOneLineError(conv, /signatures/);
    expect(existsSync(path.join(dir, 'conv', 'manifest.json'))).to.equal(false);
    const oci = await f(['copy', '--src-tls-verify=false', src, `oci:${path.join(dir, 'oci-dest')}:x`]);
    expectOneLineError(oci, /does not support signatures.*--remove-signatures/);
    const ok = await f(['copy', '--src-tls-verify=false', '--remove-signatures', '--format', 'v2s2', src, `dir:${path.join(dir, 'conv2')}`]);
    expect(ok.code, ok.stderr).to.equal(0);
  });

  it('lookaside over http://: ferry reads signatures from a static server, sending no credentials', async () => {
    const seen: IncomingHttpHeaders[] = [];
    const server: Server = createServer((req, res) => {
      seen.push(req.headers);
      const file = path.join(look, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
      if (!file.startsWith(look + path.sep) || !existsSync(file)) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(readFileSync(file));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup.defer(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const port = (server.address() as AddressInfo).port;
    const httpRegd = path.join(dir, 'registries-http.d');
    await mkdir(httpRegd);
    await writeFile(path.join(httpRegd, 'a.yaml'), `default-docker:\n  lookaside: http://127.0.0.1:${port}\n`);
    const out = path.join(dir, 'from-http');
    const r = await f(['copy', '--src-tls-verify=false', `docker://${host()}/signed/app:v1`, `dir:${out}`], { regd: httpRegd });
    expect(r.code, r.stderr).to.equal(0);
    expect((await readFile(path.join(out, 'signature-1'))).equals(await readFile(lookasidePath('signed/app', img.digest)))).to.equal(true);
    expect(existsSync(path.join(out, 'signature-2'))).to.equal(false);
    expect(seen.length).to.equal(2); // signature-1, then the 404 of signature-2
    expect(seen.every((h) => h.authorization === undefined)).to.equal(true);
    // writing to an http lookaside is refused with the reason
    const w = await f(['copy', '--dest-tls-verify=false', '--sign-by', alice, `oci:${img.layoutDir}:v1`, `docker://${host()}/plain/http:v1`], { regd: httpRegd });
    expectOneLineError(w, /lookaside-staging/);
  });

  it('sync --sign-by signs every image it copies; skopeo accepts them', async () => {
    const r = await f(['sync', '--src', 'docker', '--dest', 'docker', '--src-tls-verify=false', '--dest-tls-verify=false', '--sign-by', alice, `${host()}/plain/app:v1`, `${host()}/synced`]);
    expect(r.code, r.stderr).to.equal(0);
    expect(existsSync(lookasidePath('synced/app', img.digest))).to.equal(true);
    const s = await skopeoAccepts(`docker://${host()}/synced/app:v1`);
    expect(s.code, s.stderr).to.equal(0);
  });

  it('sigstore: generate-sigstore-key, sign on copy into sigstore attachments, read back; the signature verifies with the public key', async () => {
    const prefix = path.join(dir, 'cosign');
    const g = await ferry(['generate-sigstore-key', '--output-prefix', prefix, '--passphrase-file', path.join(dir, 'pass')]);
    expect(g.code, g.stderr).to.equal(0);
    expect((await stat(`${prefix}.private`)).mode & 0o777).to.equal(0o600);
    expect(await readFile(`${prefix}.private`, 'utf8')).to.match(/^-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n/);
    const again = await ferry(['generate-sigstore-key', '--output-prefix', prefix, '--passphrase-file', path.join(dir, 'pass')]);
    expectOneLineError(again, /refusing to overwrite/);

    const dest = `docker://${host()}/sig/app:v1`;
    const sign = (key: string) => f(['copy', '--dest-tls-verify=false', '--sign-by-sigstore-private-key', key, '--sign-passphrase-file', path.join(dir, 'pass'), `oci:${img.layoutDir}:v1`, dest]);
    const r = await sign(`${prefix}.private`);
    expect(r.code, r.stderr).to.equal(0);
    // the attachment manifest, as cosign stores it
    const res = await fetch(`http://${host()}/v2/sig/app/manifests/sha256-${hexOf(img.digest)}.sig`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    expect(res.status).to.equal(200);
    const m = (await res.json()) as { layers: Array<{ mediaType: string; annotations: Record<string, string> }> };
    expect(m.layers).to.have.length(1);
    expect(m.layers[0]!.mediaType).to.equal('application/vnd.dev.cosign.simplesigning.v1+json');

    // a second key adds a signature, keeping the first
    const second = path.join(dir, 'cosign2');
    expect((await ferry(['generate-sigstore-key', '--output-prefix', second, '--passphrase-file', path.join(dir, 'pass')])).code).to.equal(0);
    expect((await sign(`${second}.private`)).code).to.equal(0);

    const out = path.join(dir, 'sig-out');
    const back = await f(['copy', '--src-tls-verify=false', dest, `dir:${out}`]);
    expect(back.code, back.stderr).to.equal(0);
    for (const [n, p] of [[1, prefix], [2, second]] as const) {
      const sig = signatureFromBlob(await readFile(path.join(out, `signature-${n}`)));
      expect(sig.kind).to.equal('sigstore');
      if (sig.kind !== 'sigstore') continue;
      const payload = JSON.parse(sig.untrustedPayload.toString()) as { critical: { identity: { 'docker-reference': string }; image: { 'docker-manifest-digest': string }; type: string } };
      expect(payload.critical.type).to.equal('cosign container image signature');
      expect(payload.critical.image['docker-manifest-digest']).to.equal(img.digest);
      expect(payload.critical.identity['docker-reference']).to.equal(`${host()}/sig/app:v1`);
      const pub = createPublicKey(await readFile(`${p}.pub`, 'utf8'));
      const raw = Buffer.from(sig.untrustedAnnotations['dev.cosignproject.cosign/signature']!, 'base64');
      expect(cryptoVerify('sha256', sig.untrustedPayload, pub, raw)).to.equal(true);
    }
    expect(existsSync(path.join(out, 'signature-3'))).to.equal(false);
  });

  it('sigstore signatures to a registry scope without use-sigstore-attachments are refused with the reason', async () => {
    const prefix = path.join(dir, 'cosign3');
    expect((await ferry(['generate-sigstore-key', '--output-prefix', prefix, '--passphrase-file', path.join(dir, 'pass')])).code).to.equal(0);
    const r = await f(['copy', '--dest-tls-verify=false', '--sign-by-sigstore-private-key', `${prefix}.private`, '--sign-passphrase-file', path.join(dir, 'pass'), `oci:${img.layoutDir}:v1`, `docker://${host()}/plain/nosig:v1`]);
    expectOneLineError(r, /use-sigstore-attachments/);
  });

  it('--sign-by-sigstore: a parameter file with a private key signs; Fulcio is refused as needing the network', async () => {
    const prefix = path.join(dir, 'cosign4');
    expect((await ferry(['generate-sigstore-key', '--output-prefix', prefix, '--passphrase-file', path.join(dir, 'pass')])).code).to.equal(0);
    const params = path.join(dir, 'params.yaml');
    await writeFile(params, `privateKeyFile: ${prefix}.private\nprivateKeyPassphraseFile: ${path.join(dir, 'pass')}\n`);
    const out = path.join(dir, 'param-out');
    const r = await f(['copy', '--sign-by-sigstore', params, '--sign-identity', `${host()}/sig/app:v1`, `oci:${img.layoutDir}:v1`, `dir:${out}`]);
    expect(r.code, r.stderr).to.equal(0);
    expect(signatureFromBlob(await readFile(path.join(out, 'signature-1'))).kind).to.equal('sigstore');
    const fulcio = path.join(dir, 'fulcio.yaml');
    await writeFile(fulcio, 'fulcio:\n  fulcioURL: https://fulcio.example.com\n  oidcMode: interactive\n');
    expectOneLineError(await f(['copy', '--sign-by-sigstore', fulcio, `oci:${img.layoutDir}:v1`, `dir:${path.join(dir, 'fulcio-out')}`]), /Fulcio.*network/);
  });

  it('containers-storage: skopeo reads the signatures ferry stores, kept in the same records as skopeo keeps them', async function () {
    if (!isRoot || !hasCommand('podman')) this.skip();
    const t = tempStore('ferry-sign-store-');
    cleanup.defer(() => removeStore(t.dir));
    const store = `[overlay@${t.G}+${t.R}]`;
    // uncompressed layers: containers/image copies a signed image out of a store only if its layers stay as they are
    const raw = await buildImage(path.join(dir, 'raw'), { seed: 92, tag: 'v1', layers: 1, layerSize: 2000, compression: 'none' });
    const r = await f(['copy', '--sign-by', alice, `oci:${raw.layoutDir}:v1`, `containers-storage:${store}example.com/signed:v1`]);
    expect(r.code, r.stderr).to.equal(0);
    const bySkopeo = path.join(dir, 'store-skopeo');
    const s = await run('skopeo', ['copy', `containers-storage:${store}example.com/signed:v1`, `dir:${bySkopeo}`]);
    expect(s.code, s.stderr).to.equal(0);
    const sig = path.join(bySkopeo, 'signature-1');
    const v = await run('skopeo', ['standalone-verify', path.join(bySkopeo, 'manifest.json'), 'example.com/signed:v1', alice, sig], { env });
    expect(v.code, v.stderr).to.equal(0);
    // the records podman and skopeo read: the same big-data items and metadata as an image skopeo signed into the store
    const raw2 = await buildImage(path.join(dir, 'raw2'), { seed: 93, tag: 'v1', layers: 1, layerSize: 2000, compression: 'none' });
    const k = await run('skopeo', ['copy', '--quiet', '--sign-by', alice, `oci:${raw2.layoutDir}:v1`, `containers-storage:${store}example.com/by-skopeo:v1`], { env });
    expect(k.code, k.stderr).to.equal(0);
    type Rec = { names?: string[]; digest?: string; metadata?: string; 'big-data-names'?: string[] };
    const images = JSON.parse(await readFile(path.join(t.G, 'overlay-images', 'images.json'), 'utf8')) as Rec[];
    const shape = (name: string) => {
      const rec = images.find((i) => i.names?.includes(name))!;
      const meta = JSON.parse(rec.metadata ?? '{}') as Record<string, unknown>;
      const own = `signature-${hexOf(rec.digest ?? '')}`;
      const bigData = (rec['big-data-names'] ?? []).filter((n) => n.startsWith('signature')).map((n) => (n === own ? 'signature-OWN' : n));
      return { keys: Object.keys(meta), sizes: meta['signature-sizes'], bigData: bigData.sort() };
    };
    const ours = shape('example.com/signed:v1');
    const theirs = shape('example.com/by-skopeo:v1');
    expect(ours.keys).to.deep.equal(theirs.keys);
    expect(ours.bigData).to.deep.equal(theirs.bigData);
    expect((ours.sizes as number[]).length).to.equal(1);
    // podman push carries the stored signatures along
    const byPodman = path.join(dir, 'store-podman');
    const p = await run('podman', podmanArgs(t.G, t.R, 'push', 'example.com/signed:v1', `dir:${byPodman}`), { env, timeoutMs: 60_000 });
    expect(p.code, p.stderr).to.equal(0);
    expect((await readFile(path.join(byPodman, 'signature-1'))).equals(await readFile(sig))).to.equal(true);
  });
});
