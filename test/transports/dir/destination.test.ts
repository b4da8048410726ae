import { expect } from 'chai';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ErrorCode, FerryError } from '../../../src/errors.js';
import { MediaType } from '../../../src/manifest/media-types.js';
import { parseImageName } from '../../../src/transports/registry.js';
import type { ImageDestination } from '../../../src/types/image.js';
import { useCleanup } from '../../harness/tmp.js';
import { blob, makeOciImage } from '../fixtures.js';
import { rejection } from '../../harness/expect.js';

const open = (dir: string): Promise<ImageDestination> => parseImageName(`dir:${dir}`).newImageDestination({});
const hex = (d: string) => d.slice(7);
const ls = async (dir: string) => (await readdir(dir)).sort();

describe('transports/dir/destination', function () {
  this.timeout(20_000);
  const cleanup = useCleanup();

  it('stages everything and publishes at commit: blobs, manifests, signatures, version', async () => {
    const dir = join(await cleanup.tempDir('dird-write'), 'img');
    const d = await open(dir);
    expect(d.properties).to.deep.equal({
      supportedManifestMIMETypes: [],
      supportsSignatures: true,
      desiredLayerCompression: 'preserve',
      hasThreadSafePutBlob: true,
      acceptsForeignLayerURLs: false,
      // partial downloads under the staging prefix, kept until the commit (staged blobs go when a copy fails)
      partialDownloads: { dir: join(dir, '.ferry-staging-partial'), keepUntilCommit: true },
    });
    const img = makeOciImage('d');
    await d.putBlob(Readable.from([img.layer.bytes]), { digest: img.layer.digest, size: img.layer.size });
    const computed = await d.putBlob(Readable.from([img.config.bytes]), { digest: '', size: -1 });
    expect(computed.digest).to.equal(img.config.digest);
    expect(await d.tryReusingBlob({ digest: img.layer.digest, size: -1 })).to.deep.include({ size: img.layer.size });
    const instance = blob('{"instance":true}');
    await d.putManifest({ bytes: instance.bytes, mediaType: MediaType.OciManifest }, instance.digest);
    await d.putManifest({ bytes: img.manifest.bytes, mediaType: MediaType.OciManifest });
    await d.putSignatures([Buffer.from('s1'), Buffer.from('s2')]);
    await d.putSignatures([Buffer.from('i1')], instance.digest);
    // nothing visible yet but the staging directory
    expect((await ls(dir)).every((n) => n.startsWith('.ferry-staging-'))).to.equal(true);
    await d.commit();
    await d.close();
    expect(await ls(dir)).to.deep.equal(
      [hex(img.layer.digest), hex(img.config.digest), `${hex(instance.digest)}.manifest.json`, `${hex(instance.digest)}.signature-1`, 'manifest.json', 'signature-1', 'signature-2', 'version'].sort(),
    );
    expect(await readFile(join(dir, 'version'), 'utf8')).to.equal('Directory Transport Version: 1.1\n');
    expect(await readFile(join(dir, 'signature-2'), 'utf8')).to.equal('s2');
    expect((await readFile(join(dir, 'manifest.json'))).equals(img.manifest.bytes)).to.equal(true);
  });

  it('close without commit removes the staging directory and keeps the old image', async () => {
    const dir = await cleanup.tempDir('dird-close');
    const img = makeOciImage('old');
    const first = await open(dir);
    await first.putBlob(Readable.from([img.layer.bytes]), { digest: img.layer.digest, size: img.layer.size });
    await first.putManifest({ bytes: img.manifest.bytes, mediaType: MediaType.OciManifest });
    await first.commit();
    await first.close();
    const before = await ls(dir);
    const d = await open(dir);
    const other = makeOciImage('new');
    await d.putBlob(Readable.from([other.layer.bytes]), { digest: other.layer.digest, size: other.layer.size });
    const e = await rejection(d.putBlob(Readable.from([Buffer.from('x')]), { digest: other.config.digest, size: 1 }));
    expect(e.code).to.equal(ErrorCode.DigestMismatch);
    await d.close();
    expect(await ls(dir)).to.deep.equal(before);
  });

  it('refuses non-empty directories that are not dir: images, and a file', async () => {
    const dir = await cleanup.tempDir('dird-refuse');
    await writeFile(join(dir, 'notes'), 'x');
    expect((await rejection(open(dir))).code).to.equal(ErrorCode.InvalidReference);
    const wrongVersion = await cleanup.tempDir('dird-v');
    await writeFile(join(wrongVersion, 'version'), 'Directory Transport Version: 1.0\n');
    await writeFile(join(wrongVersion, 'manifest.json'), '{}');
    expect((await rejection(open(wrongVersion))).code).to.equal(ErrorCode.InvalidReference);
    const file = join(dir, 'notes');
    expect((await rejection(open(file))).code).to.equal(ErrorCode.InvalidReference);
    // an empty directory (or one holding only stale staging directories) is fine
    const empty = await cleanup.tempDir('dird-empty');
    await mkdir(join(empty, '.ferry-staging-stale'));
    const d = await open(empty);
    await d.close();
  });

  it('accepts what an interrupted commit of an earlier ferry left (staging beside image files, no version); still refuses foreign files', async () => {
    const img = makeOciImage('half');
    const half = await cleanup.tempDir('dird-half');
    await mkdir(join(half, '.ferry-staging-abc123'));
    await writeFile(join(half, 'manifest.json'), img.manifest.bytes);
    await writeFile(join(half, hex(img.layer.digest)), img.layer.bytes);
    await writeFile(join(half, 'signature-1'), 'sig');
    const d = await open(half);
    await d.putBlob(Readable.from([img.layer.bytes]), { digest: img.layer.digest, size: img.layer.size });
    await d.putBlob(Readable.from([img.config.bytes]), { digest: img.config.digest, size: img.config.size });
    await d.putManifest({ bytes: img.manifest.bytes, mediaType: MediaType.OciManifest });
    await d.commit();
    await d.close();
    expect(await readFile(join(half, 'version'), 'utf8')).to.equal('Directory Transport Version: 1.1\n');
    expect(await ls(half)).to.include.members(['manifest.json', hex(img.layer.digest), hex(img.config.digest), '.ferry-staging-abc123']);
    expect(await ls(half)).to.not.include('signature-1');

    const foreign = await cleanup.tempDir('dird-foreign');
    await mkdir(join(foreign, '.ferry-staging-abc123'));
    await writeFile(join(foreign, 'manifest.json'), '{}');
    await writeFile(join(foreign, 'notes.txt'), 'mine');
    expect((await rejection(open(foreign))).code).to.equal(ErrorCode.InvalidReference);
  });

  it('close without commit removes the directory when opening created it', async () => {
    const parent = await cleanup.tempDir('dird-created');
    const d = await open(join(parent, 'a', 'b'));
    expect(await ls(join(parent, 'a', 'b'))).to.have.lengthOf(1); // the staging directory
    await d.close();
    expect(await ls(parent)).to.deep.equal([]);
  });

  it('a commit whose reused old blob another copy replaced meanwhile fails naming it, and leaves that copy\'s image whole', async () => {
    const dir = await cleanup.tempDir('dird-race');
    const shared = makeOciImage('race-shared');
    const write = async (d: ImageDestination, img: typeof shared) => {
      for (const b of [img.layer, img.config]) {
        if (!(await d.tryReusingBlob({ digest: b.digest, size: b.size }))) await d.putBlob(Readable.from([b.bytes]), { digest: b.digest, size: b.size });
      }
      await d.putManifest({ bytes: img.manifest.bytes, mediaType: MediaType.OciManifest });
    };
    const first = await open(dir);
    await write(first, shared);
    await first.commit();
    await first.close();

    const late = await open(dir);
    await write(late, shared); // reuses the old layer and config: kept at its commit
    const other = makeOciImage('race-other');
    const early = await open(dir);
    await write(early, other);
    await early.commit(); // replaces the old image: its layer and config are removed
    await early.close();
    const image = async () => (await ls(dir)).filter((n) => !n.startsWith('.ferry-staging-'));
    const after = await image();

    const e = await rejection(late.commit());
    await late.close();
    expect(e.code).to.equal(ErrorCode.Io);
    expect(e.message).to.match(new RegExp(`^committing image to ${dir}: blob [0-9a-f]{64} was removed by another process after this copy found it; ${dir} left unchanged, copy again$`));
    expect(await image()).to.deep.equal(after);
    expect(await ls(dir)).to.deep.equal(after); // the staging directory and the lock are gone
    expect((await readFile(join(dir, 'manifest.json'))).equals(other.manifest.bytes)).to.equal(true);
  });
});
