/**
 * OCI layouts that hold symbolic links, FIFOs and linked blob directories (real bin/ferry, bystander trees in temp
 * directories). Reading follows the links — Bazel's rules_oci and Nix build layouts whose blobs, or whose whole
 * `blobs` directory, are links — but a copy into a layout or a delete from one never writes, replaces or removes
 * through a link, never replaces what is not a regular file, and never waits on a FIFO: it refuses with one line,
 * exits non-zero and leaves the layout and the bystanders as they were.
 */
import { expect } from 'chai';
import { cp, lstat, mkdir, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ferry, ferryProcess } from '../../harness/cli.js';
import { buildImage, layoutBlobPath, type BuiltImage } from '../../harness/images.js';
import { run } from '../../harness/procs.js';
import { useCleanup } from '../../harness/tmp.js';

/** Every file under `dir` with its content (links as `-> target`), to compare a bystander tree before and after. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const p = join(e.parentPath, e.name);
    if (e.isSymbolicLink()) out[p] = `-> ${await readlink(p)}`;
    else if (e.isFile()) out[p] = await readFile(p, 'base64');
    else if (e.isDirectory()) out[p] = 'dir';
    else out[p] = 'other';
  }
  return out;
}

async function mkfifo(path: string): Promise<void> {
  expect((await run('mkfifo', [path])).code).to.equal(0);
}

describe('transports/oci-layout: links, FIFOs and linked blob directories (real bin/ferry)', function () {
  this.timeout(120_000);
  const cleanup = useCleanup('after');
  let img: BuiltImage;
  let src: string;

  before(async () => {
    const root = await cleanup.tempDir('oci-links-src');
    img = await buildImage(join(root, 'layout'), { seed: 91, tag: 'x', layers: 1, layerSize: 2000 });
    src = `oci:${img.layoutDir}:x`;
  });

  /** A temp root with `dst` (the layout written into) and `outside` (a bystander tree with a file). */
  async function roots(): Promise<{ dst: string; outside: string }> {
    const root = await cleanup.tempDir('oci-links');
    const outside = join(root, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'keep'), 'bystander\n');
    return { dst: join(root, 'dst'), outside };
  }

  /** A layout at `dir` whose blobs are links to the built image's blob files (as Bazel's rules_oci makes them). */
  async function linkedBlobsLayout(dir: string): Promise<void> {
    await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    await cp(join(img.layoutDir, 'oci-layout'), join(dir, 'oci-layout'));
    await cp(join(img.layoutDir, 'index.json'), join(dir, 'index.json'));
    for (const name of await readdir(join(img.layoutDir, 'blobs', 'sha256'))) {
      await symlink(join(img.layoutDir, 'blobs', 'sha256', name), join(dir, 'blobs', 'sha256', name));
    }
  }

  it('reads a layout whose blobs are links (Bazel) and one whose blobs directory and index.json are links (Nix)', async () => {
    const { dst } = await roots();
    const bazel = `${dst}-bazel`;
    await linkedBlobsLayout(bazel);
    const nix = `${dst}-nix`;
    await mkdir(nix);
    await symlink(join(img.layoutDir, 'blobs'), join(nix, 'blobs'));
    await symlink(join(img.layoutDir, 'index.json'), join(nix, 'index.json'));
    await symlink(join(img.layoutDir, 'oci-layout'), join(nix, 'oci-layout'));
    for (const layout of [bazel, nix]) {
      const i = await ferryProcess(['inspect', '--raw', `oci:${layout}:x`]);
      expect(i.code, i.stderr).to.equal(0);
      expect(i.stdout).to.equal(await readFile(layoutBlobPath(img.layoutDir, img.digest), 'utf8'));
      const out = `${layout}-copy`;
      const c = await ferryProcess(['copy', '--quiet', `oci:${layout}:x`, `oci:${out}:y`]);
      expect(c.code, c.stderr).to.equal(0);
      const s = await run('skopeo', ['inspect', '--raw', `oci:${out}:y`]);
      expect(s.code, s.stderr).to.equal(0);
    }
    // a copy into the Bazel layout finds every blob there (through its link) and writes none
    const c = await ferryProcess(['copy', '--quiet', src, `oci:${bazel}:again`]);
    expect(c.code, c.stderr).to.equal(0);
    for (const name of await readdir(join(bazel, 'blobs', 'sha256'))) expect((await lstat(join(bazel, 'blobs', 'sha256', name))).isSymbolicLink(), name).to.equal(true);
  });

  for (const [kind, make] of [
    ['a symbolic link to a bystander file', async (p: string, outside: string) => {
      await cp(join(img.layoutDir, p.endsWith('index.json') ? 'index.json' : 'oci-layout'), join(outside, 'target'));
      await symlink(join(outside, 'target'), p);
    }],
    ['a symbolic link to nothing', async (p: string, outside: string) => symlink(join(outside, 'nothing'), p)],
    ['a FIFO', async (p: string) => mkfifo(p)],
  ] as const) {
    for (const file of ['index.json', 'oci-layout', 'index.json.lock']) {
      // an oci-layout marker that reads well (through its link) is only read, never written: the copy goes on
      const readOnly = file === 'oci-layout' && kind === 'a symbolic link to a bystander file';
      it(`${file} as ${kind}: ${readOnly ? 'read, never replaced' : 'a copy into the layout is refused before any blob'}, the bystanders untouched`, async () => {
        const { dst, outside } = await roots();
        await mkdir(dst);
        if (file !== 'oci-layout') await writeFile(join(dst, 'oci-layout'), '{"imageLayoutVersion": "1.0.0"}');
        const path = join(dst, file);
        await make(path, outside);
        const before = { dst: await snapshot(dst), outside: await snapshot(outside) };
        const r = await ferryProcess(['copy', '--quiet', src, `oci:${dst}:y`], { timeoutMs: 30_000 });
        expect(await snapshot(outside)).to.deep.equal(before.outside);
        if (readOnly) {
          expect(r.code, r.stderr).to.equal(0);
          expect(await readlink(path)).to.equal(join(outside, 'target'));
          return;
        }
        expect(r.code, r.stderr).to.equal(1);
        const what = { 'index.json': 'OCI layout index', 'oci-layout': 'OCI layout marker file', 'index.json.lock': 'OCI layout lock file' }[file];
        const is = kind === 'a FIFO' ? 'a FIFO' : 'a symbolic link';
        // a FIFO as oci-layout is refused as it is read (it is read before anything is written)
        const message = file === 'oci-layout' && kind === 'a FIFO' ? `${what} (${path}) is a FIFO, not a regular file` : `${what} ${path} is ${is}, not a regular file: refusing to replace it`;
        expect(r.stderr).to.equal(`Error: ${message}\n`);
        expect(await snapshot(dst)).to.deep.equal(before.dst);
      });
    }
  }

  it('blobs/sha256 (or blobs) a link to a directory outside: a copy into the layout and a delete from it are refused, nothing written or removed there', async () => {
    for (const linked of ['blobs/sha256', 'blobs']) {
      const { dst, outside } = await roots();
      await mkdir(linked === 'blobs' ? dst : join(dst, 'blobs'), { recursive: true });
      await symlink(outside, join(dst, linked));
      const before = await snapshot(outside);
      const r = await ferryProcess(['copy', '--quiet', src, `oci:${dst}:y`], { timeoutMs: 30_000 });
      expect(r.code, r.stderr).to.equal(1);
      const d = linked === 'blobs' ? join(dst, 'blobs') : join(dst, 'blobs', 'sha256');
      expect(r.stderr).to.equal(`Error: OCI layout ${dst}: ${d} is a symbolic link, not a directory: refusing to write or remove blobs through it\n`);
      expect(await snapshot(outside), linked).to.deep.equal(before);
    }
    // delete: the layout's blobs are a bystander layout's (a copy of the image), reached through blobs/sha256
    const { dst, outside } = await roots();
    const other = join(outside, 'layout');
    await cp(img.layoutDir, other, { recursive: true });
    await mkdir(join(dst, 'blobs'), { recursive: true });
    await cp(join(img.layoutDir, 'oci-layout'), join(dst, 'oci-layout'));
    await cp(join(img.layoutDir, 'index.json'), join(dst, 'index.json'));
    await symlink(join(other, 'blobs', 'sha256'), join(dst, 'blobs', 'sha256'));
    const before = { dst: await snapshot(dst), outside: await snapshot(outside) };
    const r = await ferryProcess(['delete', `oci:${dst}:x`], { timeoutMs: 30_000 });
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stderr).to.equal(`Error: OCI layout ${dst}: ${join(dst, 'blobs', 'sha256')} is a symbolic link, not a directory: refusing to write or remove blobs through it\n`);
    expect(await snapshot(dst)).to.deep.equal(before.dst);
    expect(await snapshot(outside)).to.deep.equal(before.outside);
  });

  it('a blob path that is a link to a bystander file of another size, or to nothing: refused, never replaced; the bystanders untouched', async () => {
    const layer = img.manifests[0]!.layers[0]!.digest;
    for (const target of ['keep', 'nothing']) {
      const { dst, outside } = await roots();
      const blob = layoutBlobPath(dst, layer);
      await mkdir(join(dst, 'blobs', 'sha256'), { recursive: true });
      await symlink(join(outside, target), blob);
      const before = { dst: await snapshot(dst), outside: await snapshot(outside) };
      const r = await ferryProcess(['copy', '--quiet', src, `oci:${dst}:y`], { timeoutMs: 30_000 });
      expect(r.code, r.stderr).to.equal(1);
      const is = target === 'keep' ? 'a symbolic link to a file of 10 bytes' : 'a symbolic link to nothing';
      expect(r.stderr).to.contain(`blob ${layer} in OCI layout ${dst}: ${blob} is ${is}, not a regular file: refusing to replace it`);
      expect(r.stderr.trimEnd().split('\n')).to.have.length(1);
      expect(await readlink(blob)).to.equal(join(outside, target));
      expect(await snapshot(outside)).to.deep.equal(before.outside);
      // the failed copy removed what it wrote: the layout holds what it held
      expect(await snapshot(dst)).to.deep.equal(before.dst);
    }
  });

  it('delete from a layout whose blobs are links (Bazel) removes the links, never the files they point to', async () => {
    const { dst } = await roots();
    await linkedBlobsLayout(dst);
    const before = await snapshot(img.layoutDir);
    const r = await ferry(['delete', `oci:${dst}:x`]);
    expect(r.code, r.stderr).to.equal(0);
    expect(await readdir(join(dst, 'blobs', 'sha256'))).to.deep.equal([]);
    expect(await snapshot(img.layoutDir)).to.deep.equal(before);
  });

  it('a FIFO as index.json.lock: delete fails at once naming it', async () => {
    const { dst } = await roots();
    await cp(img.layoutDir, dst, { recursive: true });
    await mkfifo(join(dst, 'index.json.lock'));
    const r = await ferryProcess(['delete', `oci:${dst}:x`], { timeoutMs: 30_000 });
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stderr).to.equal(`Error: lock file ${join(dst, 'index.json.lock')} is a FIFO, not a regular file\n`);
    expect(await readFile(join(dst, 'index.json'), 'utf8')).to.equal(await readFile(join(img.layoutDir, 'index.json'), 'utf8'));
    await rm(join(dst, 'index.json.lock'));
  });
});
