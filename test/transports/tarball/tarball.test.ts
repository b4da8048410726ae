/**
 * `tarball:` against skopeo 1.9.3 on the same files: the same manifest and config bytes (in several time zones, since
 * the config carries the files' modification times in local time), the same `dir:` copy; standard input; errors.
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ErrorCode } from '../../../src/errors.js';
import { getTransport, parseImageName } from '../../../src/transports/registry.js';
import { ferry, ferryProcess } from '../../harness/cli.js';
import { runOk } from '../../harness/procs.js';
import { useCleanup } from '../../harness/tmp.js';
import { buildTar } from '../../store/tar-build.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
}

describe('transports/tarball', function () {
  this.timeout(60_000);
  const cleanup = useCleanup();
  let root: string;
  let plain: string;
  let gz: string;
  let tar: Buffer;

  before(async () => {
    root = await cleanup.tempDir('tarball');
    tar = buildTar([
      { name: 'etc/', type: 'dir' },
      { name: 'etc/hello.txt', data: Buffer.from('hello from a tarball\n') },
    ]);
    plain = join(root, 'rootfs.tar');
    gz = join(root, 'rootfs.tar.gz');
    writeFileSync(plain, tar);
    writeFileSync(gz, gzipSync(tar));
    // A time with nanoseconds that trim (…120 → .12), and one in winter for zones with summer time.
    utimesSync(plain, new Date('2024-01-15T10:20:30.12Z'), new Date('2024-01-15T10:20:30.12Z'));
    await runOk('touch', ['-m', '-d', '2023-07-01 12:00:00.123456789 UTC', gz]);
  });

  for (const tz of ['UTC', 'Europe/Berlin', 'America/St_Johns', 'Asia/Kolkata']) {
    it(`the manifest and config skopeo builds, byte for byte (TZ=${tz})`, async () => {
      for (const files of [plain, gz, `${plain}:${gz}`]) {
        for (const flags of [['--raw'], ['--config', '--raw']]) {
          const theirs = await runOk('skopeo', ['inspect', ...flags, `tarball:${files}`], { env: { TZ: tz } });
          const ours = await ferryProcess(['inspect', ...flags, `tarball:${files}`], { env: { TZ: tz } });
          expect(ours.code, ours.stderr).to.equal(0);
          expect(ours.stdout, `${flags.join(' ')} ${files}`).to.equal(theirs.stdout);
        }
      }
    });
  }

  it('inspect shows what skopeo shows; layers as they are, diff IDs of the content', async () => {
    const theirs = JSON.parse((await runOk('skopeo', ['inspect', `tarball:${plain}:${gz}`])).stdout) as Record<string, unknown>;
    const r = await ferry(['inspect', `tarball:${plain}:${gz}`]);
    expect(r.code, r.stderr).to.equal(0);
    const ours = JSON.parse(r.stdout) as Record<string, unknown>;
    for (const k of ['Digest', 'Created', 'Architecture', 'Os', 'Layers', 'RepoTags']) expect(ours[k], k).to.deep.equal(theirs[k]);
    expect(ours['Layers']).to.deep.equal([sha(tar), sha(readFileSync(gz))]);
    const config = JSON.parse((await ferry(['inspect', '--config', '--raw', `tarball:${gz}`])).stdout) as { rootfs: { diff_ids: string[] } };
    expect(config.rootfs.diff_ids).to.deep.equal([sha(tar)]);
  });

  it('copy to dir: gives the files skopeo gives', async () => {
    const ours = join(root, 'dir-ferry');
    const theirs = join(root, 'dir-skopeo');
    const r = await ferry(['copy', '-q', `tarball:${plain}:${gz}`, `dir:${ours}`]);
    expect(r.code, r.stderr).to.equal(0);
    await runOk('skopeo', ['--insecure-policy', 'copy', '-q', `tarball:${plain}:${gz}`, `dir:${theirs}`]);
    const names = readdirSync(theirs).sort();
    expect(readdirSync(ours).sort()).to.deep.equal(names);
    for (const n of names) expect(readFileSync(join(ours, n)).equals(readFileSync(join(theirs, n))), n).to.equal(true);
  });

  it('reads standard input for "-" (the bin/ferry process)', async () => {
    const r = await ferryProcess(['inspect', '--raw', 'tarball:-'], { stdin: tar.toString('latin1') });
    expect(r.code, r.stderr).to.equal(0);
    const m = JSON.parse(r.stdout) as { layers: { digest: string; mediaType: string }[] };
    expect(m.layers.map((l) => l.digest)).to.deep.equal([sha(tar)]);
    expect(m.layers[0]!.mediaType).to.equal('application/vnd.oci.image.layer.v1.tar');
  });

  it('errors: missing file (exit 2), not a regular file, corrupt gzip, bad references, read only, no scopes', async () => {
    let r = await ferry(['inspect', `tarball:${join(root, 'missing.tar')}`]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.include('missing.tar');
    r = await ferry(['inspect', `tarball:${root}`]);
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.include('not a regular file');
    const bad = join(root, 'bad.tar.gz');
    writeFileSync(bad, gzipSync(tar).subarray(0, 40));
    r = await ferry(['inspect', '--raw', `tarball:${bad}`]);
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.match(/corrupt or truncated gzip/);
    expect(codeOf(() => parseImageName('tarball:'))).to.equal(ErrorCode.InvalidReference);
    expect(codeOf(() => parseImageName(`tarball:${plain}::${gz}`))).to.equal(ErrorCode.InvalidReference);
    const ref = parseImageName(`tarball:${plain}:${gz}`);
    expect(ref.stringWithinTransport()).to.equal(`${plain}:${gz}`);
    expect(ref.policyIdentity()).to.equal('');
    expect(ref.policyNamespaces()).to.deep.equal([]);
    const err = await ref.newImageDestination({}).catch((e: { code?: string }) => e);
    expect((err as { code?: string }).code).to.equal(ErrorCode.Unsupported);
    expect(codeOf(() => getTransport('tarball')!.validatePolicyScope('/x'))).to.equal(ErrorCode.Config);
    r = await ferry(['copy', '-q', `dir:${join(root, 'dir-ferry')}`, `tarball:${join(root, 'out.tar')}`]);
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.include('can only be read from');
  });
});
