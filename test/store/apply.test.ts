import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, futimesSync, lstatSync, openSync, readFileSync, readdirSync, readlinkSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Store } from '../../src/store/store.js';
import { storeNative } from '../../src/store/native.js';
import { isCode, ErrorCode } from '../../src/errors.js';
import { buildTar, gzip, sha256, type Entry } from './tar-build.js';
import { hasCommand, isRoot, removeStore, tempStore } from './helpers.js';

async function collect(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Commits a one-layer image around `tar` and returns the layer id. */
async function commitOne(store: Store, tar: Buffer, compressed: boolean): Promise<{ layerId: string; stagedDir: string }> {
  const blob = compressed ? gzip(tar) : tar;
  const staged = await store.stageLayer(Readable.from([blob]), { digest: sha256(blob), size: blob.length });
  expect(staged.diffDigest).to.equal(sha256(tar));
  expect(staged.compressedDigest).to.equal(sha256(blob));
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(tar)] } }));
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { digest: sha256(config), size: config.length }, layers: [] }));
  await store.commitImage({ layers: [{ diffDigest: staged.diffDigest, staged }], configDigest: sha256(config), config, manifest, manifestDigest: sha256(manifest), signatures: [], names: ['example.com/t:1'] });
  return { layerId: sha256(tar).slice(7), stagedDir: staged.dir };
}

describe('store: applying layers', function () {
  this.timeout(20000);
  let t: ReturnType<typeof tempStore>;
  let store: Store;
  beforeEach(() => {
    t = tempStore();
    store = new Store({ graphRoot: t.G, runRoot: t.R, driver: 'overlay' });
  });
  afterEach(() => removeStore(t.dir));

  it('extracts every entry type with ownership, modes, mtimes and xattrs, and rebuilds the tar byte for byte', async function () {
    if (!isRoot) this.skip();
    const entries: Entry[] = [
      { name: './', type: 'dir', mode: 0o755 },
      { name: 'bin/', type: 'dir', mode: 0o755, mtime: 1600000000 },
      { name: 'bin/tool', data: 'x'.repeat(1000), mode: 0o4755, uid: 0, gid: 0, mtime: 1600000001, xattrs: { 'user.note': 'hello', 'security.capability': Buffer.from('0100000200200000000000000000000000000000', 'hex') } },
      { name: 'bin/sticky/', type: 'dir', mode: 0o1777 },
      { name: 'bin/sgid', data: 'g', mode: 0o2750, uid: 1000, gid: 1001 },
      { name: 'bin/link', type: 'symlink', linkname: 'tool', uid: 5, gid: 6 },
      { name: 'bin/hard', type: 'hardlink', linkname: 'bin/tool', mode: 0o4755, mtime: 1600000001 },
      { name: 'dev/', type: 'dir' },
      { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
      { name: 'dev/loop9', type: 'block', devmajor: 7, devminor: 9, mode: 0o660 },
      { name: 'dev/fifo', type: 'fifo', mode: 0o600 },
      { name: `deep/${'d'.repeat(90)}/${'f'.repeat(60)}`, data: 'long name' },
      { name: 'implicit/parent/file', data: 'no dir entries' },
    ];
    const tar = buildTar(entries, { trailing: 512 * 3 });
    const { layerId } = await commitOne(store, tar, true);
    const diff = join(t.G, 'overlay', layerId, 'diff');
    const tool = statSync(join(diff, 'bin/tool'));
    expect(tool.mode & 0o7777).to.equal(0o4755);
    expect(tool.mtimeMs).to.equal(1600000001000);
    expect(statSync(join(diff, 'bin')).mtimeMs).to.equal(1600000000000);
    expect(statSync(join(diff, 'bin/sticky')).mode & 0o7777).to.equal(0o1777);
    const sgid = statSync(join(diff, 'bin/sgid'));
    expect([sgid.mode & 0o7777, sgid.uid, sgid.gid]).to.deep.equal([0o2750, 1000, 1001]);
    expect(readlinkSync(join(diff, 'bin/link'))).to.equal('tool');
    expect(lstatSync(join(diff, 'bin/link')).uid).to.equal(5);
    expect(statSync(join(diff, 'bin/hard')).ino).to.equal(tool.ino);
    const dev = statSync(join(diff, 'dev/null'));
    expect(dev.isCharacterDevice()).to.equal(true);
    expect(dev.rdev).to.equal((1 << 8) | 3);
    expect(statSync(join(diff, 'dev/loop9')).isBlockDevice()).to.equal(true);
    expect(statSync(join(diff, 'dev/fifo')).isFIFO()).to.equal(true);
    expect(storeNative().lgetxattr(join(diff, 'bin/tool'), 'user.note')?.toString()).to.equal('hello');
    expect(storeNative().lgetxattr(join(diff, 'bin/tool'), 'security.capability')?.toString('hex')).to.equal('0100000200200000000000000000000000000000');
    expect(readFileSync(join(diff, 'deep', 'd'.repeat(90), 'f'.repeat(60)), 'utf8')).to.equal('long name');
    expect(readFileSync(join(diff, 'implicit/parent/file'), 'utf8')).to.equal('no dir entries');
    const layers = await store.layers();
    expect(layers[0]!.uidset).to.deep.equal([0, 5, 1000]);
    expect(layers[0]!.gidset).to.deep.equal([0, 6, 1001]);
    expect(layers[0]!.compression).to.equal(2);
    const rebuilt = await collect(store.layerDiff(layerId));
    expect(rebuilt.equals(tar)).to.equal(true);
  });

  it('turns Docker whiteouts into overlay whiteouts and opaque directories', async function () {
    if (!isRoot) this.skip();
    const tar = buildTar([
      { name: 'etc/', type: 'dir' },
      { name: 'etc/.wh.passwd', uid: 0 },
      { name: 'var/', type: 'dir' },
      { name: 'var/.wh..wh..opq' },
      { name: 'var/kept', data: 'k' },
      { name: '.wh..wh.plnk' },
    ]);
    const { layerId } = await commitOne(store, tar, false);
    const diff = join(t.G, 'overlay', layerId, 'diff');
    const wh = statSync(join(diff, 'etc/passwd'));
    expect(wh.isCharacterDevice()).to.equal(true);
    expect(wh.rdev).to.equal(0);
    expect(existsSync(join(diff, 'etc/.wh.passwd'))).to.equal(false);
    expect(storeNative().lgetxattr(join(diff, 'var'), 'trusted.overlay.opaque')?.toString()).to.equal('y');
    expect(readdirSync(join(diff, 'var'))).to.deep.equal(['kept']);
    expect(readdirSync(diff).sort()).to.deep.equal(['etc', 'var']);
    expect((await collect(store.layerDiff(layerId))).equals(tar)).to.equal(true);
    expect((await store.layers())[0]!.compression).to.equal(0);
  });

  const hostile: Array<[string, Entry[]]> = [
    ['a ".." path', [{ name: '../escape', data: 'x' }]],
    ['a ".." inside a path', [{ name: 'a/../../escape', data: 'x' }]],
    ['an absolute path', [{ name: '/etc/escape', data: 'x' }]],
    ['a write through a symlink pointing out', [{ name: 'evil', type: 'symlink', linkname: '/tmp' }, { name: 'evil/escape', data: 'x' }]],
    ['a write through a relative symlink', [{ name: 'evil', type: 'symlink', linkname: '../../../../../../tmp' }, { name: 'evil/escape', data: 'x' }]],
    ['a hardlink to a file outside', [{ name: 'h', type: 'hardlink', linkname: '../../../../etc/passwd' }]],
    ['a hardlink to an absolute path', [{ name: 'h', type: 'hardlink', linkname: '/etc/passwd' }]],
    ['a hardlink to something not in the layer', [{ name: 'h', type: 'hardlink', linkname: 'nothere' }]],
    ['a file over a directory', [{ name: 'd/', type: 'dir' }, { name: 'd/f', data: 'x' }, { name: 'd', data: 'x' }]],
    ['a whiteout through a symlink', [{ name: 'evil', type: 'symlink', linkname: '/tmp' }, { name: 'evil/.wh.x' }]],
  ];
  for (const [what, entries] of hostile) {
    it(`refuses ${what} and leaves nothing behind`, async () => {
      const tar = buildTar(entries);
      const outside = join(t.dir, 'outside');
      mkdirSync(outside);
      writeFileSync(join(outside, 'keep'), 'k');
      let err: unknown;
      try {
        await store.stageLayer(Readable.from([gzip(tar)]), {});
      } catch (e) {
        err = e;
      }
      expect(isCode(err, ErrorCode.HostileArchive), String(err)).to.equal(true);
      expect(readdirSync(join(t.G, 'overlay', '.ferry-staging'))).to.deep.equal([]);
      expect(readdirSync(join(t.G, 'overlay-layers')).filter((f) => f.endsWith('.gz'))).to.deep.equal([]);
      expect(existsSync('/tmp/escape')).to.equal(false);
      expect(existsSync(join(t.dir, 'escape'))).to.equal(false);
      expect(await store.layers()).to.deep.equal([]);
    });
  }

  it('replaces a layer directory left unrecorded by an interrupted commit', async function () {
    if (!isRoot) this.skip();
    const tar = buildTar([{ name: 'f', data: 'fresh' }]);
    const id = sha256(tar).slice(7);
    mkdirSync(join(t.G, 'overlay', id, 'diff'), { recursive: true });
    writeFileSync(join(t.G, 'overlay', id, 'diff', 'stale'), 's');
    await commitOne(store, tar, true);
    expect(readdirSync(join(t.G, 'overlay', id, 'diff'))).to.deep.equal(['f']);
    expect((await collect(store.layerDiff(id))).equals(tar)).to.equal(true);
  });

  it('fails on a digest mismatch and removes the staged layer', async () => {
    const blob = gzip(buildTar([{ name: 'f', data: 'x' }]));
    let err: unknown;
    try {
      await store.stageLayer(Readable.from([blob]), { digest: sha256(Buffer.from('other')), size: blob.length });
    } catch (e) {
      err = e;
    }
    expect(isCode(err, ErrorCode.DigestMismatch), String(err)).to.equal(true);
    expect(readdirSync(join(t.G, 'overlay', '.ferry-staging'))).to.deep.equal([]);
  });

  it('reuses a layer with the same chain ID and copies content for the same diff under another parent', async function () {
    if (!isRoot) this.skip();
    const a = buildTar([{ name: 'a', data: 'A' }]);
    const b = buildTar([{ name: 'b', data: 'B' }]);
    const stage = (t: Buffer) => store.stageLayer(Readable.from([t]), {});
    const mk = async (tars: Buffer[], name: string) => {
      const staged = await Promise.all(tars.map(stage));
      const config = Buffer.from(JSON.stringify({ name, rootfs: { type: 'layers', diff_ids: tars.map(sha256) } }));
      const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, name }));
      return store.commitImage({ layers: staged.map((s) => ({ diffDigest: s.diffDigest, staged: s })), configDigest: sha256(config), config, manifest, manifestDigest: sha256(manifest), signatures: [], names: [name] });
    };
    await mk([a, b], 'x/ab:1');
    await mk([b], 'x/b:1');
    await mk([a, b], 'x/ab2:1');
    const layers = await store.layers();
    expect(layers.map((l) => l['diff-digest'])).to.deep.equal([sha256(a), sha256(b), sha256(b)]);
    expect(layers[2]!.parent).to.equal(undefined);
    expect(readFileSync(join(t.G, 'overlay', layers[2]!.id, 'diff', 'b'), 'utf8')).to.equal('B');
    expect((await collect(store.layerDiff(layers[2]!.id))).equals(b)).to.equal(true);
    expect(readdirSync(join(t.G, 'overlay', '.ferry-staging'))).to.deep.equal([]);
  });
  describe('many small files (created in batches off the main thread)', () => {
    const many = (n: number): Entry[] =>
      Array.from({ length: n }, (_, i) => ({ name: `d/f${String(i).padStart(3, '0')}`, data: `content ${i}`, mode: 0o600 + (i % 3) * 0o44, uid: 1000 + (i % 3), gid: 2000 + (i % 5), mtime: 1600000000 + i }));

    it('keeps the order of the tar: files replaced, hard-linked, whited out and turned into directories while being created; directory modes and times last', async function () {
      if (!isRoot) this.skip();
      // Each later entry right after the file it touches, while that file still waits in its batch.
      const after: Record<number, Entry> = {
        10: { name: 'd/f010', data: 'second', mode: 0o640, mtime: 1700000000 },
        20: { name: 'd/h', type: 'hardlink', linkname: 'd/f020', mode: 0o600, uid: 1000, gid: 2001, mtime: 1600000001 },
        30: { name: 'd/.wh.f030' },
        40: { name: 'd/f040', type: 'symlink', linkname: 'f041' },
        50: { name: 'd/f050/', type: 'dir', mode: 0o750, mtime: 1500000005 },
      };
      const entries: Entry[] = [
        { name: 'd/', type: 'dir', mode: 0o555, mtime: 1500000000 },
        ...many(300).flatMap((e, i) => (after[i] ? [e, after[i]] : [e])),
        { name: 'd/f050/inner', data: 'in' },
        ...many(300).map((e, i) => ({ ...e, name: `e/f${String(i).padStart(3, '0')}` })),
      ];
      const tar = buildTar(entries);
      const { layerId } = await commitOne(store, tar, true);
      const diff = join(t.G, 'overlay', layerId, 'diff');
      expect(readFileSync(join(diff, 'd/f010'), 'utf8')).to.equal('second');
      expect(statSync(join(diff, 'd/f010')).mode & 0o7777).to.equal(0o640);
      expect(statSync(join(diff, 'd/f010')).mtimeMs).to.equal(1700000000000);
      expect(statSync(join(diff, 'd/h')).ino).to.equal(statSync(join(diff, 'd/f020')).ino);
      expect(readFileSync(join(diff, 'd/h'), 'utf8')).to.equal('content 20');
      const wh = statSync(join(diff, 'd/f030'));
      expect(wh.isCharacterDevice() && wh.rdev === 0).to.equal(true);
      expect(readlinkSync(join(diff, 'd/f040'))).to.equal('f041');
      expect(readdirSync(join(diff, 'd/f050'))).to.deep.equal(['inner']);
      for (const i of [4, 7, 299]) {
        for (const dir of ['d', 'e']) {
          const st = statSync(join(diff, `${dir}/f${String(i).padStart(3, '0')}`));
          expect([st.mode & 0o7777, st.uid, st.gid, st.mtimeMs, st.atimeMs]).to.deep.equal([0o600 + (i % 3) * 0o44, 1000 + (i % 3), 2000 + (i % 5), (1600000000 + i) * 1000, (1600000000 + i) * 1000]);
          expect(readFileSync(join(diff, `${dir}/f${String(i).padStart(3, '0')}`), 'utf8')).to.equal(`content ${i}`);
        }
      }
      expect(readdirSync(join(diff, 'e'))).to.have.length(300);
      const d = statSync(join(diff, 'd'));
      expect([d.mode & 0o7777, d.mtimeMs]).to.deep.equal([0o555, 1500000000000]);
      const f5 = statSync(join(diff, 'd/f050'));
      expect([f5.mode & 0o7777, f5.mtimeMs]).to.deep.equal([0o750, 1500000005000]);
    });

    it('sets fractional PAX times as Node does (its own precision), on small and streamed files alike', async function () {
      if (!isRoot) this.skip();
      const tar = buildTar([
        { name: 'small', data: 's', paxMtime: '1600000000.123456789' },
        { name: 'big', data: Buffer.alloc(300 << 10, 1), paxMtime: '1600000000.123456789' },
      ]);
      const { layerId } = await commitOne(store, tar, false);
      const diff = join(t.G, 'overlay', layerId, 'diff');
      // what Node's futimes makes of the same time (microseconds on Node 20, nanoseconds on Node 24)
      const ref = join(t.dir, 'futimes-reference');
      writeFileSync(ref, '');
      const fd = openSync(ref, 'r+');
      try {
        futimesSync(fd, 1600000000.123456789, 1600000000.123456789);
      } finally {
        closeSync(fd);
      }
      const want = statSync(ref, { bigint: true }).mtimeNs;
      expect(want / 1000n).to.equal(1600000000123456n);
      for (const f of ['small', 'big']) {
        const st = statSync(join(diff, f), { bigint: true });
        expect([st.mtimeNs, st.atimeNs], f).to.deep.equal([want, want]);
      }
      expect((await collect(store.layerDiff(layerId))).equals(tar)).to.equal(true);
    });

    it('fails in one line naming the file the kernel refused, and leaves nothing behind', async function () {
      if (!isRoot) this.skip();
      const tar = buildTar([...many(200), { name: `d/${'n'.repeat(300)}`, data: 'x' }, ...many(200).map((e) => ({ ...e, name: `${e.name}b` }))]);
      let err: unknown;
      try {
        await store.stageLayer(Readable.from([gzip(tar)]), {});
      } catch (e) {
        err = e;
      }
      expect(isCode(err, ErrorCode.Io), String(err)).to.equal(true);
      expect((err as Error).message).to.match(/^applying layer: ENAMETOOLONG: name too long, open '[^\n]*\/d\/n{300}'$/);
      expect(readdirSync(join(t.G, 'overlay', '.ferry-staging'))).to.deep.equal([]);
      expect(readdirSync(join(t.G, 'overlay-layers')).filter((f) => f.endsWith('.gz'))).to.deep.equal([]);
    });

    it('creates the files on the thread pool, not on the main thread (which goes on reading the stream)', async function () {
      if (!isRoot || !hasCommand('strace')) this.skip();
      this.timeout(60000);
      const tarFile = join(t.dir, 'layer.tar');
      writeFileSync(tarFile, buildTar(many(100)));
      const script = `
        const { Store } = await import(${JSON.stringify(new URL('../../src/store/store.js', import.meta.url).href)});
        const { createReadStream } = await import('node:fs');
        const store = new Store({ graphRoot: ${JSON.stringify(t.G)}, runRoot: ${JSON.stringify(t.R)}, driver: 'overlay' });
        await store.stageLayer(createReadStream(${JSON.stringify(tarFile)}), {});`;
      const out = join(t.dir, 'strace.out');
      execFileSync('strace', ['-f', '-e', 'trace=execve,openat', '-o', out, process.execPath, '--input-type=module', '-e', script]);
      const lines = readFileSync(out, 'utf8').split('\n');
      const main = lines[0]!.split(' ')[0];
      const creates = lines.filter((l) => /openat\(.*\/diff\/d\/f\d{3}".*O_EXCL/.test(l));
      expect(creates).to.have.length(100);
      expect(creates.filter((l) => l.split(' ')[0] === main)).to.deep.equal([]);
    });
  });
});
