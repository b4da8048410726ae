import { expect } from 'chai';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { ErrorCode, FerryError } from '../../../src/errors.js';
import { MediaType } from '../../../src/manifest/media-types.js';
import { digestStem, manifestPath, signaturePath } from '../../../src/transports/dir/layout.js';
import { DirReference } from '../../../src/transports/dir/reference.js';
import { dirTransport } from '../../../src/transports/dir/transport.js';
import { parseImageName } from '../../../src/transports/registry.js';
import { digestOf } from '../../../src/util/digest.js';
import { useCleanup } from '../../harness/tmp.js';
import { blob, makeOciImage } from '../fixtures.js';
import { readAll, rejection } from '../../harness/expect.js';

describe('transports/dir', () => {
  const cleanup = useCleanup();
  const img = makeOciImage('dir');
  let root: string;
  let dir: string;

  before(async () => {
    root = await cleanup.tempDir('dir-source');
    // A path with a colon: everything after "dir:" is the path.
    dir = join(root, 'img:v1');
    await mkdir(dir);
    await writeFile(join(dir, 'version'), 'Directory Transport Version: 1.1\n');
    await writeFile(join(dir, 'manifest.json'), img.manifest.bytes);
    for (const b of [img.config, img.layer]) await writeFile(join(dir, b.digest.slice('sha256:'.length)), b.bytes);
    await writeFile(join(dir, 'signature-1'), 'sig one');
    await writeFile(join(dir, 'signature-2'), 'sig two');
  });

  it('parses dir:PATH with colons; policy identity is the absolute path', () => {
    const ref = parseImageName('dir:rel/a:b') as DirReference;
    expect(ref).to.be.instanceOf(DirReference);
    expect(ref.path).to.equal('rel/a:b');
    expect(ref.stringWithinTransport()).to.equal('rel/a:b');
    expect(ref.toString()).to.equal('dir:rel/a:b');
    expect(ref.policyIdentity()).to.equal(resolve('rel/a:b'));
    expect(ref.dockerReference()).to.equal(undefined);
    expect(() => dirTransport.parseReference('')).to.throw(FerryError, 'empty');
  });

  it('reads manifest (media type detected), blobs and signatures', async () => {
    const src = await parseImageName(`dir:${dir}`).newImageSource({});
    const m = await src.getManifest();
    expect(m.bytes.equals(img.manifest.bytes)).to.equal(true);
    expect(m.mediaType).to.equal(MediaType.OciManifest);
    const layer = await src.getBlob({ digest: img.layer.digest, size: img.layer.size });
    expect(layer.size).to.equal(img.layer.size);
    expect((await readAll(layer.stream)).equals(img.layer.bytes)).to.equal(true);
    const part = await src.getBlob({ digest: img.config.digest, size: -1 }, { offset: 10 });
    expect((await readAll(part.stream)).equals(img.config.bytes.subarray(10))).to.equal(true);
    const sigs = await src.getSignatures();
    expect(sigs.map((s) => s.toString())).to.deep.equal(['sig one', 'sig two']);
    await src.close();
  });

  it('manifest.json and signatures (which no digest names) are read only as regular files, never through a symbolic link', async () => {
    const linked = join(root, 'linked');
    await mkdir(linked);
    await writeFile(join(linked, 'version'), 'Directory Transport Version: 1.1\n');
    const secret = join(root, 'secret.json');
    await writeFile(secret, '{"schemaVersion":2,"secret":"do not print"}');
    await symlink(secret, join(linked, 'manifest.json'));
    const src = await parseImageName(`dir:${linked}`).newImageSource({});
    const e = await rejection(src.getManifest());
    expect(e.code).to.equal(ErrorCode.Io);
    expect(e.message).to.equal(`manifest in ${linked} (${join(linked, 'manifest.json')}) is a symbolic link, not a regular file`);
    // signatures too: a copy would carry them on as they are
    await symlink(secret, join(linked, 'signature-1'));
    const s = await rejection(src.getSignatures());
    expect(s.message).to.equal(`signature 1 in ${linked} (${join(linked, 'signature-1')}) is a symbolic link, not a regular file`);
    await src.close();
  });

  it('reads instances of a list: <hex>.manifest.json and <hex>.signature-N', async () => {
    const listDir = join(root, 'list');
    await mkdir(listDir);
    const child = blob(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.DockerManifest, config: {}, layers: [] }));
    const list = blob(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.DockerManifestList, manifests: [{ digest: child.digest }] }));
    await writeFile(join(listDir, 'manifest.json'), list.bytes);
    await writeFile(manifestPath(listDir, child.digest), child.bytes);
    await writeFile(signaturePath(listDir, 0, child.digest), 'child sig');
    const hex = child.digest.slice(7);
    expect(manifestPath(listDir, child.digest)).to.equal(join(listDir, `${hex}.manifest.json`));
    expect(signaturePath(listDir, 0, child.digest)).to.equal(join(listDir, `${hex}.signature-1`));
    const src = await parseImageName(`dir:${listDir}`).newImageSource({});
    expect((await src.getManifest()).mediaType).to.equal(MediaType.DockerManifestList);
    const inst = await src.getManifest(child.digest);
    expect(inst.bytes.equals(child.bytes)).to.equal(true);
    expect(inst.mediaType).to.equal(MediaType.DockerManifest);
    expect((await src.getSignatures(child.digest)).map(String)).to.deep.equal(['child sig']);
    expect(await src.getSignatures()).to.deep.equal([]);
    expect((await rejection(src.getManifest('sha256:' + '2'.repeat(64)))).code).to.equal(ErrorCode.NotFound);
  });

  it('names non-sha256 blobs <algorithm>-<hex>', async () => {
    const d512 = digestOf(Buffer.from('x'), 'sha512');
    expect(digestStem(d512)).to.equal(`sha512-${d512.slice(7)}`);
    expect(digestStem('sha256:' + 'a'.repeat(64))).to.equal('a'.repeat(64));
    const d = join(root, 'sha512');
    await mkdir(d);
    await writeFile(join(d, `sha512-${d512.slice(7)}`), 'x');
    const src = await parseImageName(`dir:${d}`).newImageSource({});
    expect((await readAll((await src.getBlob({ digest: d512, size: 1 })).stream)).toString()).to.equal('x');
  });

  it('missing directory, manifest or blob is E_NOT_FOUND', async () => {
    expect((await rejection(parseImageName(`dir:${join(root, 'nope')}`).newImageSource({}))).code).to.equal(ErrorCode.NotFound);
    const emptyDir = join(root, 'empty');
    await mkdir(emptyDir);
    const src = await parseImageName(`dir:${emptyDir}`).newImageSource({});
    const e = await rejection(src.getManifest());
    expect(e.code).to.equal(ErrorCode.NotFound);
    expect(e.message).to.include(emptyDir);
    expect((await rejection(src.getBlob({ digest: img.layer.digest, size: -1 }))).code).to.equal(ErrorCode.NotFound);
    expect((await rejection(src.getBlob({ digest: 'sha256:../x', size: -1 }))).code).to.equal(ErrorCode.InvalidManifest);
  });

  it('rejects an unknown version file', async () => {
    const d = join(root, 'v2');
    await mkdir(d);
    await writeFile(join(d, 'version'), 'Directory Transport Version: 2.0\n');
    expect((await rejection(parseImageName(`dir:${d}`).newImageSource({}))).code).to.equal(ErrorCode.Unsupported);
  });

  it('deleting is unsupported', async () => {
    expect((await rejection(parseImageName(`dir:${dir}`).deleteImage({}))).code).to.equal(ErrorCode.Unsupported);
  });
});
