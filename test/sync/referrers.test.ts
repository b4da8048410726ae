/**
 * The air-gap trust path with `--include-referrers`: an image signed at the near side (a sigstore attachment) and
 * an SBOM referring to it travel through an incremental (`--since`), split (`--split-size`) OCI archive into a
 * second registry, where a copy under a `sigstoreSigned` policy accepts the signed image and refuses an unsigned one.
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ferry } from '../harness/cli.js';
import { buildArtifact, buildImage, pushImage, type BuiltArtifact, type BuiltImage } from '../harness/images.js';
import { pushRaw } from '../harness/push.js';
import { useRegistry, type TestRegistry } from '../harness/registry.js';
import { useCleanup } from '../harness/tmp.js';

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const ACCEPT = ['application/vnd.oci.image.manifest.v1+json', OCI_INDEX, 'application/vnd.docker.distribution.manifest.v2+json'].join(', ');
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const tagOf = (digest: string, suffix = '') => `sha256-${digest.slice('sha256:'.length)}${suffix}`;

/** Pushes an SBOM-like artifact referring to `img` into `repo` of `reg`, with the fallback index listing it under `sha256-HEX`. */
async function pushSbom(reg: TestRegistry, repo: string, img: BuiltImage): Promise<{ sbom: BuiltArtifact; index: Buffer }> {
  const sbom = buildArtifact({ digest: img.digest, size: img.bytes.length, mediaType: img.mediaType });
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: sbom.mediaType, digest: sbom.digest, size: sbom.size, artifactType: sbom.artifactType }] }));
  await pushRaw(reg, repo, sbom.blobs.values(), [
    { ref: sbom.digest, mediaType: sbom.mediaType, bytes: sbom.bytes },
    { ref: tagOf(img.digest), mediaType: OCI_INDEX, bytes: index },
  ]);
  return { sbom, index };
}

describe('sync --include-referrers: signatures and SBOMs through incremental split archives', function () {
  this.timeout(180_000);
  const near = useRegistry('http');
  const far = useRegistry('http');
  const cleanup = useCleanup('after');
  const tls = ['--src-tls-verify=false', '--dest-tls-verify=false'];

  async function manifestAt(url: string, repo: string, ref: string): Promise<string | undefined> {
    const r = await fetch(`${url}/v2/${repo}/manifests/${ref}`, { headers: { accept: ACCEPT } });
    if (r.status === 404) return undefined;
    expect(r.status, `${repo}:${ref}`).to.equal(200);
    return sha(Buffer.from(await r.arrayBuffer()));
  }

  it('sign near, sync into an incremental split archive, import far: the policy accepts the signed image and refuses the unsigned one', async () => {
    const dir = await cleanup.tempDir('referrers-airgap');
    const regd = join(dir, 'registries.d');
    await mkdir(regd);
    await writeFile(join(regd, 'sig.yaml'), `docker:\n  ${near().host}:\n    use-sigstore-attachments: true\n  ${far().host}:\n    use-sigstore-attachments: true\n`);
    await writeFile(join(dir, 'pass'), 'secret\n');
    const key = join(dir, 'key');
    expect((await ferry(['generate-sigstore-key', '--output-prefix', key, '--passphrase-file', join(dir, 'pass')])).code).to.equal(0);
    const old = await buildImage(join(dir, 'old'), { seed: 701, tag: 't', layers: 1, layerSize: 3_000 });
    const signed = await buildImage(join(dir, 'signed'), { seed: 702, tag: 't', layers: 2, layerSize: 700_000 });
    const unsigned = await buildImage(join(dir, 'unsigned'), { seed: 703, tag: 't', layers: 1, layerSize: 3_000 });

    // the first trip: what the far side already has
    await pushImage(old, near(), 'team/app:old');
    const first = join(dir, 'first.tar');
    let r = await ferry(['sync', '--src', 'docker', '--dest', 'oci-archive', '-q', '--include-referrers', ...tls, `${near().host}/team/app`, first]);
    expect(r.code, r.stderr).to.equal(0);

    // near side: a new image signed (for its name at the far side) with an SBOM attached, and an unsigned one
    r = await ferry(['--registries.d', regd, 'copy', '-q', '--dest-tls-verify=false', '--sign-by-sigstore-private-key', `${key}.private`, '--sign-passphrase-file', join(dir, 'pass'),
      '--sign-identity', `${far().host}/mirror/app:signed`, `oci:${signed.layoutDir}:t`, `docker://${near().host}/team/app:signed`]);
    expect(r.code, r.stderr).to.equal(0);
    await pushImage(unsigned, near(), 'team/app:unsigned');
    const { sbom, index } = await pushSbom(near(), 'team/app', signed);
    const sigDigest = await manifestAt(near().url, 'team/app', tagOf(signed.digest, '.sig'));
    expect(sigDigest).to.not.equal(undefined);

    // the second trip: incremental, in parts
    const inc = join(dir, 'inc.tar');
    r = await ferry(['sync', '--src', 'docker', '--dest', 'oci-archive', '-q', '--include-referrers', '--since', first, '--split-size', '1M', ...tls, `${near().host}/team/app`, inc]);
    expect(r.code, r.stderr).to.equal(0);
    expect(existsSync(`${inc}.002`), 'the archive is in parts').to.equal(true);
    const verify = await ferry(['verify-archive', '--format', 'json', `${inc}.001`]);
    expect(verify.code, verify.stderr).to.equal(0);
    const names = (JSON.parse(verify.stdout) as { images: { name: string }[] }).images.map((i) => i.name);
    expect(names).to.include.members([`app:${tagOf(signed.digest, '.sig')}`, `app:${tagOf(signed.digest)}`, 'app:signed', 'app:unsigned']);

    // far side: both trips imported in order
    for (const trip of [first, `${inc}.001`]) {
      r = await ferry(['sync', '--src', 'oci-archive', '--dest', 'docker', '-q', '--include-referrers', ...tls, trip, `${far().host}/mirror`]);
      expect(r.code, r.stderr).to.equal(0);
    }
    expect(await manifestAt(far().url, 'mirror/app', 'signed')).to.equal(signed.digest);
    expect(await manifestAt(far().url, 'mirror/app', tagOf(signed.digest, '.sig'))).to.equal(sigDigest);
    expect(await manifestAt(far().url, 'mirror/app', tagOf(signed.digest))).to.equal(sha(index));
    expect(await manifestAt(far().url, 'mirror/app', sbom.digest)).to.equal(sbom.digest);

    const policy = join(dir, 'policy.json');
    await writeFile(policy, JSON.stringify({
      default: [{ type: 'reject' }],
      transports: { docker: { [`${far().host}/mirror`]: [{ type: 'sigstoreSigned', keyPath: `${key}.pub`, signedIdentity: { type: 'matchRepository' } }] } },
    }));
    const pull = (tag: string) => ferry(['--registries.d', regd, '--policy', policy, 'copy', '-q', '--src-tls-verify=false', `docker://${far().host}/mirror/app:${tag}`, `dir:${join(dir, `out-${tag}`)}`]);
    r = await pull('signed');
    expect(r.code, r.stderr).to.equal(0);
    r = await pull('unsigned');
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include('Source image rejected');
  });

  it('without --include-referrers, a fallback index listed among the tags is copied whole, as the tag it is (no platform to choose)', async () => {
    const dir = await cleanup.tempDir('referrers-plain');
    const img = await buildImage(join(dir, 'img'), { seed: 711, tag: 't', layers: 1, layerSize: 3_000 });
    await pushImage(img, near(), 'plain/app:v1');
    const { sbom, index } = await pushSbom(near(), 'plain/app', img);
    // registry → archive → registry, and registry → registry, none with --include-referrers
    const archive = join(dir, 'plain.tar');
    let r = await ferry(['sync', '--src', 'docker', '--dest', 'oci-archive', '-q', ...tls, `${near().host}/plain/app`, archive]);
    expect(r.code, r.stderr).to.equal(0);
    r = await ferry(['sync', '--src', 'oci-archive', '--dest', 'docker', '-q', ...tls, archive, `${far().host}/plain-trip`]);
    expect(r.code, r.stderr).to.equal(0);
    r = await ferry(['sync', '--src', 'docker', '--dest', 'docker', '-q', ...tls, `${near().host}/plain/app`, `${far().host}/plain-direct`]);
    expect(r.code, r.stderr).to.equal(0);
    for (const repo of ['plain-trip/app', 'plain-direct/app']) {
      expect(await manifestAt(far().url, repo, 'v1'), repo).to.equal(img.digest);
      expect(await manifestAt(far().url, repo, tagOf(img.digest)), repo).to.equal(sha(index));
      expect(await manifestAt(far().url, repo, sbom.digest), repo).to.equal(sbom.digest);
    }
  });
});
