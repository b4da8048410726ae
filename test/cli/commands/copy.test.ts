import { expect } from 'chai';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parsePlatforms } from '../../../src/cli/commands/copy.js';
import { blobLine, createProgressRenderer, formatBytes } from '../../../src/cli/output/progress.js';
import { PassThrough } from 'node:stream';
import { ferry } from '../../harness/cli.js';
import { buildImage, layoutBlobPath, type BuiltImage } from '../../harness/images.js';
import { useCleanup } from '../../harness/tmp.js';
import type { ImageEvent, ProgressEvent } from '../../../src/types/progress.js';
import { useRegistry } from '../../harness/registry.js';
import { pushImage } from '../../harness/images.js';
import { Totals, formatEta } from '../../../src/cli/output/progress.js';
import { PolicyContext } from '../../../src/signature/policy/evaluate.js';

const short = (d: string) => d.slice(7, 19);

describe('cli: ferry copy', function () {
  this.timeout(30_000);
  const cleanup = useCleanup();
  let img: BuiltImage;
  let multi: BuiltImage;

  before(async () => {
    img = await buildImage(await cleanup.tempDir('cli-copy-src'), { seed: 31, layers: 2, layerSize: 10_000, tag: 't' });
    multi = await buildImage(await cleanup.tempDir('cli-copy-multi'), {
      seed: 32,
      layers: 1,
      layerSize: 5_000,
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm', variant: 'v7' },
        { os: 'linux', architecture: 's390x' },
      ],
    });
  });

  it('--quiet --digestfile: prints nothing and writes the manifest digest', async () => {
    const dest = await cleanup.tempDir('cli-copy-q');
    const digestFile = join(dest, 'digest');
    const r = await ferry(['copy', '--quiet', '--digestfile', digestFile, `oci:${img.layoutDir}:t`, `dir:${join(dest, 'img')}`]);
    expect(r.stderr).to.equal('');
    expect(r.code).to.equal(0);
    expect(r.stdout).to.equal('');
    expect(await readFile(digestFile, 'utf8')).to.equal(img.digest);
    expect((await readFile(join(dest, 'img', 'manifest.json'))).equals(img.bytes)).to.equal(true);
  });

  it('plain progress (default off a TTY): one line per blob and skopeo-like messages, nothing on stdout', async () => {
    const dest = await cleanup.tempDir('cli-copy-plain');
    const r = await ferry(['copy', `oci:${img.layoutDir}:t`, `oci:${dest}:x`]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.equal('');
    const lines = r.stderr.trimEnd().split('\n');
    const m = img.manifests[0]!;
    for (const l of m.layers) expect(lines).to.include(`Copying blob ${short(l.digest)} done | ${formatBytes(l.size)}`);
    expect(lines).to.include(`Copying config ${short(m.configDigest)} done | ${formatBytes(m.config.length)}`);
    expect(lines.at(-1)).to.equal('Writing manifest to image destination');
    const again = await ferry(['copy', `oci:${img.layoutDir}:t`, `oci:${dest}:x`]);
    expect(again.stderr).to.contain(`Copying blob ${short(m.layers[0]!.digest)} skipped: already exists`);
  });

  it('--progress json: one ProgressEvent per line', async () => {
    const dest = await cleanup.tempDir('cli-copy-json');
    const r = await ferry(['copy', '--progress', 'json', '--all', `oci:${multi.layoutDir}`, `oci:${dest}:all`]);
    expect(r.code, r.stderr).to.equal(0);
    const events = r.stderr.trimEnd().split('\n').map((l) => JSON.parse(l) as ProgressEvent);
    const done = events.filter((e) => e.kind === 'done');
    // 3 instances × (1 layer + 1 config)
    expect(done).to.have.length(6);
    expect(done.filter((e) => e.role === 'config')).to.have.length(3);
    for (const e of events) expect(['start', 'bytes', 'done', 'skipped', 'image-plan', 'manifest-written', 'image-done']).to.include(e.kind);
    const layer = multi.manifests[1]!.layers[0]!;
    expect(events.filter((e) => e.digest === layer.digest && e.kind !== 'bytes').map((e) => e.kind)).to.deep.equal(['start', 'done']);
  });

  it('--platform: copies a subset; --progress tty draws persistent lines', async () => {
    const dest = await cleanup.tempDir('cli-copy-plat');
    const r = await ferry(['copy', '--progress', 'tty', '--platform', 'linux/arm/v7,linux/s390x', `oci:${multi.layoutDir}`, `dir:${dest}`]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.contain(`Copying blob ${short(multi.manifests[2]!.layers[0]!.digest)} done`);
    expect(r.stderr).to.contain('Writing manifest list to image destination');
    const index = JSON.parse(await readFile(join(dest, 'manifest.json'), 'utf8'));
    expect(index.manifests.map((d: { digest: string }) => d.digest)).to.deep.equal([multi.manifests[1]!.digest, multi.manifests[2]!.digest]);
  });

  it('reports failures on stderr with exit status 1 and usage errors', async () => {
    const src = await cleanup.tempDir('cli-copy-bad');
    const bad = await buildImage(src, { seed: 33, layers: 1, layerSize: 5_000 });
    const victim = bad.manifests[0]!.layers[0]!.digest;
    const bytes = await readFile(layoutBlobPath(src, victim));
    bytes[50] ^= 1;
    await writeFile(layoutBlobPath(src, victim), bytes);
    const dest = await cleanup.tempDir('cli-copy-bad-dest');
    const r = await ferry(['copy', '-q', `oci:${src}`, `oci:${dest}:x`]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/^Error: .*digest mismatch/);
    expect(r.stderr).to.contain(victim);

    const u = await ferry(['copy', '--all', '--multi-arch', 'all', `oci:${src}`, `oci:${dest}:x`]);
    expect(u.code).to.equal(1);
    expect(u.stderr).to.contain('--all and --multi-arch');
    const p = await ferry(['copy', '--platform', 'linux', `oci:${src}`, `oci:${dest}:x`]);
    expect(p.code).to.equal(1);
    expect(p.stderr).to.contain('OS/ARCH');
  });

  it('parsePlatforms and the renderer helpers', async () => {
    expect(parsePlatforms('linux/amd64, linux/arm64/v8')).to.deep.equal([
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
    ]);
    expect(() => parsePlatforms('linux//x')).to.throw(/OS\/ARCH/);
    expect(formatBytes(512)).to.equal('512B');
    expect(formatBytes(100 * 1024 * 1024)).to.equal('100.0MiB');
    const d = 'sha256:4d69376f3a1c' + '0'.repeat(52);
    expect(blobLine({ kind: 'done', digest: d, size: 10, offset: 10, role: 'layer' })).to.equal('Copying blob 4d69376f3a1c done | 10B');
    expect(blobLine({ kind: 'skipped', digest: d, size: 10, offset: 10, role: 'config', reason: 'already exists' })).to.equal('Copying config 4d69376f3a1c skipped: already exists');

    // plain mode prints a byte count line for long blobs every interval
    let t = 0;
    const out = new PassThrough();
    const chunks: string[] = [];
    out.on('data', (c: Buffer) => chunks.push(c.toString()));
    const r = await createProgressRenderer('plain', out, { plainIntervalMs: 5000, now: () => t });
    r.onProgress({ kind: 'start', digest: d, size: 10 << 20, offset: 0, role: 'layer' });
    t = 3000;
    r.onProgress({ kind: 'bytes', digest: d, size: 10 << 20, offset: 1 << 20, role: 'layer' });
    t = 5500;
    r.onProgress({ kind: 'bytes', digest: d, size: 10 << 20, offset: 2 << 20, role: 'layer' });
    t = 6000;
    r.onProgress({ kind: 'bytes', digest: d, size: 10 << 20, offset: 3 << 20, role: 'layer' });
    await r.finish();
    expect(chunks.join('')).to.equal('Copying blob 4d69376f3a1c 2.0MiB / 10.0MiB\n');
  });

  describe('progress of a copy from a registry', () => {
    const reg = useRegistry('http');
    let big: BuiltImage;
    before(async () => {
      big = await buildImage(await cleanup.tempDir('cli-copy-progress'), { seed: 33, layers: 4, layerSize: 200_000, tag: 'p' });
      await pushImage(big, reg(), 'team/progress:p');
    });

    it('--progress json: the image plan (every blob, config included, and the total) before the first byte; manifest written; image done with its digest', async () => {
      const dest = await cleanup.tempDir('cli-copy-progress-json');
      const digestFile = join(dest, 'digest');
      const r = await ferry(['copy', '--progress', 'json', '--src-tls-verify=false', '--digestfile', digestFile, `docker://${reg().host}/team/progress:p`, `dir:${join(dest, 'img')}`]);
      expect(r.code, r.stderr).to.equal(0);
      const events = r.stderr.trimEnd().split('\n').map((l) => JSON.parse(l) as ProgressEvent | ImageEvent);
      const m = big.manifests[0]!;
      const total = m.layers.reduce((n, l) => n + l.size, 0) + m.config.length;
      expect(events[0]).to.deep.equal({ kind: 'image-plan', digest: big.digest, blobs: m.layers.length + 1, size: total, unknownSizes: 0 });
      const blobEvents = events.filter((e): e is ProgressEvent => ['start', 'bytes', 'done', 'skipped'].includes(e.kind));
      const done = blobEvents.filter((e) => e.kind === 'done');
      expect(done).to.have.length(m.layers.length + 1);
      expect(done.reduce((n, e) => n + e.offset, 0)).to.equal(total);
      const digest = await readFile(digestFile, 'utf8');
      expect(events.at(-2)).to.deep.equal({ kind: 'manifest-written', digest, mediaType: m.mediaType, size: big.bytes.length, list: false });
      expect(events.at(-1)).to.deep.equal({ kind: 'image-done', digest });
    });

    it('the totals are whole from the start (bytes and blobs, config included) and a terminal gets an ETA', async () => {
      const dest = await cleanup.tempDir('cli-copy-progress-totals');
      const events: (ProgressEvent | ImageEvent)[] = [];
      const { copyImage } = await import('../../../src/copy/copy.js');
      const { parseImageName } = await import('../../../src/transports/registry.js');
      await copyImage(parseImageName(`docker://${reg().host}/team/progress:p`), parseImageName(`dir:${join(dest, 'img')}`), {
        srcCtx: { tlsVerify: false },
        policy: PolicyContext.acceptAnything(),
        progressIntervalMs: 0,
        onProgress: (e) => events.push(e),
        onImage: (e) => events.push(e),
      });
      const m = big.manifests[0]!;
      const total = formatBytes(m.layers.reduce((n, l) => n + l.size, 0) + m.config.length);
      const totals = new Totals();
      const lines: string[] = [];
      let t = 0;
      for (const e of events) {
        t += 1000;
        if (e.kind === 'image-plan') totals.plan(e);
        else if (e.kind === 'start' || e.kind === 'bytes' || e.kind === 'done' || e.kind === 'skipped') totals.update(e, t);
        else continue;
        lines.push(totals.summary(t + 500, true));
      }
      expect(lines[0]).to.equal(`Copying: 0B / ${total}, -, blobs 0/5`);
      for (const l of lines) expect(l).to.match(new RegExp(`^Copying: \\S+ / ${total.replace('.', '\\.')}, \\S+, blobs [0-5]/5`));
      expect(lines.at(-1)).to.match(new RegExp(`^Copying: ${total.replace('.', '\\.')} / ${total.replace('.', '\\.')}, \\S+/s, blobs 5/5$`));
      expect(lines.some((l) => /, ETA \d+s$/.test(l))).to.equal(true);
    });
  });

  it('ETA and blob counts across the images of a multi-platform copy', () => {
    expect([formatEta(0.2), formatEta(45), formatEta(185), formatEta(7620)]).to.deep.equal(['1s', '45s', '3m05s', '2h07m']);
    const totals = new Totals();
    const d = (n: number) => `sha256:${String(n).repeat(64)}`;
    totals.plan({ kind: 'image-plan', digest: d(1), blobs: 2, size: 3000, unknownSizes: 0 });
    expect(totals.summary(500, true)).to.equal('Copying: 0B / 2.9KiB, -, blobs 0/2');
    totals.update({ kind: 'start', digest: d(2), size: 1000, offset: 0 }, 1000);
    totals.update({ kind: 'done', digest: d(2), size: 1000, offset: 1000 }, 2000);
    expect(totals.summary(2000, true)).to.equal('Copying: 1000B / 2.9KiB, 1000B/s, blobs 1/2, ETA 2s');
    totals.update({ kind: 'done', digest: d(3), size: 2000, offset: 2000 }, 3000);
    // the second instance shares a layer (skipped: its bytes do not count as speed) and has its own config
    totals.plan({ kind: 'image-plan', digest: d(4), blobs: 2, size: 3500, unknownSizes: 0 });
    expect(totals.summary(3000, true)).to.equal('Copying: 2.9KiB / 6.3KiB, 1.5KiB/s, blobs 2/4, ETA 3s');
    totals.update({ kind: 'skipped', digest: d(2), size: 1000, offset: 1000, reason: 'already exists' }, 3000);
    totals.update({ kind: 'done', digest: d(5), size: 2500, offset: 2500 }, 4000);
    expect(totals.summary(4000, true)).to.equal('Copying: 6.3KiB / 6.3KiB, 1.8KiB/s, blobs 4/4');
  });
});
