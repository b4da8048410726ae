import { expect } from 'chai';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { OciArchiveBatch } from '../../../src/transports/oci-archive/batch.js';
import type { ImageDestination } from '../../../src/types/image.js';
import { FERRY_BIN, ferry, withTestPolicy } from '../../harness/cli.js';
import { buildImage, layoutBlobPath, type BuiltImage } from '../../harness/images.js';
import { runOk } from '../../harness/procs.js';
import { useCleanup } from '../../harness/tmp.js';
import { rejection } from '../../harness/expect.js';
import { ErrorCode } from '../../../src/errors.js';

/** Copies a single-arch built OCI image as it is, its layers at once (as the engine does). */
async function copyAsIs(img: BuiltImage, dest: ImageDestination): Promise<void> {
  const m = img.manifests[0]!;
  await Promise.all(m.layers.map((l) => dest.putBlob(createReadStream(layoutBlobPath(img.layoutDir, l.digest)), { digest: l.digest, size: l.size })));
  await dest.putBlob(createReadStream(layoutBlobPath(img.layoutDir, m.configDigest)), { digest: m.configDigest, size: m.config.length });
  await dest.putManifest({ bytes: img.bytes, mediaType: img.mediaType });
  await dest.putSignatures([]);
  await dest.commit();
}

/** Copies `img` into `batch` under `ref` and commits the batch (which must succeed). */
async function addAndCommit(batch: OciArchiveBatch, ref: string, img: BuiltImage): Promise<void> {
  const d = await batch.reference(ref).newImageDestination({});
  await copyAsIs(img, d);
  await d.close();
  expect(await batch.commit()).to.equal(true);
}

/** Entry names of a tar, as GNU tar lists them. */
async function entries(file: string): Promise<string[]> {
  return (await runOk('tar', ['-tf', file])).stdout.split('\n').filter((n) => n !== '');
}

/** The blobs of `imgs`, as archive entry names, sorted. */
function blobEntries(...imgs: BuiltImage[]): string[] {
  const s = new Set<string>();
  for (const img of imgs) {
    const m = img.manifests[0]!;
    for (const d of [img.digest, m.configDigest, ...m.layers.map((l) => l.digest)]) s.add(`blobs/sha256/${d.slice('sha256:'.length)}`);
  }
  return [...s].sort();
}

/** The archive holds exactly the blobs of `imgs`, and verify-archive accepts it; returns its entry names. */
async function expectBlobsOf(path: string, ...imgs: BuiltImage[]): Promise<string[]> {
  const names = await entries(path);
  expect(names.filter((n) => n.startsWith('blobs/sha256/') && n.length > 'blobs/sha256/'.length).sort()).to.deep.equal(blobEntries(...imgs));
  const v = await ferry(['verify-archive', path]);
  expect(v.code, v.stderr).to.equal(0);
  return names;
}

describe('transports/oci-archive: images written together (batch)', function () {
  this.timeout(60_000);
  const cleanup = useCleanup();
  let root: string;
  let a: BuiltImage;
  let b: BuiltImage;

  before(async () => {
    root = await cleanup.tempDir('oci-archive-batch');
    a = await buildImage(join(root, 'a'), { seed: 1501, layers: 3, layerSize: 40_000 });
    b = await buildImage(join(root, 'b'), { seed: 1502, layers: 2, layerSize: 40_000 });
  });

  async function batchOf(name: string): Promise<{ batch: OciArchiveBatch; path: string }> {
    const path = join(root, name);
    return { batch: await OciArchiveBatch.open(path), path };
  }

  it('two images copied at once sharing blobs: each blob once, a tar skopeo and verify-archive accept, nothing left beside it', async () => {
    const { batch, path } = await batchOf('together.tar');
    try {
      const [d1, d2] = await Promise.all([batch.reference('x:1').newImageDestination({}), batch.reference('x:2').newImageDestination({})]);
      await Promise.all([copyAsIs(a, d1!), copyAsIs(a, d2!)]);
      await d1!.close();
      await d2!.close();
      expect(await batch.commit()).to.equal(true);
    } finally {
      await batch.close();
    }
    const names = await expectBlobsOf(path, a);
    expect(names.slice(0, 2)).to.deep.equal(['blobs/', 'blobs/sha256/']);
    expect(names.slice(-3)).to.deep.equal(['ferry-archive.json', 'index.json', 'oci-layout']);
    for (const ref of ['x:1', 'x:2']) {
      const raw = await runOk('skopeo', ['inspect', '--raw', `oci-archive:${path}:${ref}`]);
      expect(raw.stdoutBytes.equals(a.bytes)).to.equal(true);
    }
    expect((await readdir(root)).filter((n) => n.startsWith('.ferry-oci-archive-'))).to.deep.equal([]);
  });

  it('a blob that fails half-way, then arrives whole: the archive holds it once, and no blob of an image that failed', async () => {
    const { batch, path } = await batchOf('failed.tar');
    const layer = b.manifests[0]!.layers[0]!;
    const bytes = await readFile(layoutBlobPath(b.layoutDir, layer.digest));
    try {
      const failing = await batch.reference('y:failed').newImageDestination({});
      // Half of the layer, then an error: the copy of this image fails.
      const broken = Readable.from((async function* () {
        yield bytes.subarray(0, bytes.length >> 1);
        throw new Error('connection reset');
      })());
      await rejection(failing.putBlob(broken, { digest: layer.digest, size: layer.size }));
      // The wrong bytes under its digest: refused.
      const wrong = Buffer.from(bytes);
      wrong[wrong.length - 1] = wrong[wrong.length - 1]! ^ 1;
      await rejection(failing.putBlob(Readable.from([wrong]), { digest: layer.digest, size: layer.size }));
      // A blob only the failed image has (its copy then fails: no commit).
      const onlyFailed = a.manifests[0]!.layers[2]!;
      await failing.putBlob(createReadStream(layoutBlobPath(a.layoutDir, onlyFailed.digest)), { digest: onlyFailed.digest, size: onlyFailed.size });
      await failing.close();
      await addAndCommit(batch, 'y:ok', b);
    } finally {
      await batch.close();
    }
    await expectBlobsOf(path, b);
    const raw = await runOk('skopeo', ['inspect', '--raw', `oci-archive:${path}:y:ok`]);
    expect(raw.stdoutBytes.equals(b.bytes)).to.equal(true);
  });

  it('blob bytes checked as they go into the archive: wrong digest, too many or too few bytes are refused with their codes, and the archive holds the right blob', async () => {
    const { batch, path } = await batchOf('checked.tar');
    const layer = b.manifests[0]!.layers[1]!;
    const bytes = await readFile(layoutBlobPath(b.layoutDir, layer.digest));
    const info = { digest: layer.digest, size: layer.size };
    try {
      const d = await batch.reference('z:1').newImageDestination({});
      const wrong = Buffer.from(bytes);
      wrong[0] = wrong[0]! ^ 1;
      expect((await rejection(d.putBlob(Readable.from([wrong]), info))).code).to.equal(ErrorCode.DigestMismatch);
      expect((await rejection(d.putBlob(Readable.from([bytes, Buffer.from('x')]), info))).code).to.equal(ErrorCode.SizeMismatch);
      expect((await rejection(d.putBlob(Readable.from([bytes.subarray(1)]), info))).code).to.equal(ErrorCode.SizeMismatch);
      // Verified upstream (the engine hashed them): only counted, but still capped and checked for length.
      const upstream = { verifiedUpstream: info };
      expect((await rejection(d.putBlob(Readable.from([bytes, Buffer.from('x')]), info, upstream))).code).to.equal(ErrorCode.SizeMismatch);
      expect((await rejection(d.putBlob(Readable.from([bytes.subarray(1)]), info, upstream))).code).to.equal(ErrorCode.SizeMismatch);
      await d.close();
      await addAndCommit(batch, 'z:ok', b);
    } finally {
      await batch.close();
    }
    await expectBlobsOf(path, b);
    const stored = (await runOk('tar', ['-xOf', path, `blobs/sha256/${layer.digest.slice('sha256:'.length)}`])).stdoutBytes;
    expect(stored.equals(bytes)).to.equal(true);
  });

  it('a blob of an image that was not committed is left out of the archive', async () => {
    const { batch, path } = await batchOf('orphan.tar');
    try {
      const dropped = await batch.reference('z:dropped').newImageDestination({});
      const only = a.manifests[0]!.layers[1]!;
      await dropped.putBlob(createReadStream(layoutBlobPath(a.layoutDir, only.digest)), { digest: only.digest, size: only.size });
      await dropped.close();
      await addAndCommit(batch, 'z:kept', b);
    } finally {
      await batch.close();
    }
    await expectBlobsOf(path, b);
  });

  it('a second batch into the same archive keeps its images, adds its own, and stores every blob once', async () => {
    const path = join(root, 'twice.tar');
    for (const [img, refs] of [[a, ['x:1']], [b, ['y:1', 'x:2']]] as const) {
      const batch = await OciArchiveBatch.open(path);
      try {
        for (const ref of refs) {
          const d = await batch.reference(ref).newImageDestination({});
          await copyAsIs(ref === 'x:2' ? a : img, d);
          await d.close();
        }
        expect(await batch.commit()).to.equal(true);
      } finally {
        await batch.close();
      }
    }
    await expectBlobsOf(path, a, b);
    for (const [ref, img] of [['x:1', a], ['y:1', b], ['x:2', a]] as const) {
      const raw = await runOk('skopeo', ['inspect', '--raw', `oci-archive:${path}:${ref}`]);
      expect(raw.stdoutBytes.equals(img.bytes), ref).to.equal(true);
    }
  });

  it('sync --dest oci-archive writes each blob once (no staging copy): bytes written are about the archive size', async () => {
    // The layout of `a` and `b` as a source of several images; strace counts what ferry writes.
    const src = join(root, 'src-layout');
    for (const [img, name] of [[a, 'r/a:1'], [b, 'r/b:1']] as const) {
      const r = await ferry(['copy', '-q', `oci:${img.layoutDir}:${img.tag}`, `oci:${src}:${name}`]);
      expect(r.code, r.stderr).to.equal(0);
    }
    const archive = join(root, 'once.tar');
    const trace = join(root, 'strace.log');
    const args = withTestPolicy(['sync', '-q', '--src', 'oci', '--dest', 'oci-archive', src, archive]);
    // (Node 24's compile cache, written when ferry exits, is not the archive's: off for this count)
    await runOk('strace', ['-f', '-qq', '-e', 'trace=write,pwrite64,writev,pwritev,pwritev2,copy_file_range,sendfile', '-e', 'signal=none', '-o', trace, FERRY_BIN, ...args], {
      env: { NODE_DISABLE_COMPILE_CACHE: '1' },
    });
    let written = 0;
    // With -f, a call that another thread's call interrupts in the trace ends on a line of its own
    // ("<... pwrite64 resumed>) = N"): both forms count.
    for (const line of (await readFile(trace, 'utf8')).split('\n')) {
      const m = /^\d+\s+(?:(?:write|pwrite64|writev|pwritev2?|copy_file_range|sendfile)\(|<\.\.\. (?:write|pwrite64|writev|pwritev2?|copy_file_range|sendfile) resumed>).*\)\s+=\s+(\d+)$/.exec(line);
      if (m) written += Number(m[1]);
    }
    const size = (await stat(archive)).size;
    expect(written).to.be.greaterThan(size * 0.9);
    expect(written).to.be.lessThan(size * 1.5);
  });
  it('sync --dest oci-archive fsyncs the archive, not the layout it stages the images in', async () => {
    const src = join(root, 'src-layout-fsync');
    for (const [img, name] of [[a, 'r/a:1'], [b, 'r/b:1']] as const) {
      const r = await ferry(['copy', '-q', `oci:${img.layoutDir}:${img.tag}`, `oci:${src}:${name}`]);
      expect(r.code, r.stderr).to.equal(0);
    }
    const archive = join(root, 'fsync.tar');
    const trace = join(root, 'strace-fsync.log');
    const args = withTestPolicy(['sync', '-q', '--src', 'oci', '--dest', 'oci-archive', src, archive]);
    await runOk('strace', ['-f', '-qq', '-y', '-e', 'trace=fsync,fdatasync', '-e', 'signal=none', '-o', trace, FERRY_BIN, ...args]);
    const synced: string[] = [];
    for (const line of (await readFile(trace, 'utf8')).split('\n')) {
      const m = /(?:fsync|fdatasync)\(\d+<([^>]*)>/.exec(line);
      if (m) synced.push(m[1]!);
    }
    // The archive as written (its spool file, renamed into place), and nothing of the staging layout.
    expect(synced.some((p) => p.endsWith('/archive.spool')), synced.join('\n')).to.equal(true);
    expect(synced.filter((p) => /\.ferry-oci-archive-[^/]*\/layout/.test(p)), synced.join('\n')).to.deep.equal([]);
    await expectBlobsOf(archive, a, b);
  });
});
