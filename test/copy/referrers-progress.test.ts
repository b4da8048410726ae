/**
 * `--include-referrers` and progress: the referrers a copy brings along are reported like the image's own blobs
 * (an `image-plan` per referrer, blob events, `manifest-written`), so `copy --progress json` shows them and
 * `sync --report` counts their bytes. The destinations are other registries, so that no blob is mounted and every
 * byte moves.
 */
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ferry } from '../harness/cli.js';
import { buildArtifact, buildCosignAttestation, buildImage, pushImage, type BuiltArtifact, type BuiltAttestation, type BuiltImage } from '../harness/images.js';
import { pushRaw } from '../harness/push.js';
import { useRegistry } from '../harness/registry.js';
import { useCleanup } from '../harness/tmp.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const tagOf = (digest: string, suffix = '') => `sha256-${digest.slice('sha256:'.length)}${suffix}`;

interface Event {
  kind: string;
  digest?: string;
  size?: number;
  offset?: number;
  blobs?: number;
  list?: boolean;
}

describe('copy and sync --include-referrers report the referrers they copy', function () {
  this.timeout(120_000);
  const cleanup = useCleanup('after');
  const near = useRegistry('http');
  const far = useRegistry('http');
  // a registry of its own for the sync: nothing there to mount from what the copy wrote
  const syncFar = useRegistry('http');
  const tls = ['--src-tls-verify=false', '--dest-tls-verify=false'];
  let img: BuiltImage;
  let sbom: BuiltArtifact;
  let att: BuiltAttestation;
  /** Size of every distinct blob of the image, by digest. */
  const imageBlobs = new Map<string, number>();

  before(async () => {
    const dir = await cleanup.tempDir('referrers-progress');
    img = await buildImage(path.join(dir, 'img'), { seed: 621, tag: 'v1', layers: 2, layerSize: 5_000 });
    const m = JSON.parse(img.bytes.toString()) as { config: { digest: string; size: number }; layers: { digest: string; size: number }[] };
    for (const b of [m.config, ...m.layers]) imageBlobs.set(b.digest, b.size);
    await pushImage(img, near(), 'src/app:v1');
    sbom = buildArtifact({ digest: img.digest, size: img.bytes.length, mediaType: img.mediaType }, { content: 'x'.repeat(3_000) });
    att = buildCosignAttestation();
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: sbom.mediaType, digest: sbom.digest, size: sbom.size, artifactType: sbom.artifactType }] }));
    await pushRaw(near(), 'src/app', [...sbom.blobs.values(), ...att.blobs.values()], [
      { ref: sbom.digest, mediaType: sbom.mediaType, bytes: sbom.bytes },
      { ref: tagOf(img.digest), mediaType: OCI_INDEX, bytes: index },
      { ref: tagOf(img.digest, '.att'), mediaType: OCI_MANIFEST, bytes: att.bytes },
    ]);
  });

  it('copy --progress json: a plan, blob events and manifest-written for each referrer, before image-done', async () => {
    const r = await ferry(['copy', '--progress', 'json', '--include-referrers', ...tls, `docker://${near().host}/src/app:v1`, `docker://${far().host}/copied/app:v1`]);
    expect(r.code, r.stderr).to.equal(0);
    const events = r.stderr.trim().split('\n').map((l) => JSON.parse(l) as Event);
    const done = events.findIndex((e) => e.kind === 'image-done');
    expect(done).to.equal(events.length - 1);
    for (const [referrer, blobs] of [[sbom.digest, sbom.blobs], [att.digest, att.blobs]] as const) {
      const plan = events.findIndex((e) => e.kind === 'image-plan' && e.digest === referrer);
      expect(plan, `image-plan of ${referrer}`).to.be.greaterThan(-1);
      expect(events[plan]!.blobs).to.equal(blobs.size);
      const written = events.findIndex((e) => e.kind === 'manifest-written' && e.digest === referrer);
      expect(written, `manifest-written of ${referrer}`).to.be.greaterThan(plan);
      for (const [digest, bytes] of blobs) {
        const at = events.findIndex((e) => e.kind === 'done' && e.digest === digest);
        expect(at, `done of ${digest}`).to.be.greaterThan(plan).and.lessThan(written);
        expect(events[at]!.offset).to.equal(bytes.length);
      }
    }
    // the fallback index written at the destination is announced too
    const fallback = events.find((e) => e.kind === 'manifest-written' && e.list === true);
    expect(fallback?.digest).to.be.a('string');
  });

  it('sync --report counts the bytes of the referrers with the image', async () => {
    const dir = await cleanup.tempDir('referrers-progress-sync');
    const report = path.join(dir, 'report.jsonl');
    const r = await ferry(['sync', '--src', 'docker', '--dest', 'docker', '-q', '--include-referrers', '--report', report, ...tls, `${near().host}/src/app`, `${syncFar().host}/synced`]);
    expect(r.code, r.stderr).to.equal(0);
    const lines = (await readFile(report, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { destination: string; bytes: number; action: string });
    expect(lines.map((l) => l.action)).to.deep.equal(['copied']);
    const all = new Map(imageBlobs);
    for (const [d, b] of [...sbom.blobs, ...att.blobs]) all.set(d, b.length);
    expect(lines[0]!.bytes).to.equal([...all.values()].reduce((a, b) => a + b, 0));
  });
});
