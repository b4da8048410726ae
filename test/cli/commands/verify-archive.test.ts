import { expect } from 'chai';
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ArchiveReport } from '../../../src/types/archive-report.js';
import { ferry } from '../../harness/cli.js';
import { buildImage, type BuiltImage } from '../../harness/images.js';
import { runOk } from '../../harness/procs.js';
import { useCleanup } from '../../harness/tmp.js';

/** Flips one bit in the middle of the data of tar entry `name` (found with GNU tar's block numbers). */
async function flipByteOf(file: string, name: string): Promise<void> {
  const listing = (await runOk('tar', ['-tvR', '-f', file])).stdout.split('\n');
  const line = listing.find((l) => l.endsWith(` ${name}`));
  if (!line) throw new Error(`${name} not in ${file}`);
  const block = Number(/^block (\d+):/.exec(line)![1]);
  const size = Number(line.split(/\s+/)[4]);
  const fh = await open(file, 'r+');
  try {
    const at = (block + 1) * 512 + Math.floor(size / 2);
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, at);
    b[0] = b[0]! ^ 0x10;
    await fh.write(b, 0, 1, at);
  } finally {
    await fh.close();
  }
}

describe('cli: ferry verify-archive', function () {
  this.timeout(60_000);
  const cleanup = useCleanup();
  let root: string;
  let a: BuiltImage;
  let multi: BuiltImage;
  let oci: string;
  let docker: string;

  before(async () => {
    root = await cleanup.tempDir('verify-archive');
    a = await buildImage(join(root, 'a'), { seed: 501, tag: 'v1', layers: 2, layerSize: 10_000 });
    multi = await buildImage(join(root, 'm'), {
      seed: 502,
      tag: 'v1',
      layers: 1,
      layerSize: 5_000,
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64', variant: 'v8' },
      ],
    });
    oci = join(root, 'oci.tar');
    for (const [src, ref, all] of [[a, 'app:1', false], [multi, 'multi:1', true]] as const) {
      const r = await ferry(['copy', '-q', ...(all ? ['--all'] : []), `oci:${src.layoutDir}:v1`, `oci-archive:${oci}:${ref}`]);
      expect(r.code, r.stderr).to.equal(0);
    }
    docker = join(root, 'docker.tar');
    expect((await ferry(['copy', '-q', `oci:${a.layoutDir}:v1`, `docker-archive:${docker}:team/app:1`])).code).to.equal(0);
  });

  it('reports the images of a sound OCI archive, as text and JSON', async () => {
    const t = await ferry(['verify-archive', oci]);
    expect(t.code, t.stderr).to.equal(0);
    expect(t.stdout).to.match(new RegExp(`^OCI archive ${oci}: 2 images, \\d+ blobs, `));
    expect(t.stdout).to.match(new RegExp(`\n  app:1 +${a.digest}  4 blobs  `));
    expect(t.stdout).to.include('linux/amd64,linux/arm64/v8  ok');
    expect(t.stdout.trimEnd().split('\n').at(-1)).to.equal('OK');
    const j = await ferry(['verify-archive', '--format', 'json', oci]);
    expect(j.code, j.stderr).to.equal(0);
    const r = JSON.parse(j.stdout) as ArchiveReport;
    expect(r.format).to.equal('oci');
    expect(r.images.map((i) => [i.name, i.digest, i.ok])).to.deep.equal([
      ['app:1', a.digest, true],
      ['multi:1', multi.digest, true],
    ]);
    // Sizes are the blobs' own: the image's layers, config and manifest.
    const m = a.manifests[0]!;
    expect(r.images[0]!.size).to.equal(m.layers.reduce((n, l) => n + l.size, 0) + m.config.length + a.bytes.length);
    expect(r.images[1]!.blobs).to.equal(1 + 2 * 3);
    expect(r.problems).to.deep.equal([]);
  });

  it('checks a docker archive: configs and layers against their diff IDs', async () => {
    const j = await ferry(['verify-archive', '--format', 'json', docker]);
    expect(j.code, j.stderr).to.equal(0);
    const r = JSON.parse(j.stdout) as ArchiveReport;
    expect(r.format).to.equal('docker-archive');
    expect(r.images.map((i) => [i.name, i.digest, i.blobs])).to.deep.equal([['docker.io/team/app:1', a.manifests[0]!.configDigest, 3]]);
    const bad = join(root, 'docker-bad.tar');
    await runOk('cp', [docker, bad]);
    const layer = a.manifests[0]!.layers[1]!.diffId.slice(7);
    await flipByteOf(bad, `${layer}.tar`);
    const e = await ferry(['verify-archive', bad]);
    expect(e.code).to.equal(1);
    expect(e.stderr).to.include(`Error: archive ${bad} is damaged: image "docker.io/team/app:1": blob sha256:${layer}: `);
  });

  it('a flipped byte, a missing blob: names the image and the blob, exits 1', async () => {
    const flipped = join(root, 'flipped.tar');
    await runOk('cp', [oci, flipped]);
    const layer = a.manifests[0]!.layers[0]!.digest;
    await flipByteOf(flipped, `blobs/sha256/${layer.slice(7)}`);
    const f = await ferry(['verify-archive', flipped]);
    expect(f.code).to.equal(1);
    expect(f.stdout).to.include(`Problem: image "app:1": blob ${layer}: digest mismatch`);
    expect(f.stderr).to.match(new RegExp(`^Error: archive ${flipped} is damaged: image "app:1": blob ${layer}: digest mismatch`));

    const missing = join(root, 'missing.tar');
    await runOk('cp', [oci, missing]);
    const arm = multi.manifests[1]!.layers[0]!.digest;
    const unpacked = join(root, 'missing');
    await runOk('mkdir', ['-p', unpacked]);
    await runOk('tar', ['-xf', oci, '-C', unpacked]);
    await runOk('rm', [join(unpacked, 'blobs', 'sha256', arm.slice(7))]);
    await runOk('tar', ['-cf', missing, '-C', unpacked, 'oci-layout', 'index.json', 'blobs']);
    const m = await ferry(['verify-archive', '--format', 'json', missing]);
    expect(m.code).to.equal(1);
    const r = JSON.parse(m.stdout) as ArchiveReport;
    expect(r.problems).to.deep.equal([{ image: 'multi:1', blob: arm, problem: 'missing from the archive' }]);
    expect(r.images.map((i) => i.ok)).to.deep.equal([true, false]);
  });

  it('a truncated archive or another file is one error line naming it', async () => {
    const cut = join(root, 'cut.tar');
    const bytes = await readFile(oci);
    await writeFile(cut, bytes.subarray(0, Math.floor(bytes.length / 2) + 7)); // not at a block boundary
    const c = await ferry(['verify-archive', cut]);
    expect(c.code).to.not.equal(0);
    expect(c.stderr, c.stderr).to.include(`Error: archive ${cut}: truncated archive: `);
    const n = await ferry(['verify-archive', join(root, 'nope.tar')]);
    expect(n.code).to.equal(2);
  });
});
