/**
 * The trust chain end to end through the real registry: signatures that skopeo 1.9.3 writes to a file:// lookaside
 * and that ferry writes as sigstore attachments are checked by ferry's policy on the way out of the registry; and
 * the signatures the policy judged are the ones copied (read once per copy).
 */
import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile, copyFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { ferry } from '../harness/cli.js';
import { buildImage, pushImage, type BuiltImage } from '../harness/images.js';
import { useRegistry } from '../harness/registry.js';
import { run } from '../harness/procs.js';
import { useCleanup } from '../harness/tmp.js';
import { makeGpgHome } from '../signature/gpg-home.js';
import { expectOneLineError } from '../harness/expect.js';

const hexOf = (digest: string) => digest.slice('sha256:'.length);

describe('copy: the trust policy on images read from a registry (lookaside and sigstore attachments)', function () {
  this.timeout(120_000);
  const cleanup = useCleanup('after');
  const registry = useRegistry('http');
  let dir: string;
  let look: string;
  let regd: string;
  let img: BuiltImage;
  let other: BuiltImage;
  let env: Record<string, string>;
  let alice: string;
  let alicePub: string;
  let malloryPub: string;
  const host = () => registry().host;
  const sigPath = (repo: string, digest: string, n = 1) => path.join(look, `${repo}@sha256=${hexOf(digest)}`, `signature-${n}`);
  /** ferry copy out of the registry into a new dir: under `policy`; returns the result and the destination. */
  const pull = async (policy: object, repo: string, opts: { regd?: string } = {}) => {
    const file = path.join(dir, `policy-${Math.random().toString(16).slice(2)}.json`);
    await writeFile(file, JSON.stringify(policy));
    const out = path.join(dir, `out-${Math.random().toString(16).slice(2)}`);
    const r = await ferry(['--policy', file, '--registries.d', opts.regd ?? regd, 'copy', '--quiet', '--src-tls-verify=false', `docker://${host()}/${repo}:v1`, `dir:${out}`], { env });
    return { r, out };
  };
  const signedBy = (keyPath: string) => ({ default: [{ type: 'reject' }], transports: { docker: { [host()]: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath }] } } });

  before(async () => {
    const home = await makeGpgHome(cleanup, 'trust-registry-gpg');
    env = { ...home.env };
    dir = await cleanup.tempDir('trust-registry');
    look = path.join(dir, 'lookaside');
    regd = path.join(dir, 'registries.d');
    alice = await home.generateKey('Alice <alice@example.com>');
    const mallory = await home.generateKey('Mallory <mallory@example.com>');
    alicePub = await home.exportKey(alice, 'public');
    malloryPub = await home.exportKey(mallory, 'public');
    img = await buildImage(path.join(dir, 'img'), { seed: 7, tag: 'v1', layers: 1, layerSize: 2000 });
    other = await buildImage(path.join(dir, 'other'), { seed: 8, tag: 'v1', layers: 1, layerSize: 2000 });
    await mkdir(regd);
    await writeFile(path.join(regd, 'test.yaml'), `docker:\n  ${host()}:\n    lookaside: file://${look}\n  ${host()}/cosign:\n    use-sigstore-attachments: true\n`);
    for (const [src, repo] of [[img, 'signed/app'], [other, 'signed/other']] as const) {
      const s = await run('skopeo', ['--registries.d', regd, 'copy', '--dest-tls-verify=false', '--sign-by', alice, `oci:${src.layoutDir}:v1`, `docker://${host()}/${repo}:v1`], { env, timeoutMs: 60_000 });
      expect(s.code, s.stderr).to.equal(0);
    }
    await pushImage(img, registry(), 'unsigned/app:v1');
  });

  it('skopeo signs into the lookaside; ferry\'s signedBy policy accepts it, and the signature is copied with the image', async () => {
    const { r, out } = await pull(signedBy(alicePub), 'signed/app');
    expect(r.code, r.stderr).to.equal(0);
    expect((await readFile(path.join(out, 'signature-1'))).equals(await readFile(sigPath('signed/app', img.digest)))).to.equal(true);
  });

  it('refuses an unsigned image, a signature by another key, and a signature of another image — nothing written', async () => {
    const unsigned = await pull(signedBy(alicePub), 'unsigned/app');
    expectOneLineError(unsigned.r, /A signature was required, but no signature exists/);
    expect(existsSync(unsigned.out)).to.equal(false);

    const wrongKey = await pull(signedBy(malloryPub), 'signed/app');
    expectOneLineError(wrongKey.r, /Source image rejected/);
    expect(existsSync(wrongKey.out)).to.equal(false);

    // the signature of signed/other placed where signed/app's is looked up: valid key, other digest and identity
    await mkdir(path.dirname(sigPath('swapped/app', img.digest)), { recursive: true });
    await copyFile(sigPath('signed/other', other.digest), sigPath('swapped/app', img.digest));
    await pushImage(img, registry(), 'swapped/app:v1');
    const swapped = await pull(signedBy(alicePub), 'swapped/app');
    expectOneLineError(swapped.r, /Source image rejected/);
    expect(existsSync(swapped.out)).to.equal(false);
  });

  it('ferry signs with a sigstore key into attachments; its sigstoreSigned policy accepts with that key, refuses with another', async () => {
    const pass = path.join(dir, 'pass');
    await writeFile(pass, 'sigstore pass\n');
    for (const p of ['k1', 'k2']) {
      const g = await ferry(['generate-sigstore-key', '--output-prefix', path.join(dir, p), '--passphrase-file', pass]);
      expect(g.code, g.stderr).to.equal(0);
    }
    const s = await ferry(['--registries.d', regd, 'copy', '--quiet', '--dest-tls-verify=false', '--sign-by-sigstore-private-key', path.join(dir, 'k1.private'), '--sign-passphrase-file', pass, `oci:${img.layoutDir}:v1`, `docker://${host()}/cosign/app:v1`]);
    expect(s.code, s.stderr).to.equal(0);
    const sigstore = (keyPath: string) => ({ default: [{ type: 'reject' }], transports: { docker: { [`${host()}/cosign`]: [{ type: 'sigstoreSigned', keyPath }] } } });
    const ok = await pull(sigstore(path.join(dir, 'k1.pub')), 'cosign/app');
    expect(ok.r.code, ok.r.stderr).to.equal(0);
    expect(existsSync(path.join(ok.out, 'signature-1'))).to.equal(true);
    const bad = await pull(sigstore(path.join(dir, 'k2.pub')), 'cosign/app');
    expectOneLineError(bad.r, /Source image rejected/);
    expect(existsSync(bad.out)).to.equal(false);
  });

  it('the signatures the policy judged are the ones copied: each lookaside signature is read once per copy', async () => {
    const gets: string[] = [];
    const server: Server = createServer((req, res) => {
      const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      gets.push(pathname);
      const file = path.join(look, pathname);
      if (!file.startsWith(look + path.sep) || !existsSync(file)) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200).end(readFileSync(file));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup.defer(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const httpRegd = path.join(dir, 'registries-http.d');
    await mkdir(httpRegd);
    await writeFile(path.join(httpRegd, 'a.yaml'), `default-docker:\n  lookaside: http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
    const { r, out } = await pull(signedBy(alicePub), 'signed/app', { regd: httpRegd });
    expect(r.code, r.stderr).to.equal(0);
    expect(existsSync(path.join(out, 'signature-1'))).to.equal(true);
    expect(gets.filter((g) => g.endsWith('/signature-1'))).to.have.length(1);
  });
});
