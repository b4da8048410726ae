/**
 * ferry sync --dry-run prints a plan: per image copy/skip with the reason, and the blobs and bytes a real run moves.
 * The plan is checked against what the real sync then moves (its --report bytes and the destination registry's
 * access log of blob uploads and mounts): with the source on another registry and nothing in the blob-location
 * cache, nothing can be mounted; then with blobs the destination registry can mount (from the source repository on
 * the same registry, or from a repository the cache names). With `--include-referrers`, the referrers of each image
 * (an OCI 1.1 SBOM found through the fallback tag, a cosign-style `.sig` tag) are planned as the real run copies them.
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ferry } from '../../harness/cli.js';
import { buildArtifact, buildImage, pushImage, type BuiltImage } from '../../harness/images.js';
import { pushRaw } from '../../harness/push.js';
import { useRegistry } from '../../harness/registry.js';
import { useCleanup } from '../../harness/tmp.js';

interface PlanDoc {
  images: Array<{ action: string; source: string; destination: string; reason: string; digest: string; destinationDigest: string; blobs: number | null; bytes: number | null; mounted: number | null }>;
  totals: { copy: number; skip: number; failed: number; blobs: number; bytes: number; presentBlobs: number; mountedBlobs: number; unknownImages: number };
}

describe('cli: ferry sync --dry-run plan (two real registries)', function () {
  this.timeout(60_000);
  const source = useRegistry('http');
  const dest = useRegistry('http');
  const cleanup = useCleanup();
  const img = new Map<string, BuiltImage>();
  const tls = ['--src-tls-verify=false', '--dest-tls-verify=false'];
  let home: string;
  // a fresh HOME: no blob-location cache from other tests
  const env = () => ({ HOME: home, XDG_CACHE_HOME: join(home, '.cache') });
  const src = () => `${source().host}/src/app`;
  const mirror = () => `${dest().host}/mirror`;
  const logSize = async () => (await readFile(dest().logFile)).length;
  /** Blob uploads the destination registry finished (the PUT closing each upload session) since byte `from` of its log. */
  async function uploadsSince(from: number): Promise<number> {
    const log = (await readFile(dest().logFile)).subarray(from).toString('utf8');
    return [...log.matchAll(/"PUT \/v2\/\S+\/blobs\/uploads\/\S+ HTTP\/[\d.]+" 201/g)].length;
  }
  /** Blob mounts the destination registry did (201) since byte `from` of its log. */
  async function mountsSince(from: number): Promise<number> {
    const log = (await readFile(dest().logFile)).subarray(from).toString('utf8');
    return [...log.matchAll(/"POST \/v2\/\S+\/blobs\/uploads\/\?mount=\S+ HTTP\/[\d.]+" 201/g)].length;
  }
  /** Blob reads (GET) the destination registry answered since byte `from` of its log. */
  async function blobReadsSince(from: number): Promise<number> {
    const log = (await readFile(dest().logFile)).subarray(from).toString('utf8');
    return [...log.matchAll(/"GET \/v2\/\S+\/blobs\/sha256:\S+ HTTP\/[\d.]+" 200/g)].length;
  }

  before(async () => {
    home = await cleanup.tempDir('cli-sync-plan-home');
    const dir = await cleanup.tempDir('cli-sync-plan');
    await writeFile(join(dir, 'empty.conf'), '');
    process.env['CONTAINERS_REGISTRIES_CONF'] = join(dir, 'empty.conf');
    for (const [i, name] of ['a', 'b', 'c', 'd'].entries()) img.set(name, await buildImage(join(dir, name), { seed: 900 + i, layers: 2, layerSize: 3_000 + i * 1_000 }));
    // the source: v1..v4, and v4b the same image as v4 (its blobs go once into the destination repository)
    for (const [tag, name] of [['v1', 'a'], ['v2', 'b'], ['v3', 'c'], ['v4', 'd'], ['v4b', 'd']] as const) await pushImage(img.get(name)!, source(), `src/app:${tag}`);
    // half-filled destination: v1 and v2 as the source has them, v3 pointing to another image, and v4's blobs
    // (under another tag): v4 is copied, but only its manifest moves
    for (const [tag, name] of [['v1', 'a'], ['v2', 'b'], ['v3', 'a'], ['old-d', 'd']] as const) await pushImage(img.get(name)!, dest(), `mirror/app:${tag}`);
  });

  it('--output json plans skip/copy with reasons, and the blobs and bytes the real run then uploads', async () => {
    const p = await ferry(['sync', '--src', 'docker', '--dest', 'docker', '--dry-run', '--output', 'json', ...tls, src(), mirror()], { env: env() });
    expect(p.code, p.stderr).to.equal(0);
    const plan = JSON.parse(p.stdout) as PlanDoc;
    const by = (tag: string) => plan.images.find((i) => i.source === `docker://${src()}:${tag}`)!;
    const a = img.get('a')!;
    const c = img.get('c')!;
    const d = img.get('d')!;
    expect(by('v3').blobs).to.equal(3);
    expect(by('v1')).to.deep.include({ action: 'skip', destination: `docker://${mirror()}/app:v1`, digest: a.digest, blobs: 0, bytes: 0 });
    expect(by('v1').reason).to.equal(`image already present at destination (${a.digest})`);
    expect(by('v2').action).to.equal('skip');
    expect(by('v3')).to.deep.include({ action: 'copy', reason: `destination tag points to ${a.digest} (different)`, digest: c.digest, destinationDigest: a.digest });
    expect(by('v4')).to.deep.include({ action: 'copy', reason: 'not at destination', digest: d.digest, destinationDigest: '' });
    expect(by('v4')).to.deep.include({ blobs: 0, bytes: 0 });
    expect(by('v4b')).to.deep.include({ action: 'copy', blobs: 0, bytes: 0 });
    const size = (m: BuiltImage) => m.manifests[0]!.config.length + m.manifests[0]!.layers.reduce((n, l) => n + l.size, 0);
    // v4b's blobs are v4's: asked for once in the repository
    expect(plan.totals).to.deep.equal({ copy: 3, skip: 2, failed: 0, blobs: 3, bytes: size(c), presentBlobs: 3, mountedBlobs: 0, unknownImages: 0 });
    // stderr keeps skopeo's dry-run lines
    expect(p.stderr.trimEnd().split('\n').at(-1)).to.equal('Would have synced 5 images from 1 sources');

    // the real run moves exactly that
    const reportFile = join(home, 'report.jsonl');
    const from = await logSize();
    const r = await ferry(['sync', '--src', 'docker', '--dest', 'docker', '--report', reportFile, ...tls, src(), mirror()], { env: env() });
    expect(r.code, r.stderr).to.equal(0);
    const report = (await readFile(reportFile, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as { source: string; action: string; bytes: number });
    // in the same (source) order as the plan, and the same actions
    expect(report.map((e) => e.source)).to.deep.equal(plan.images.map((i) => i.source));
    expect(report.map((e) => e.action)).to.deep.equal(plan.images.map((i) => (i.action === 'skip' ? 'skipped' : 'copied')));
    expect(report.reduce((n, e) => n + e.bytes, 0)).to.equal(plan.totals.bytes);
    expect(await uploadsSince(from)).to.equal(plan.totals.blobs);
    expect(await mountsSince(from)).to.equal(0);

    // planned again: everything is there
    const again = await ferry(['sync', '--src', 'docker', '--dest', 'docker', '--dry-run', '--output', 'json', ...tls, src(), mirror()], { env: env() });
    expect((JSON.parse(again.stdout) as PlanDoc).totals).to.deep.include({ copy: 0, skip: 5, blobs: 0, bytes: 0 });
  });

  it('text plan on stdout; a format change is copied with its blobs unknown; nothing is written', async () => {
    const p = await ferry(['sync', '--src', 'docker', '--dest', 'docker', '--dry-run', ...tls, `${src()}:v1`, `${dest().host}/other`], { env: env() });
    expect(p.code, p.stderr).to.equal(0);
    const a = img.get('a')!;
    const bytes = a.manifests[0]!.config.length + a.manifests[0]!.layers.reduce((n, l) => n + l.size, 0);
    const lines = p.stdout.trimEnd().split('\n');
    expect(lines[0]).to.match(new RegExp(`^copy docker://${src()}:v1 to docker://${dest().host}/other/app:v1: not at destination \\(3 blobs, [\\d.]+KiB\\)$`));
    expect(lines.at(-1)).to.match(/^Plan: copy 1 image, skip 0; 3 blobs \([\d.]+KiB\) to move, 0 to mount from other repositories, 0 already at the destination$/);
    const j = JSON.parse((await ferry(['sync', '--src', 'docker', '--dest', 'docker', '--dry-run', '--output', 'json', ...tls, `${src()}:v1`, `${dest().host}/other`], { env: env() })).stdout) as PlanDoc;
    expect(j.totals.bytes).to.equal(bytes);
    const tags = await fetch(`${dest().url}/v2/other/app/tags/list`);
    expect(tags.status).to.equal(404);

    // v1 is at mirror/app as OCI: --format v2s2 would convert it, so it is copied, and what it writes is unknown
    const f = await ferry(['sync', '--src', 'docker', '--dest', 'docker', '--dry-run', '--format', 'v2s2', '--output', 'json', ...tls, `${src()}:v1`, mirror()], { env: env() });
    const fp = JSON.parse(f.stdout) as PlanDoc;
    expect(fp.images[0]).to.deep.include({ action: 'copy', blobs: null, bytes: null, destinationDigest: a.digest });
    expect(fp.images[0]!.reason).to.match(/^the copy changes the manifest/);
    expect(fp.totals).to.deep.include({ copy: 1, unknownImages: 1, blobs: 0 });
  });

  it('--dest dir: blob files are counted; an image already there is skipped', async () => {
    const out = await cleanup.tempDir('cli-sync-plan-dir');
    const first = JSON.parse((await ferry(['sync', '--src', 'docker', '--dest', 'dir', '--dry-run', '--output', 'json', ...tls, `${src()}:v2`, out])).stdout) as PlanDoc;
    expect(first.totals).to.deep.include({ copy: 1, blobs: 3 });
    expect((await ferry(['sync', '--src', 'docker', '--dest', 'dir', '-q', ...tls, `${src()}:v2`, out])).code).to.equal(0);
    const second = JSON.parse((await ferry(['sync', '--src', 'docker', '--dest', 'dir', '--dry-run', '--output', 'json', ...tls, `${src()}:v2`, out])).stdout) as PlanDoc;
    expect(second.images[0]).to.deep.include({ action: 'skip', digest: img.get('b')!.digest });
  });

  it('--dest oci-archive: the plan says it cannot know', async () => {
    const out = await cleanup.tempDir('cli-sync-plan-archive');
    const r = await ferry(['sync', '--src', 'docker', '--dest', 'oci-archive', '--dry-run', '--output', 'json', ...tls, `${src()}:v2`, join(out, 'a.tar')]);
    expect(r.code, r.stderr).to.equal(0);
    const plan = JSON.parse(r.stdout) as PlanDoc;
    expect(plan.images[0]).to.deep.include({ action: 'copy', blobs: null });
    expect(plan.images[0]!.reason).to.match(/^unknown: /);
    expect(plan.totals.unknownImages).to.equal(1);
  });

  it('--output json without --dry-run is refused before anything is copied', async () => {
    const r = await ferry(['sync', '--src', 'docker', '--dest', 'docker', '--output', 'json', ...tls, `${src()}:v1`, `${dest().host}/never`], { env: env() });
    expect(r.code).to.equal(1);
    expect(r.stderr).to.equal('Error: --output json applies only to --dry-run\n');
    const tags = await ferry(['list-tags', '--tls-verify=false', `docker://${dest().host}/never/app`]);
    expect(tags.code, tags.stderr).to.equal(2);
  });

  it('a missing source image: the plan says it would fail; skopeo’s count and exit status are kept', async () => {
    const r = await ferry(['sync', '--src', 'docker', '--dest', 'docker', '--dry-run', ...tls, `${src()}:nope`, mirror()], { env: env() });
    expect(r.code, r.stderr).to.equal(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).to.match(new RegExp(`^failed docker://${src()}:nope to docker://${mirror()}/app:nope: .*manifest unknown`));
    expect(lines.at(-1)).to.match(/^Plan: copy 0 images, skip 0, 1 failing; /);
    expect(r.stderr.trimEnd().split('\n').at(-1)).to.equal('Would have synced 1 images from 1 sources');
    // a repository that cannot be listed fails the dry run as it fails the sync
    const gone = await ferry(['sync', '--src', 'docker', '--dest', 'docker', '--dry-run', ...tls, `${source().host}/src/gone`, mirror()], { env: env() });
    expect(gone.code, gone.stderr).to.equal(2);
    expect(gone.stderr).to.match(/^Error: listing the tags of .*src\/gone: /m);
  });

  // last: its real runs fill the blob-location cache with the source images' blobs at the destination registry
  it('blobs the destination registry can mount are planned as mounted, not moved; the real run mounts exactly those', async () => {
    const size = (m: BuiltImage) => m.manifests[0]!.config.length + m.manifests[0]!.layers.reduce((n, l) => n + l.size, 0);
    const b = img.get('b')!;
    const c = img.get('c')!;
    const plan = async (args: string[]) => {
      const p = await ferry(['sync', '--src', 'docker', '--dest', 'docker', '--dry-run', '--output', 'json', ...tls, ...args], { env: env() });
      expect(p.code, p.stderr).to.equal(0);
      return JSON.parse(p.stdout) as PlanDoc;
    };
    /** Runs the sync for real: what it uploaded, mounted and read from the destination registry, and its report's bytes. */
    const real = async (args: string[], name: string) => {
      const reportFile = join(home, `${name}.jsonl`);
      const from = await logSize();
      const r = await ferry(['sync', '--src', 'docker', '--dest', 'docker', '--report', reportFile, ...tls, ...args], { env: env() });
      expect(r.code, r.stderr).to.equal(0);
      const report = (await readFile(reportFile, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as { bytes: number });
      return { uploads: await uploadsSince(from), mounts: await mountsSince(from), reads: await blobReadsSince(from), bytes: report.reduce((n, e) => n + e.bytes, 0) };
    };

    // 1. The source is a repository of the destination registry (mirror/app:v2, image b, put there without ferry: the
    //    blob-location cache does not know its blobs): every blob is mounted from it.
    const same = [`${dest().host}/mirror/app:v2`, `${dest().host}/copies`];
    const p1 = await plan(same);
    expect(p1.images[0]).to.deep.include({ action: 'copy', reason: 'not at destination', blobs: 0, bytes: 0, mounted: 3 });
    expect(p1.totals).to.deep.include({ copy: 1, blobs: 0, bytes: 0, mountedBlobs: 3, presentBlobs: 0 });
    const text = await ferry(['sync', '--src', 'docker', '--dest', 'docker', '--dry-run', ...tls, ...same], { env: env() });
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines[0]).to.match(/: not at destination \(0 blobs, 0B, 3 mounted\)$/);
    expect(lines.at(-1)).to.equal('Plan: copy 1 image, skip 0; 0 blobs (0B) to move, 3 to mount from other repositories, 0 already at the destination');
    const r1 = await real(same, 'same');
    expect(r1).to.deep.equal({ uploads: p1.totals.blobs, mounts: p1.totals.mountedBlobs, reads: 0, bytes: p1.totals.bytes });
    expect(r1.mounts).to.equal(3);
    expect(size(b)).to.be.greaterThan(0);

    // 2. The source is on another registry; the blob-location cache names a repository of the destination registry
    //    for some blobs (image c's, copied there first) and none for the others: c's blobs are mounted, the rest move.
    const seeded = await ferry(['copy', '--quiet', ...tls, `docker://${src()}:v3`, `docker://${dest().host}/seed/app:v3`], { env: env() });
    expect(seeded.code, seeded.stderr).to.equal(0);
    const cached = [src(), `${dest().host}/cached`];
    const p2 = await plan(cached);
    const v3 = p2.images.find((i) => i.source === `docker://${src()}:v3`)!;
    expect(v3).to.deep.include({ action: 'copy', blobs: 0, bytes: 0, mounted: 3 });
    expect(p2.totals.mountedBlobs).to.be.at.least(3);
    // every blob of the four images counted once, as moving or as mounted (v4b is v4)
    expect(p2.totals.blobs + p2.totals.mountedBlobs).to.equal(12);
    expect(p2.totals.blobs).to.be.greaterThan(0);
    const r2 = await real(cached, 'cached');
    expect(r2).to.deep.equal({ uploads: p2.totals.blobs, mounts: p2.totals.mountedBlobs, reads: 0, bytes: p2.totals.bytes });
    expect(c.digest).to.equal(v3.digest);
  });

  it('--include-referrers: the referrers of each image, skipped or not, are planned as the real run copies them', async () => {
    const rhome = await cleanup.tempDir('cli-sync-plan-referrers-home');
    const renv = { HOME: rhome, XDG_CACHE_HOME: join(rhome, '.cache') };
    const dir = await cleanup.tempDir('cli-sync-plan-referrers');
    const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
    const tagOf = (digest: string, suffix = '') => `sha256-${digest.slice('sha256:'.length)}${suffix}`;
    const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
    const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
    /** A cosign-style signature manifest of `digest` (stored under `sha256-HEX.sig`) and its blobs. */
    const signature = (digest: string) => {
      const payload = Buffer.from(JSON.stringify({ critical: { image: { 'docker-manifest-digest': digest }, type: 'cosign container image signature' }, optional: null }));
      const config = Buffer.from(JSON.stringify({ architecture: '', os: '', config: {}, rootfs: { type: 'layers', diff_ids: [sha(payload)] } }));
      const bytes = Buffer.from(JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
        layers: [{ mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', digest: sha(payload), size: payload.length, annotations: { 'dev.cosignproject.cosign/signature': 'MEUCIQ==' } }],
      }));
      return { bytes, blobs: [config, payload] };
    };
    const e = await buildImage(join(dir, 'e'), { seed: 950, layers: 2, layerSize: 2_500 });
    const f = await buildImage(join(dir, 'f'), { seed: 951, layers: 2, layerSize: 3_500 });
    await pushImage(e, source(), 'src/signed:v1');
    await pushImage(f, source(), 'src/signed:v2');
    // v1: an SBOM (listed in its fallback index sha256-HEX) and a signature; v2: a signature
    const sbom = buildArtifact({ digest: e.digest, size: e.bytes.length, mediaType: e.mediaType });
    const sigE = signature(e.digest);
    const sigF = signature(f.digest);
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: sbom.mediaType, digest: sbom.digest, size: sbom.size, artifactType: sbom.artifactType }] }));
    await pushRaw(source(), 'src/signed', [...sbom.blobs.values(), ...sigE.blobs, ...sigF.blobs], [
      { ref: sbom.digest, mediaType: sbom.mediaType, bytes: sbom.bytes },
      { ref: tagOf(e.digest), mediaType: OCI_INDEX, bytes: index },
      { ref: tagOf(e.digest, '.sig'), mediaType: OCI_MANIFEST, bytes: sigE.bytes },
      { ref: tagOf(f.digest, '.sig'), mediaType: OCI_MANIFEST, bytes: sigF.bytes },
    ]);
    // v1 is at the destination already, without its referrers
    await pushImage(e, dest(), 'signed-mirror/signed:v1');
    const args = [...tls, '--include-referrers', `${source().host}/src/signed`, `${dest().host}/signed-mirror`];
    const p = await ferry(['sync', '--src', 'docker', '--dest', 'docker', '--dry-run', '--output', 'json', ...args], { env: renv });
    expect(p.code, p.stderr).to.equal(0);
    const plan = JSON.parse(p.stdout) as PlanDoc;
    const sum = (bs: Buffer[]) => bs.reduce((n, b) => n + b.length, 0);
    const imageBytes = (m: BuiltImage) => m.manifests[0]!.config.length + m.manifests[0]!.layers.reduce((n, l) => n + l.size, 0);
    const eReferrers = sum([...sbom.blobs.values(), ...sigE.blobs]);
    const fReferrers = sum(sigF.blobs);
    // the referrers' tags travel with their images, not as images of their own
    expect(plan.images.map((i) => i.source)).to.deep.equal([`docker://${source().host}/src/signed:v1`, `docker://${source().host}/src/signed:v2`]);
    // v1 is there, but not what refers to it: the copy does not skip it, and moves its referrers' blobs only
    expect(plan.images[0]).to.deep.include({ action: 'copy', digest: e.digest, destinationDigest: e.digest, blobs: 4, bytes: eReferrers, mounted: 0 });
    expect(plan.images[1]).to.deep.include({ action: 'copy', digest: f.digest, blobs: 5, bytes: imageBytes(f) + fReferrers, mounted: 0 });
    expect(plan.totals).to.deep.equal({ copy: 2, skip: 0, failed: 0, blobs: 9, bytes: eReferrers + imageBytes(f) + fReferrers, presentBlobs: 3, mountedBlobs: 0, unknownImages: 0 });

    // the real run moves exactly that
    const reportFile = join(rhome, 'report.jsonl');
    const from = await logSize();
    const r = await ferry(['sync', '--src', 'docker', '--dest', 'docker', '--report', reportFile, ...args], { env: renv });
    expect(r.code, r.stderr).to.equal(0);
    const report = (await readFile(reportFile, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as { source: string; action: string; bytes: number });
    expect(report.map((x) => [x.source, x.action])).to.deep.equal(plan.images.map((i) => [i.source, 'copied']));
    expect(report.map((x) => x.bytes)).to.deep.equal(plan.images.map((i) => i.bytes));
    expect(await uploadsSince(from)).to.equal(plan.totals.blobs);
    const sigAt = await fetch(`${dest().url}/v2/signed-mirror/signed/manifests/${tagOf(e.digest, '.sig')}`, { method: 'HEAD', headers: { accept: OCI_MANIFEST } });
    expect(sigAt.status).to.equal(200);

    // planned again: the referrers are there; the images are still copied (as the real run does), moving nothing
    const again = JSON.parse((await ferry(['sync', '--src', 'docker', '--dest', 'docker', '--dry-run', '--output', 'json', ...args], { env: renv })).stdout) as PlanDoc;
    expect(again.totals).to.deep.include({ copy: 2, skip: 0, blobs: 0, bytes: 0, presentBlobs: 12 });
  });
});
