/**
 * A copy into an OCI layout never commits an `index.json` naming a blob that another process removed after the copy
 * stored it or found it there: deleting an image that shared it, or a failed copy removing what it wrote. The commit
 * puts such a blob back (a manifest from its bytes, another blob from the copy's pin of it), or fails naming it. The
 * interleavings are driven step by step: the destination is opened and filled in-process, the removal runs (in
 * process, or as the real `bin/ferry delete`), then the destination commits.
 */
import { expect } from 'chai';
import { lstat, mkdir, readdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { MediaType } from '../../../src/manifest/media-types.js';
import { deleteOciImage } from '../../../src/transports/oci-layout/delete.js';
import type { OciReference } from '../../../src/transports/oci-layout/reference.js';
import { parseImageName } from '../../../src/transports/registry.js';
import type { ImageDestination } from '../../../src/types/image.js';
import { ROOT, ferryProcess } from '../../harness/cli.js';
import { rejection } from '../../harness/expect.js';
import { run } from '../../harness/procs.js';
import { useCleanup } from '../../harness/tmp.js';
import { blob, makeOciImage, type TestBlob, type TestImage } from '../fixtures.js';

const NAME = 'org.opencontainers.image.ref.name';

const open = (name: string): Promise<ImageDestination> => parseImageName(name).newImageDestination({});
const blobFile = (dir: string, b: TestBlob) => join(dir, 'blobs', 'sha256', b.digest.slice('sha256:'.length));
const exists = (p: string) => lstat(p).then(() => true, () => false);
const pinDirs = async (dir: string) => (await readdir(dir)).filter((n) => n.startsWith('.ferry-pins-'));
async function refNames(dir: string): Promise<(string | undefined)[]> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: { annotations?: Record<string, string> }[] };
  return index.manifests.map((m) => m.annotations?.[NAME]);
}

/** Copies `img` into `name` the way the copy engine does: each blob reused when it is there, else put; then commits. */
async function fill(d: ImageDestination, img: TestImage, manifest: TestBlob = img.manifest): Promise<void> {
  for (const b of [img.layer, img.config]) {
    if (!(await d.tryReusingBlob({ digest: b.digest, size: b.size }))) await d.putBlob(Readable.from([b.bytes]), { digest: b.digest, size: b.size });
  }
  await d.putManifest({ bytes: manifest.bytes, mediaType: MediaType.OciManifest });
}

async function copyImage(name: string, img: TestImage, manifest?: TestBlob): Promise<void> {
  const d = await open(name);
  await fill(d, img, manifest);
  await d.commit();
  await d.close();
}

/** `img`'s manifest with an annotation: another image with the same config and layer. */
function variant(img: TestImage): TestBlob {
  const m = JSON.parse(img.manifest.bytes.toString('utf8')) as Record<string, unknown>;
  return blob(JSON.stringify({ ...m, annotations: { variant: 'yes' } }));
}

describe('transports/oci-layout: a commit never names a blob removed meanwhile', function () {
  this.timeout(60_000);
  const cleanup = useCleanup();

  /** Checks that `oci:LAYOUT:name` is whole, with skopeo (every blob read and verified). */
  async function whole(dir: string, name: string): Promise<void> {
    const s = await run('skopeo', ['--insecure-policy', 'copy', `oci:${dir}:${name}`, `dir:${join(dir, '..', `check-${name}`)}`]);
    expect(s.code, s.stderr).to.equal(0);
  }

  it('a delete removing every blob the copy found already there: the commit links them back (manifest rewritten), pins gone', async () => {
    const dir = join(await cleanup.tempDir('oci-race-delete'), 'layout');
    const img = makeOciImage('race-delete');
    await copyImage(`oci:${dir}:a`, img);

    const b = await open(`oci:${dir}:b`);
    await fill(b, img); // every blob, the manifest too, is already there: nothing is written
    expect(await pinDirs(dir)).to.have.length(1);
    const removed = await deleteOciImage(parseImageName(`oci:${dir}:a`) as OciReference);
    expect([...removed.deletedBlobs].sort()).to.deep.equal([img.config.digest, img.layer.digest, img.manifest.digest].sort());
    for (const x of [img.layer, img.config, img.manifest]) expect(await exists(blobFile(dir, x))).to.equal(false);

    await b.commit();
    await b.close();
    expect(await refNames(dir)).to.deep.equal(['b']);
    for (const x of [img.layer, img.config, img.manifest]) expect(await readFile(blobFile(dir, x))).to.deep.equal(x.bytes);
    expect(await pinDirs(dir)).to.deep.equal([]);
    await whole(dir, 'b');
  });

  it('a delete removing only the manifest the copy found there: the manifest is written again and the commit succeeds', async () => {
    const dir = join(await cleanup.tempDir('oci-race-manifest'), 'layout');
    const img = makeOciImage('race-manifest');
    await copyImage(`oci:${dir}:a`, img);
    await copyImage(`oci:${dir}:c`, img, variant(img)); // keeps config and layer

    const b = await open(`oci:${dir}:b`);
    await fill(b, img);
    const removed = await deleteOciImage(parseImageName(`oci:${dir}:a`) as OciReference);
    expect(removed.deletedBlobs).to.deep.equal([img.manifest.digest]);
    expect(await exists(blobFile(dir, img.manifest))).to.equal(false);

    await b.commit();
    await b.close();
    expect(await refNames(dir)).to.deep.equal(['c', 'b']);
    expect(await readFile(blobFile(dir, img.manifest))).to.deep.equal(img.manifest.bytes);
    await whole(dir, 'b');
  });

  it('a failed copy removing the blob it wrote that another copy then reused: the reusing commit links it back', async () => {
    const base = await cleanup.tempDir('oci-race-orphan');
    const dir = join(base, 'layout');
    const img = makeOciImage('race-orphan');
    await copyImage(`oci:${dir}:other`, makeOciImage('race-orphan-other'));
    // Another spelling of the layout: the destinations behave as those of two processes (nothing is shared).
    await symlink(dir, join(base, 'alias'));

    const failing = await open(`oci:${join(base, 'alias')}:x`);
    await failing.putBlob(Readable.from([img.layer.bytes]), { digest: img.layer.digest, size: img.layer.size });
    const b = await open(`oci:${dir}:b`);
    await fill(b, img); // reuses the layer the other copy wrote
    await failing.close(); // without commit: removes the layer, which no image in index.json uses
    expect(await exists(blobFile(dir, img.layer))).to.equal(false);

    await b.commit();
    await b.close();
    expect(await refNames(dir)).to.deep.equal(['other', 'b']);
    expect(await readFile(blobFile(dir, img.layer))).to.deep.equal(img.layer.bytes);
    await whole(dir, 'b');
  });

  it('real bin/ferry delete between the copy finding the blobs and its commit: the image committed is whole', async () => {
    const dir = join(await cleanup.tempDir('oci-race-cli'), 'layout');
    const img = makeOciImage('race-cli');
    await copyImage(`oci:${dir}:a`, img);
    await copyImage(`oci:${dir}:keep`, makeOciImage('race-cli-keep'));

    const b = await open(`oci:${dir}:b`);
    await fill(b, img);
    const del = await ferryProcess(['delete', `oci:${dir}:a`]);
    expect(del.code, del.stderr).to.equal(0);
    expect(await exists(blobFile(dir, img.layer))).to.equal(false);

    await b.commit();
    await b.close();
    expect(await refNames(dir)).to.deep.equal(['keep', 'b']);
    await whole(dir, 'b');
    await whole(dir, 'keep');
  });

  it('a removed blob that cannot be put back (its pin gone too): the commit fails naming it, index.json unchanged', async () => {
    const dir = join(await cleanup.tempDir('oci-race-fail'), 'layout');
    const img = makeOciImage('race-fail');
    await copyImage(`oci:${dir}:a`, img);

    const b = await open(`oci:${dir}:b`);
    await fill(b, img);
    await deleteOciImage(parseImageName(`oci:${dir}:a`) as OciReference);
    for (const p of await pinDirs(dir)) await rm(join(dir, p), { recursive: true });
    const indexBefore = await readFile(join(dir, 'index.json'), 'utf8');

    const err = await rejection(b.commit());
    await b.close();
    expect(err.code).to.equal('E_IO');
    expect(err.message).to.match(new RegExp(`^committing to OCI layout ${dir}: blob sha256:[0-9a-f]{64} was removed by another process after this copy stored or found it \\(and 1 more\\); index.json left unchanged, copy again$`));
    expect([img.layer.digest, img.config.digest].some((d) => err.message.includes(d))).to.equal(true);
    expect(await readFile(join(dir, 'index.json'), 'utf8')).to.equal(indexBefore);
  });

  it('a reused blob replaced by a file of another size: the commit fails naming it and leaves the file alone', async () => {
    const dir = join(await cleanup.tempDir('oci-race-size'), 'layout');
    const img = makeOciImage('race-size');
    await copyImage(`oci:${dir}:a`, img);
    const b = await open(`oci:${dir}:b`);
    await fill(b, img);
    await writeFile(blobFile(dir, img.config), 'not the config');
    const err = await rejection(b.commit());
    await b.close();
    expect(err.message).to.equal(`committing to OCI layout ${dir}: blob ${img.config.digest} is now 14 bytes, expected ${img.config.size}; index.json left unchanged, copy again`);
    expect(await readFile(blobFile(dir, img.config), 'utf8')).to.equal('not the config');
    expect(await refNames(dir)).to.deep.equal(['a']);
  });

  it('the pin directory of a killed process is removed by the next destination opened on the layout', async () => {
    const dir = join(await cleanup.tempDir('oci-race-killed'), 'layout');
    await copyImage(`oci:${dir}:a`, makeOciImage('race-killed'));
    const script = `const { makeOwnedTempDir } = await import(${JSON.stringify(join(ROOT, 'lib', 'util', 'owned-temp-dir.js'))});
      await makeOwnedTempDir(${JSON.stringify(dir)}, '.ferry-pins-'); process.kill(process.pid, 'SIGKILL');`;
    const r = await run(process.execPath, ['--input-type=module', '-e', script]);
    expect(r.code).to.not.equal(0);
    expect(await pinDirs(dir)).to.have.length(1);
    const d = await open(`oci:${dir}:b`);
    expect(await pinDirs(dir)).to.deep.equal([]);
    await d.close();
  });

  it('a symlink named like a pin directory is neither followed nor removed by that clean-up', async () => {
    const base = await cleanup.tempDir('oci-race-pin-link');
    const dir = join(base, 'layout');
    await copyImage(`oci:${dir}:a`, makeOciImage('race-pin-link'));
    const bystander = join(base, 'bystander');
    await mkdir(bystander);
    await writeFile(join(bystander, 'keep'), 'keep');
    // old enough to count as abandoned, were it a directory of ours; whole seconds, which utimes keeps exactly
    const old = new Date(Math.floor(Date.now() / 1000 - 3600) * 1000);
    await utimes(bystander, old, old);
    await symlink(bystander, join(dir, '.ferry-pins-evil'));
    const d = await open(`oci:${dir}:b`);
    await d.close();
    expect(await pinDirs(dir)).to.deep.equal(['.ferry-pins-evil']);
    expect(await readdir(bystander)).to.deep.equal(['keep']);
    expect((await stat(bystander)).mtimeMs).to.equal(old.getTime()); // no lock file was created in it either
  });
});
