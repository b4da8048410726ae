/**
 * Bounded reads of the store's own files: a record file (layers.json, images.json) over 256 MiB, a tar-split line
 * over 16 MiB and an image's big data over 64 MiB that a commit would replace (and must keep, to put it back should
 * the commit fail) are refused with one error line naming the file, without being read into memory; ferry's tar-split
 * writer never writes a line its reader would refuse (a long run of archive bytes becomes several segments), and the
 * layer still rebuilds byte for byte.
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, readdirSync, statSync, writeFileSync, ftruncateSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { ErrorCode, FerryError } from '../../src/errors.js';
import { bigDataFileName, MAX_BIG_DATA_BYTES, MAX_RECORDS_BYTES } from '../../src/store/records.js';
import { Store } from '../../src/store/store.js';
import { MAX_TAR_SPLIT_LINE, readTarSplit, SEGMENT_CHUNK, TarSplitWriter } from '../../src/store/tar-split.js';
import { ferry } from '../harness/cli.js';
import { writeLayout } from '../transports/containers-storage/layout.js';
import { isRoot, removeStore, tempStore } from './helpers.js';
import { buildTar } from './tar-build.js';

/** Makes `path` a sparse file of `size` bytes (nothing is written: its size is what is checked). */
function sparseFile(path: string, size: number): void {
  const fd = openSync(path, 'w', 0o600);
  try {
    ftruncateSync(fd, size);
  } finally {
    closeSync(fd);
  }
}

async function readAll(path: string): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const e of readTarSplit(path)) out.push(e);
  return out;
}

describe('store: bounded reads of records and tar-split lines', function () {
  this.timeout(120_000);
  let t: ReturnType<typeof tempStore>;
  let store: Store;
  beforeEach(() => {
    t = tempStore('ferry-bounds-');
    store = new Store({ driver: 'vfs', graphRoot: t.G, runRoot: t.R });
    store.ensureDirs();
  });
  afterEach(() => removeStore(t.dir));

  for (const kind of ['layers', 'images'] as const) {
    it(`${kind === 'images' ? 'an' : 'a'} ${kind}.json over 256 MiB is refused, naming it, in one line (library and CLI)`, async () => {
      const path = join(t.G, `vfs-${kind}`, `${kind}.json`);
      sparseFile(path, MAX_RECORDS_BYTES + 1);
      const err = await (kind === 'layers' ? store.layers() : store.images()).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(FerryError);
      expect((err as FerryError).code).to.equal(ErrorCode.TooLarge);
      expect((err as FerryError).message).to.equal(`${path} is larger than 256 MiB: refusing to read it`);
      const r = await ferry(['store', kind === 'layers' ? 'layers' : 'images', '--root', t.G, '--runroot', t.R, '--storage-driver', 'vfs']);
      expect(r.code).to.not.equal(0);
      expect(r.stderr.trim().split('\n'), r.stderr).to.have.lengthOf(1);
      expect(r.stderr).to.contain(`${path} is larger than 256 MiB`);
    });
  }

  it('a tar-split line over 16 MiB is refused, naming the file; one of several MiB (as Go writes a long segment) is read', async () => {
    const path = join(t.dir, 'x.tar-split.gz');
    writeFileSync(path, gzipSync(Buffer.alloc(MAX_TAR_SPLIT_LINE + 1, 'a')));
    const err = await readAll(path).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(FerryError);
    expect((err as FerryError).code).to.equal(ErrorCode.TooLarge);
    expect((err as FerryError).message).to.equal(`a line of ${path} is larger than 16 MiB: refusing to read it`);

    const big = Buffer.alloc(6 << 20, 7);
    const ok = join(t.dir, 'ok.tar-split.gz');
    writeFileSync(ok, gzipSync(`${JSON.stringify({ type: 2, payload: big.toString('base64'), position: 0 })}\n{"type":1,"name":"a","payload":null,"position":1}\n`));
    const entries = (await readAll(ok)) as Array<{ type: string; payload?: Buffer }>;
    expect(entries.map((e) => e.type)).to.deep.equal(['segment', 'file']);
    expect(entries[0]!.payload!.equals(big)).to.equal(true);
  });

  it('the writer splits a long run of archive bytes into segments of at most 1 MiB', () => {
    let text = '';
    const w = new TarSplitWriter((s) => (text += s));
    const run = Buffer.alloc(SEGMENT_CHUNK * 2 + 5, 1);
    w.segment(run);
    w.segment(Buffer.alloc(0));
    w.flush();
    const lines = text.trim().split('\n').map((l) => JSON.parse(l) as { type: number; payload: string; position: number });
    expect(lines.map((l) => Buffer.from(l.payload, 'base64').length)).to.deep.equal([SEGMENT_CHUNK, SEGMENT_CHUNK, 5, 0]);
    expect(lines.map((l) => l.position)).to.deep.equal([0, 1, 2, 3]);
  });

  it('a layer with MiB of bytes after its end: every stored tar-split line is short, and the layer comes out byte for byte', async function () {
    if (!isRoot) this.skip();
    const tar = buildTar([{ name: 'etc/', type: 'dir' }, { name: 'etc/x', data: 'x' }], { trailing: 3 << 20 });
    const src = join(t.dir, 'src');
    writeLayout(src, 'v', [tar]);
    const ref = `containers-storage:[vfs@${t.G}+${t.R}]example.com/trailing:1`;
    const c = await ferry(['copy', '--quiet', `oci:${src}:v`, ref]);
    expect(c.code, c.stderr).to.equal(0);
    const layersDir = join(t.G, 'vfs-layers');
    const split = readdirSync(layersDir).filter((n) => n.endsWith('.tar-split.gz'));
    expect(split).to.have.lengthOf(1);
    const lines = gunzipSync(readFileSync(join(layersDir, split[0]!))).toString('utf8').trim().split('\n');
    for (const l of lines) expect(l.length).to.be.at.most(Math.ceil(SEGMENT_CHUNK / 3) * 4 + 100);
    const out = join(t.dir, 'out');
    const back = await ferry(['copy', '--quiet', ref, `oci:${out}:v`]);
    expect(back.code, back.stderr).to.equal(0);
    const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    const blob = (d: string) => readFileSync(join(out, 'blobs', 'sha256', d.slice(7)));
    const m = JSON.parse(blob(index.manifests[0]!.digest).toString('utf8')) as { layers: Array<{ digest: string; mediaType: string }> };
    const layer = blob(m.layers[0]!.digest);
    const raw = m.layers[0]!.mediaType.endsWith('gzip') ? gunzipSync(layer) : layer;
    expect(createHash('sha256').update(raw).digest('hex')).to.equal(createHash('sha256').update(tar).digest('hex'));
  });

  it('a commit that would replace big data over 64 MiB is refused, naming the file, before anything changes', async function () {
    if (!isRoot) this.skip();
    const src = join(t.dir, 'src');
    const { configDigest, manifestDigest } = writeLayout(src, 'v', [buildTar([{ name: 'etc/', type: 'dir' }, { name: 'etc/x', data: 'x' }])]);
    const ref = (name: string) => `containers-storage:[vfs@${t.G}+${t.R}]example.com/${name}:1`;
    const c = await ferry(['copy', '--quiet', `oci:${src}:v`, ref('a')]);
    expect(c.code, c.stderr).to.equal(0);
    // the image's (empty) signatures of that manifest, which the same image committed again rewrites
    const path = join(t.G, 'vfs-images', configDigest.slice(7), bigDataFileName(`signature-${manifestDigest.slice(7)}`));
    expect(statSync(path).size).to.equal(0);
    sparseFile(path, MAX_BIG_DATA_BYTES + 1);
    const images = readFileSync(join(t.G, 'vfs-images', 'images.json'), 'utf8');
    const r = await ferry(['copy', '--quiet', `oci:${src}:v`, ref('b')]);
    expect(r.code).to.not.equal(0);
    expect(r.stderr.trim().split('\n'), r.stderr).to.have.lengthOf(1);
    expect(r.stderr).to.contain(`${path} is larger than 64 MiB: refusing to read it`);
    expect(statSync(path).size).to.equal(MAX_BIG_DATA_BYTES + 1);
    expect(readFileSync(join(t.G, 'vfs-images', 'images.json'), 'utf8')).to.equal(images);
  });
});
