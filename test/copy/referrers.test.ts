/**
 * `copy --include-referrers` registry → registry against the real registry (Debian's docker-registry 2.8, which has
 * no referrers API: referrers are found through the fallback tag `sha256-HEX` and kept there at the destination):
 * an SBOM-like OCI 1.1 artifact with `subject`, an artifact referring to that one, a sigstore signature made by
 * ferry (`sha256-HEX.sig`) and an attestation tag (`sha256-HEX.att`) all arrive with their digests.
 */
import { expect } from 'chai';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ferry } from '../harness/cli.js';
import { runOk } from '../harness/procs.js';
import { expectOneLineError } from '../harness/expect.js';
import { buildArtifact, buildCosignAttestation, buildImage, pushImage, type BuiltArtifact, type BuiltAttestation, type BuiltImage } from '../harness/images.js';
import { pushRaw } from '../harness/push.js';
import { useRegistry } from '../harness/registry.js';
import { useCleanup } from '../harness/tmp.js';
import { createHash } from 'node:crypto';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const ACCEPT = [OCI_MANIFEST, OCI_INDEX, 'application/vnd.docker.distribution.manifest.v2+json', 'application/vnd.docker.distribution.manifest.list.v2+json'].join(', ');
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const tagOf = (digest: string, suffix = '') => `sha256-${digest.slice('sha256:'.length)}${suffix}`;

/** A referrers index (what a client without the referrers API keeps under `sha256-HEX`) listing `artifacts`. */
function fallbackIndex(artifacts: BuiltArtifact[]): Buffer {
  return Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: artifacts.map((a) => ({ mediaType: a.mediaType, digest: a.digest, size: a.size, artifactType: a.artifactType })),
  }));
}

describe('copy --include-referrers (registry → registry)', function () {
  this.timeout(120_000);
  const cleanup = useCleanup('after');
  const registry = useRegistry('http');
  const host = () => registry().host;
  let dir: string;
  let regd: string;
  let img: BuiltImage;
  let sbom: BuiltArtifact;
  let onSbom: BuiltArtifact;
  let att: BuiltAttestation;

  /** The manifest `ref` names in `repo`: its bytes' digest, or undefined. */
  async function manifestAt(repo: string, ref: string): Promise<{ digest: string; bytes: Buffer } | undefined> {
    const r = await fetch(`${registry().url}/v2/${repo}/manifests/${ref}`, { headers: { accept: ACCEPT } });
    if (r.status === 404) return undefined;
    expect(r.status, `${repo}:${ref}`).to.equal(200);
    const bytes = Buffer.from(await r.arrayBuffer());
    return { digest: sha(bytes), bytes };
  }

  before(async () => {
    dir = await cleanup.tempDir('referrers');
    regd = path.join(dir, 'registries.d');
    await mkdir(regd);
    await writeFile(path.join(regd, 'sig.yaml'), `docker:\n  ${host()}:\n    use-sigstore-attachments: true\n`);
    await writeFile(path.join(dir, 'pass'), 'secret\n');
    expect((await ferry(['generate-sigstore-key', '--output-prefix', path.join(dir, 'key'), '--passphrase-file', path.join(dir, 'pass')])).code).to.equal(0);
    img = await buildImage(path.join(dir, 'img'), { seed: 611, tag: 'v1', layers: 2, layerSize: 3_000 });
    // the image, signed by ferry into a sigstore attachment (sha256-HEX.sig)
    const signed = await ferry(['--registries.d', regd, 'copy', '-q', '--dest-tls-verify=false', '--sign-by-sigstore-private-key', path.join(dir, 'key.private'),
      '--sign-passphrase-file', path.join(dir, 'pass'), `oci:${img.layoutDir}:v1`, `docker://${host()}/src/app:v1`]);
    expect(signed.code, signed.stderr).to.equal(0);
    // an SBOM referring to the image, and an artifact referring to the SBOM, each listed in its subject's fallback index
    const subject = { digest: img.digest, size: img.bytes.length, mediaType: img.mediaType };
    sbom = buildArtifact(subject);
    onSbom = buildArtifact({ digest: sbom.digest, size: sbom.size, mediaType: sbom.mediaType }, { artifactType: 'application/vnd.example.review', content: 'reviewed' });
    // an attestation stored as cosign does, under sha256-HEX.att
    att = buildCosignAttestation({ predicateType: 'https://slsa.dev/provenance/v0.2' });
    await pushRaw(registry(), 'src/app', [...sbom.blobs.values(), ...onSbom.blobs.values(), ...att.blobs.values()], [
      { ref: sbom.digest, mediaType: sbom.mediaType, bytes: sbom.bytes },
      { ref: onSbom.digest, mediaType: onSbom.mediaType, bytes: onSbom.bytes },
      { ref: tagOf(img.digest), mediaType: OCI_INDEX, bytes: fallbackIndex([sbom]) },
      { ref: tagOf(sbom.digest), mediaType: OCI_INDEX, bytes: fallbackIndex([onSbom]) },
      { ref: tagOf(img.digest, '.att'), mediaType: OCI_MANIFEST, bytes: att.bytes },
    ]);
  });

  it('copies the image with its referrers, recursively, every digest kept, the fallback indexes and cosign tags recreated', async () => {
    const r = await ferry(['--registries.d', regd, 'copy', '-q', '--include-referrers', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${host()}/src/app:v1`, `docker://${host()}/dst/app:v1`]);
    expect(r.code, r.stderr).to.equal(0);
    expect((await manifestAt('dst/app', 'v1'))?.digest).to.equal(img.digest);
    for (const a of [sbom, onSbom]) expect((await manifestAt('dst/app', a.digest))?.digest).to.equal(a.digest);
    for (const tag of [tagOf(img.digest), tagOf(sbom.digest), tagOf(img.digest, '.sig'), tagOf(img.digest, '.att')]) {
      const there = await manifestAt('dst/app', tag);
      expect(there?.digest, tag).to.equal((await manifestAt('src/app', tag))!.digest);
    }
    expect((await manifestAt('dst/app', tagOf(img.digest, '.att')))?.digest).to.equal(att.digest);
    // the blobs came along: the SBOM's layer can be read at the destination
    const layer = [...sbom.blobs.entries()][1]!;
    const blob = await fetch(`${registry().url}/v2/dst/app/blobs/${layer[0]}`);
    expect(Buffer.from(await blob.arrayBuffer()).equals(layer[1])).to.equal(true);
  });

  it('a fallback index already at the destination keeps its entries; the copied referrers are added', async () => {
    const other = buildArtifact({ digest: img.digest, size: img.bytes.length, mediaType: img.mediaType }, { artifactType: 'application/vnd.example.other', content: 'other' });
    await pushImage(img, registry(), 'merge/app:v1');
    await pushRaw(registry(), 'merge/app', other.blobs.values(), [
      { ref: other.digest, mediaType: other.mediaType, bytes: other.bytes },
      { ref: tagOf(img.digest), mediaType: OCI_INDEX, bytes: fallbackIndex([other]) },
    ]);
    const r = await ferry(['copy', '-q', '--include-referrers', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${host()}/src/app:v1`, `docker://${host()}/merge/app:v1`]);
    expect(r.code, r.stderr).to.equal(0);
    const index = JSON.parse((await manifestAt('merge/app', tagOf(img.digest)))!.bytes.toString()) as { manifests: { digest: string; artifactType?: string }[] };
    expect(index.manifests.map((m) => m.digest)).to.deep.equal([other.digest, sbom.digest]);
    expect(index.manifests[1]!.artifactType).to.equal(sbom.artifactType);
    // the image's signature came as its tag (no registries.d here: not read as a signature)
    expect((await manifestAt('merge/app', tagOf(img.digest, '.sig')))?.digest).to.equal((await manifestAt('src/app', tagOf(img.digest, '.sig')))!.digest);
  });

  it('registry → oci: layout → registry: the referrers travel as ref names beside the image and come back as tags', async () => {
    const layout = path.join(dir, 'layout');
    let r = await ferry(['copy', '-q', '--include-referrers', '--src-tls-verify=false', `docker://${host()}/src/app:v1`, `oci:${layout}:app:v1`]);
    expect(r.code, r.stderr).to.equal(0);
    const index = JSON.parse(await readFile(path.join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
    const named = new Map(index.manifests.map((d) => [d.annotations?.['org.opencontainers.image.ref.name'], d.digest]));
    expect(named.get('app:v1')).to.equal(img.digest);
    expect(named.get(`app:${tagOf(img.digest, '.att')}`)).to.equal(att.digest);
    expect(named.get(`app:${tagOf(img.digest, '.sig')}`)).to.equal((await manifestAt('src/app', tagOf(img.digest, '.sig')))!.digest);
    expect(named.get(`app:${tagOf(img.digest)}`)).to.equal((await manifestAt('src/app', tagOf(img.digest)))!.digest);
    expect(named.get(`app:${tagOf(sbom.digest)}`)).to.equal((await manifestAt('src/app', tagOf(sbom.digest)))!.digest);
    r = await ferry(['copy', '-q', '--include-referrers', '--dest-tls-verify=false', `oci:${layout}:app:v1`, `docker://${host()}/back/app:v1`]);
    expect(r.code, r.stderr).to.equal(0);
    expect((await manifestAt('back/app', 'v1'))?.digest).to.equal(img.digest);
    for (const a of [sbom, onSbom]) expect((await manifestAt('back/app', a.digest))?.digest).to.equal(a.digest);
    for (const tag of [tagOf(img.digest), tagOf(sbom.digest), tagOf(img.digest, '.sig'), tagOf(img.digest, '.att')]) {
      expect((await manifestAt('back/app', tag))?.digest, tag).to.equal((await manifestAt('src/app', tag))!.digest);
    }
  });

  it('adding to an oci-archive: the fallback index it holds keeps its entries, and their manifests stay in it', async () => {
    const archive = path.join(dir, 'add.tar');
    let r = await ferry(['copy', '-q', '--include-referrers', '--src-tls-verify=false', `docker://${host()}/src/app:v1`, `oci-archive:${archive}:app:v1`]);
    expect(r.code, r.stderr).to.equal(0);
    const third = buildArtifact({ digest: img.digest, size: img.bytes.length, mediaType: img.mediaType }, { artifactType: 'application/vnd.example.third', content: 'third' });
    await pushImage(img, registry(), 'third/app:v1');
    await pushRaw(registry(), 'third/app', third.blobs.values(), [
      { ref: third.digest, mediaType: third.mediaType, bytes: third.bytes },
      { ref: tagOf(img.digest), mediaType: OCI_INDEX, bytes: fallbackIndex([third]) },
    ]);
    r = await ferry(['copy', '-q', '--include-referrers', '--src-tls-verify=false', `docker://${host()}/third/app:v1`, `oci-archive:${archive}:app:v1`]);
    expect(r.code, r.stderr).to.equal(0);
    r = await ferry(['copy', '-q', '--include-referrers', '--dest-tls-verify=false', `oci-archive:${archive}:app:v1`, `docker://${host()}/from-archive/app:v1`]);
    expect(r.code, r.stderr).to.equal(0);
    const index = JSON.parse((await manifestAt('from-archive/app', tagOf(img.digest)))!.bytes.toString()) as { manifests: { digest: string }[] };
    expect(index.manifests.map((m) => m.digest)).to.deep.equal([sbom.digest, third.digest]);
    for (const a of [sbom, onSbom, third]) expect((await manifestAt('from-archive/app', a.digest))?.digest).to.equal(a.digest);
  });

  it("adding to a gzip'd or a split oci-archive: its fallback index keeps its entries too", async () => {
    const third = buildArtifact({ digest: img.digest, size: img.bytes.length, mediaType: img.mediaType }, { artifactType: 'application/vnd.example.third', content: 'third' });
    await pushImage(img, registry(), 'third/app:v1');
    await pushRaw(registry(), 'third/app', third.blobs.values(), [
      { ref: third.digest, mediaType: third.mediaType, bytes: third.bytes },
      { ref: tagOf(img.digest), mediaType: OCI_INDEX, bytes: fallbackIndex([third]) },
    ]);
    const gz = path.join(dir, 'add-gz.tar');
    const split = path.join(dir, 'add-split.tar');
    const cases: [string, string, string[]][] = [
      ['gzip', `${gz}.gz`, []],
      ['split', split, ['--split-size', '1M']],
    ];
    for (const [kind, archive, flags] of cases) {
      const first = kind === 'gzip' ? gz : archive;
      let r = await ferry(['copy', '-q', '--include-referrers', ...flags, '--src-tls-verify=false', `docker://${host()}/src/app:v1`, `oci-archive:${first}:app:v1`]);
      expect(r.code, r.stderr).to.equal(0);
      if (kind === 'gzip') await runOk('gzip', [gz]);
      r = await ferry(['copy', '-q', '--include-referrers', ...flags, '--src-tls-verify=false', `docker://${host()}/third/app:v1`, `oci-archive:${archive}:app:v1`]);
      expect(r.code, r.stderr).to.equal(0);
      // a split archive is read from its first part
      const from = kind === 'split' ? `${archive}.001` : archive;
      r = await ferry(['copy', '-q', '--include-referrers', '--dest-tls-verify=false', `oci-archive:${from}:app:v1`, `docker://${host()}/from-${kind}/app:v1`]);
      expect(r.code, r.stderr).to.equal(0);
      const index = JSON.parse((await manifestAt(`from-${kind}/app`, tagOf(img.digest)))!.bytes.toString()) as { manifests: { digest: string }[] };
      expect(index.manifests.map((m) => m.digest), kind).to.deep.equal([sbom.digest, third.digest]);
      for (const a of [sbom, onSbom, third]) expect((await manifestAt(`from-${kind}/app`, a.digest))?.digest, kind).to.equal(a.digest);
    }
  });

  it('an image with referrers that would be written changed (another format) is refused, naming the manifest', async () => {
    const r = await ferry(['copy', '-q', '--include-referrers', '--format', 'v2s2', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${host()}/src/app:v1`, `docker://${host()}/conv/app:v1`]);
    expectOneLineError(r, new RegExp(`manifest ${img.digest} has referrers but was written as sha256:`));
    expect(await manifestAt('conv/app', 'v1')).to.equal(undefined);
  });

  it('with --all, what refers to an instance of a multi-platform image comes too', async () => {
    const multi = await buildImage(path.join(dir, 'multi'), { seed: 612, tag: 'm', layers: 1, layerSize: 2_000, platforms: [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64' }] });
    await pushImage(multi, registry(), 'multi/app:m');
    const arm = multi.manifests[1]!;
    const onArm = buildArtifact({ digest: arm.digest, size: arm.bytes.length, mediaType: arm.mediaType }, { content: 'arm64 sbom' });
    await pushRaw(registry(), 'multi/app', onArm.blobs.values(), [
      { ref: onArm.digest, mediaType: onArm.mediaType, bytes: onArm.bytes },
      { ref: tagOf(arm.digest), mediaType: OCI_INDEX, bytes: fallbackIndex([onArm]) },
    ]);
    // without the flag: the image alone
    let r = await ferry(['copy', '-q', '--all', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${host()}/multi/app:m`, `docker://${host()}/multi-plain/app:m`]);
    expect(r.code, r.stderr).to.equal(0);
    expect(await manifestAt('multi-plain/app', onArm.digest)).to.equal(undefined);
    r = await ferry(['copy', '-q', '--all', '--include-referrers', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${host()}/multi/app:m`, `docker://${host()}/multi-dst/app:m`]);
    expect(r.code, r.stderr).to.equal(0);
    expect((await manifestAt('multi-dst/app', 'm'))?.digest).to.equal(multi.digest);
    expect((await manifestAt('multi-dst/app', onArm.digest))?.digest).to.equal(onArm.digest);
    expect((await manifestAt('multi-dst/app', tagOf(arm.digest)))?.digest).to.equal(sha(fallbackIndex([onArm])));
  });
});
