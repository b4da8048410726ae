/**
 * `sif:` against skopeo 1.9.3 on SIF files built here (test/harness/sif.ts, with `mksquashfs` for the partition):
 * the same manifest and config (but for the layer's digest: the unpacked tree's times differ from one read to the
 * next, for skopeo too), the same layer content; a hostile partition; malformed files.
 */
import { expect } from 'chai';
import { chmodSync, chownSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { ErrorCode } from '../../../src/errors.js';
import { getTransport, parseImageName } from '../../../src/transports/registry.js';
import { ferry } from '../../harness/cli.js';
import { runOk } from '../../harness/procs.js';
import { SIF_DATA_DEFFILE, SIF_DATA_PARTITION, SIF_FS_SQUASH, SIF_PART_PRIMSYS, writeSif } from '../../harness/sif.js';
import { useCleanup } from '../../harness/tmp.js';
import { hasCommand, isRoot } from '../../store/helpers.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
/** JSON with every sha256 hex replaced, for comparing images whose layer bytes differ. */
const masked = (s: string) => s.replace(/[0-9a-f]{64}/g, 'X');

const DEFFILE = 'Bootstrap: docker\nFrom: busybox\n\n%environment\n    export GREETING=hello\n    # a comment\n\n%runscript\n    echo "$GREETING" "$@"\n\n%labels\n    Author test\n';

/** `tar -tv` of a layer without the time columns: type/mode, owner, size, name, link target. */
async function listing(tarFile: string): Promise<string[]> {
  const out = (await runOk('tar', ['--numeric-owner', '-tvf', tarFile])).stdout;
  return out
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split(/\s+/).filter((_, i) => i !== 3 && i !== 4).join(' '))
    .sort();
}

/** The layer file of a `dir:` copy. */
function dirLayer(dir: string): string {
  const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { layers: { digest: string }[] };
  return join(dir, m.layers[0]!.digest.slice(7));
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
}

describe('transports/sif', function () {
  this.timeout(120_000);
  const cleanup = useCleanup();
  let root: string;
  let squashfs: Buffer;

  /** A squashfs image of a small tree made by `fill`. */
  async function makeSquashfs(name: string, fill: (dir: string) => void): Promise<Buffer> {
    const dir = join(root, `${name}-tree`);
    mkdirSync(dir);
    fill(dir);
    const file = join(root, `${name}.sqfs`);
    await runOk('mksquashfs', [dir, file, '-noappend', '-quiet', '-no-progress']);
    return readFileSync(file);
  }

  function sif(name: string, partition: Buffer, deffile?: string, patch?: (h: Buffer, d: Buffer) => void): string {
    const file = join(root, `${name}.sif`);
    const objects = [];
    if (deffile !== undefined) objects.push({ datatype: SIF_DATA_DEFFILE, data: Buffer.from(deffile) });
    objects.push({ datatype: SIF_DATA_PARTITION, data: partition, partition: { fstype: SIF_FS_SQUASH, parttype: SIF_PART_PRIMSYS, arch: '02' } });
    writeSif(file, { objects, time: 1_650_000_000, patch });
    return file;
  }

  before(async function () {
    if (!hasCommand('mksquashfs') || !hasCommand('unsquashfs')) this.skip();
    root = await cleanup.tempDir('sif');
    squashfs = await makeSquashfs('main', (d) => {
      mkdirSync(join(d, 'etc'));
      writeFileSync(join(d, 'etc', 'hello.txt'), 'hello from a SIF\n');
      mkdirSync(join(d, 'bin'));
      writeFileSync(join(d, 'bin', 'tool'), '#!/bin/sh\necho tool\n');
      chmodSync(join(d, 'bin', 'tool'), 0o750);
      symlinkSync('../etc/hello.txt', join(d, 'bin', 'link'));
      if (isRoot) chownSync(join(d, 'etc', 'hello.txt'), 1234, 5678);
    });
  });

  for (const withDeffile of [true, false]) {
    it(`the manifest and config skopeo builds, and the same layer content (${withDeffile ? 'with' : 'without'} a definition file)`, async function () {
      if (!hasCommand('skopeo') || !hasCommand('fakeroot')) this.skip();
      const file = sif(withDeffile ? 'with-def' : 'no-def', squashfs, withDeffile ? DEFFILE : undefined);
      for (const flags of [['--raw'], ['--config', '--raw']]) {
        const theirs = await runOk('skopeo', ['inspect', ...flags, `sif:${file}`]);
        const ours = await ferry(['inspect', ...flags, `sif:${file}`]);
        expect(ours.code, ours.stderr).to.equal(0);
        expect(masked(ours.stdout)).to.equal(masked(theirs.stdout));
      }
      const config = JSON.parse((await ferry(['inspect', '--config', '--raw', `sif:${file}`])).stdout) as { config: { Cmd: string[] } };
      expect(config.config.Cmd).to.deep.equal(withDeffile ? ['/podman/runscript'] : ['bash']);
      const ours = join(root, `copy-ferry-${withDeffile}`);
      const theirs = join(root, `copy-skopeo-${withDeffile}`);
      const c = await ferry(['copy', '-q', `sif:${file}`, `dir:${ours}`]);
      expect(c.code, c.stderr).to.equal(0);
      await runOk('skopeo', ['--insecure-policy', 'copy', '-q', `sif:${file}`, `dir:${theirs}`]);
      expect(await listing(dirLayer(ours))).to.deep.equal(await listing(dirLayer(theirs)));
      const layer = readFileSync(dirLayer(ours));
      const cfg = JSON.parse(readFileSync(join(ours, (JSON.parse(readFileSync(join(ours, 'manifest.json'), 'utf8')) as { config: { digest: string } }).config.digest.slice(7)), 'utf8')) as {
        rootfs: { diff_ids: string[] };
      };
      expect(cfg.rootfs.diff_ids).to.deep.equal([sha(layer)]);
      if (withDeffile) {
        const script = (await runOk('tar', ['-xOf', dirLayer(ours), './podman/runscript'])).stdout;
        expect(script).to.equal((await runOk('tar', ['-xOf', dirLayer(theirs), './podman/runscript'])).stdout);
        expect(script).to.match(/^#!\/bin\/bash\nexport GREETING=hello\necho "\$GREETING" "\$@"\n/);
      }
    });
  }

  it('a partition whose /podman is a link out of the tree: the runscript goes into the layer, never through the link', async () => {
    const bystander = join(root, 'bystander');
    mkdirSync(bystander);
    const hostile = await makeSquashfs('hostile', (d) => {
      symlinkSync(bystander, join(d, 'podman'));
      writeFileSync(join(d, 'file'), 'x');
    });
    const file = sif('hostile', hostile, DEFFILE);
    const out = join(root, 'hostile-copy');
    const c = await ferry(['copy', '-q', `sif:${file}`, `dir:${out}`]);
    expect(c.code, c.stderr).to.equal(0);
    expect(readdirSync(bystander)).to.deep.equal([]);
    const names = await listing(dirLayer(out));
    expect(names.some((l) => l.startsWith('d') && l.endsWith(' ./podman/'))).to.equal(true);
    expect(names.some((l) => l.endsWith(' ./podman/runscript'))).to.equal(true);
  });

  it('errors: not a SIF file, a descriptor table past the end, no primary partition, a missing file; read only; path scopes', async () => {
    const junk = join(root, 'junk.sif');
    writeFileSync(junk, Buffer.alloc(5000, 7));
    let r = await ferry(['inspect', `sif:${junk}`]);
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.include('not a valid SIF file');
    const long = sif('long-table', squashfs, undefined, (h) => h.writeBigInt64LE(4000n, 88));
    r = await ferry(['inspect', `sif:${long}`]);
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.include('descriptor table');
    const noPrimary = join(root, 'no-primary.sif');
    writeSif(noPrimary, { objects: [{ datatype: SIF_DATA_DEFFILE, data: Buffer.from(DEFFILE) }] });
    r = await ferry(['inspect', `sif:${noPrimary}`]);
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.include('no primary system partition');
    r = await ferry(['inspect', `sif:${join(root, 'missing.sif')}`]);
    expect(r.code).to.equal(2);
    const ref = parseImageName(`sif:${junk}`);
    expect(ref.policyIdentity()).to.equal(junk);
    expect(ref.policyNamespaces()[0]).to.equal(root);
    const e = await ref.newImageDestination({}).catch((x: { code?: string }) => x);
    expect((e as { code?: string }).code).to.equal(ErrorCode.Unsupported);
    expect(codeOf(() => getTransport('sif')!.validatePolicyScope('relative'))).to.equal(ErrorCode.Config);
    expect(codeOf(() => getTransport('sif')!.validatePolicyScope('/srv/images'))).to.equal(undefined);
    expect(codeOf(() => parseImageName('sif:'))).to.equal(ErrorCode.InvalidReference);
  });
});
