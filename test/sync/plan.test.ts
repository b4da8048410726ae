/** planSync (sync --dry-run's plan) and the --prune-max arithmetic, against a real registry and dir: destinations. */
import { expect } from 'chai';
import { join } from 'node:path';
import { PolicyContext } from '../../src/signature/policy/evaluate.js';
import { planSync, type PlannedImage } from '../../src/sync/plan.js';
import { DEFAULT_PRUNE_MAX, parsePruneMax, pruneLimit } from '../../src/sync/prune.js';
import { syncSources } from '../../src/sync/sources.js';
import { copyImage } from '../../src/copy/copy.js';
import { DockerReference } from '../../src/transports/docker/reference.js';
import { dirTransport } from '../../src/transports/dir/transport.js';
import { OciReference } from '../../src/transports/oci-layout/reference.js';
import { openSyncTarget } from '../../src/sync/archive-dest.js';
import { access, readdir } from 'node:fs/promises';
import { buildArtifact, buildImage, pushImage, type BuiltImage } from '../harness/images.js';
import { pushRaw } from '../harness/push.js';
import { useRegistry } from '../harness/registry.js';
import { useCleanup } from '../harness/tmp.js';

describe('sync/plan', function () {
  this.timeout(30_000);
  const registry = useRegistry('http');
  const cleanup = useCleanup();
  const img = new Map<string, BuiltImage>();
  const ctx = { tlsVerify: false };
  const copy = { policy: PolicyContext.acceptAnything(), destCtx: ctx };
  const blobBytes = (m: BuiltImage) => m.manifests[0]!.config.length + m.manifests[0]!.layers.reduce((n, l) => n + l.size, 0);

  before(async () => {
    const dir = await cleanup.tempDir('sync-plan');
    for (const [i, name] of ['a', 'b'].entries()) img.set(name, await buildImage(join(dir, name), { seed: 990 + i, layers: 2, layerSize: 2_000 }));
    for (const [tag, name] of [['v1', 'a'], ['v2', 'b'], ['v2b', 'b']] as const) await pushImage(img.get(name)!, registry(), `src/app:${tag}`);
  });

  it('--prune-max: N, P% (rounded down, at least 1; 0% none); anything else is a usage error', () => {
    expect(pruneLimit(DEFAULT_PRUNE_MAX, 5)).to.equal(1);
    expect(pruneLimit(DEFAULT_PRUNE_MAX, 0)).to.equal(1);
    expect(pruneLimit(DEFAULT_PRUNE_MAX, 39)).to.equal(3);
    expect(pruneLimit(parsePruneMax('25%'), 10)).to.equal(2);
    expect(pruneLimit(parsePruneMax('0%'), 100)).to.equal(0);
    expect(pruneLimit(parsePruneMax('100%'), 7)).to.equal(7);
    expect(pruneLimit(parsePruneMax('3'), 1000)).to.equal(3);
    expect(pruneLimit(parsePruneMax('0'), 1000)).to.equal(0);
    for (const bad of ['', '-1', '1.5', '101%', '10 %%', 'x']) expect(() => parsePruneMax(bad), bad).to.throw(/--prune-max must be/);
  });

  it('docker destination: skip/copy, reasons, blobs counted once per repository, images reported in source order', async () => {
    const host = registry().host;
    await copyImage(DockerReference.fromName(`${host}/src/app:v1`), DockerReference.fromName(`${host}/plan/app:v1`), { policy: copy.policy, srcCtx: ctx, destCtx: ctx });
    const seen: PlannedImage[] = [];
    const plan = await planSync(await syncSources('docker', `${host}/src/app`, ctx), { destKind: 'docker', destination: `${host}/plan`, copy, onImage: (p) => void seen.push(p) });
    expect(seen).to.deep.equal(plan.images);
    expect(plan.images.map((p) => p.seq)).to.deep.equal([0, 1, 2]);
    const by = (tag: string) => plan.images.find((p) => p.from === `docker://${host}/src/app:${tag}`)!;
    expect(by('v1')).to.deep.include({ action: 'skip', digest: img.get('a')!.digest, destinationDigest: img.get('a')!.digest, blobs: 0 });
    expect(by('v2')).to.deep.include({ action: 'copy', reason: 'not at destination', digest: img.get('b')!.digest });
    expect(by('v2b')).to.deep.include({ action: 'copy', reason: 'not at destination' });
    // the source repository is on the destination registry: its blobs would be mounted from it, not moved
    expect([by('v2').blobs, by('v2b').blobs]).to.deep.equal([0, 0]);
    expect([by('v2').mounted, by('v2b').mounted].sort()).to.deep.equal([0, 3]);
    expect(plan.totals).to.deep.equal({ copy: 2, skip: 1, failed: 0, blobs: 0, bytes: 0, presentBlobs: 0, mountedBlobs: 3, unknownImages: 0 });
    expect(blobBytes(img.get('b')!)).to.be.greaterThan(0);
    expect(plan.sources).to.equal(1);

    // skipping off: copied, and the blobs already there are not counted as moving
    const off = await planSync(await syncSources('docker', `${host}/src/app:v1`, ctx), { destKind: 'docker', destination: `${host}/plan`, copy, skipIfPresent: false });
    expect(off.images[0]).to.deep.include({ action: 'copy', reason: `skipping is off; destination has ${img.get('a')!.digest}`, blobs: 0, bytes: 0 });
    expect(off.totals.presentBlobs).to.equal(3);
  });

  it('--include-referrers: the referrers of each instance copied count with the image; with one platform chosen, of that one only', async () => {
    const host = registry().host;
    const dir = await cleanup.tempDir('sync-plan-referrers');
    const multi = await buildImage(join(dir, 'multi'), { seed: 995, tag: 'm', layers: 1, layerSize: 2_000, platforms: [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64' }] });
    await pushImage(multi, registry(), 'multi/app:m');
    const arm = multi.manifests[1]!;
    // an SBOM of the arm64 instance, listed in its fallback index (a tag of the repository, not an image of its own)
    const onArm = buildArtifact({ digest: arm.digest, size: arm.bytes.length, mediaType: arm.mediaType }, { content: 'arm64 sbom' });
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: onArm.mediaType, digest: onArm.digest, size: onArm.size, artifactType: onArm.artifactType }] }));
    await pushRaw(registry(), 'multi/app', onArm.blobs.values(), [
      { ref: onArm.digest, mediaType: onArm.mediaType, bytes: onArm.bytes },
      { ref: `sha256-${arm.digest.slice('sha256:'.length)}`, mediaType: 'application/vnd.oci.image.index.v1+json', bytes: index },
    ]);
    const blobsOf = (ms: typeof multi.manifests) => new Set(ms.flatMap((m) => [m.configDigest, ...m.layers.map((l) => l.digest)])).size;
    const planned = async (multiArch?: 'all') => {
      const plan = await planSync(await syncSources('docker', `${host}/multi/app`, { ...ctx, platform: { os: 'linux', architecture: 'amd64' } }), {
        destKind: 'docker', destination: `${host}/multi-plan`, copy: { ...copy, includeReferrers: true, ...(multiArch ? { multiArch } : {}) },
      });
      expect(plan.images.map((p) => p.from)).to.deep.equal([`docker://${host}/multi/app:m`]);
      expect(plan.images[0]!.action).to.equal('copy');
      // on the source's registry: every blob would be mounted from the source repository
      return plan.totals.blobs + plan.totals.mountedBlobs;
    };
    expect(await planned('all')).to.equal(blobsOf(multi.manifests) + onArm.blobs.size);
    expect(await planned()).to.equal(blobsOf([multi.manifests[0]!]));
  });

  it('dir destination: the image there is skipped, a missing one counted by blob file; nothing is created', async () => {
    const host = registry().host;
    const out = await cleanup.tempDir('sync-plan-dir');
    await copyImage(DockerReference.fromName(`${host}/src/app:v1`), dirTransport.parseReference(join(out, 'app:v1')), { policy: copy.policy, srcCtx: ctx });
    const plan = await planSync(await syncSources('docker', `${host}/src/app`, ctx), { destKind: 'dir', destination: out, copy });
    const by = (tag: string) => plan.images.find((p) => p.to === `dir:${join(out, `app:${tag}`)}`)!;
    expect(by('v1')).to.deep.include({ action: 'skip', digest: img.get('a')!.digest });
    // each dir: image is its own place: v2 and v2b both move their blobs
    expect(by('v2')).to.deep.include({ action: 'copy', blobs: 3 });
    expect(by('v2b')).to.deep.include({ action: 'copy', blobs: 3 });
    expect(await readdir(out)).to.deep.equal(['app:v1']);
  });

  it('oci destination: blobs are shared by the layout; a missing layout is not created; oci-archive is unknown', async () => {
    const host = registry().host;
    const out = await cleanup.tempDir('sync-plan-oci');
    const layout = join(out, 'layout');
    const groups = await syncSources('docker', `${host}/src/app`, ctx);
    const fresh = await planSync(groups, { destKind: 'oci', destination: layout, target: await openSyncTarget('oci', layout, {}, { dryRun: true }), copy });
    expect(fresh.totals).to.deep.include({ copy: 3, skip: 0, blobs: 6, unknownImages: 0 });
    expect(await access(layout).then(() => true, () => false)).to.equal(false);

    await copyImage(DockerReference.fromName(`${host}/src/app:v1`), new OciReference(layout, 'app:v1'), { policy: copy.policy, srcCtx: ctx });
    const plan = await planSync(groups, { destKind: 'oci', destination: layout, target: await openSyncTarget('oci', layout, {}, { dryRun: true }), copy });
    const by = (tag: string) => plan.images.find((p) => p.to === `oci:${layout}:app:${tag}`)!;
    expect(by('v1')).to.deep.include({ action: 'skip', digest: img.get('a')!.digest });
    expect([by('v2').blobs, by('v2b').blobs].sort()).to.deep.equal([0, 3]);
    expect(plan.totals).to.deep.include({ copy: 2, skip: 1, blobs: 3, bytes: blobBytes(img.get('b')!) });

    const archive = join(out, 'a.tar');
    const unknown = await planSync(groups, { destKind: 'oci-archive', destination: archive, target: await openSyncTarget('oci-archive', archive, {}, { dryRun: true }), copy });
    expect(unknown.images.every((p) => p.action === 'copy' && p.blobs === undefined && p.reason.startsWith('unknown: '))).to.equal(true);
    expect(unknown.totals).to.deep.include({ copy: 3, unknownImages: 3, blobs: 0 });
    expect(await readdir(out)).to.deep.equal(['layout']);
  });
});
