import { expect } from 'chai';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ErrorCode } from '../../../src/errors.js';
import { MediaType } from '../../../src/manifest/media-types.js';
import { DOCKER_ARCHIVE_PROPERTIES, openDockerArchiveDestination } from '../../../src/transports/docker-archive/destination.js';
import type { DockerArchiveReference } from '../../../src/transports/docker-archive/reference.js';
import { listArchiveTags } from '../../../src/transports/docker-archive/tags.js';
import { parseImageName } from '../../../src/transports/registry.js';
import { buildImage, type BuiltImage } from '../../harness/images.js';
import { runOk } from '../../harness/procs.js';
import { useCleanup } from '../../harness/tmp.js';
import { copyBuiltImage, fileDigest, openDest, readAll, rejection, sha256, skopeoRaw, skopeoToArchive } from './helpers.js';

describe('transports/docker-archive/destination', function () {
  this.timeout(60_000);
  const cleanup = useCleanup();
  let root: string;
  let img: BuiltImage;

  before(async () => {
    root = await cleanup.tempDir('docker-archive-dest');
    img = await buildImage(join(root, 'img'), { seed: 21, tag: 't', layers: 3, layerSize: 16384 });
  });

  it('advertises uncompressed schema2 only and no signatures', () => {
    expect(DOCKER_ARCHIVE_PROPERTIES.supportedManifestMIMETypes).to.deep.equal([MediaType.DockerManifest]);
    expect(DOCKER_ARCHIVE_PROPERTIES.desiredLayerCompression).to.equal('decompress');
    expect(DOCKER_ARCHIVE_PROPERTIES.supportsSignatures).to.equal(false);
  });

  it('writes the same archive as skopeo, byte for byte', async () => {
    const ours = join(root, 'ours.tar');
    const theirs = join(root, 'theirs.tar');
    await skopeoToArchive(img, theirs, 'busybox:latest');
    await copyBuiltImage(img, await openDest(`docker-archive:${ours}:busybox:latest`));
    expect(await fileDigest(ours)).to.equal(await fileDigest(theirs));
  });

  it('writes an archive skopeo reads: same manifest, and skopeo copies it to OCI with the same config and diff IDs', async () => {
    const file = join(root, 'read-back.tar');
    const dest = await openDest(`docker-archive:${file}:example.com/app:1`);
    await copyBuiltImage(img, dest);
    await dest.close();
    const m = img.manifests[0]!;
    const inspect = JSON.parse((await runOk('skopeo', ['inspect', `docker-archive:${file}`])).stdout) as { Layers: string[]; Digest: string };
    expect(inspect.Layers).to.deep.equal(m.layers.map((l) => l.diffId));
    const raw = JSON.parse((await skopeoRaw(`docker-archive:${file}`)).toString()) as { config: { digest: string } };
    expect(raw.config.digest).to.equal(m.configDigest);
    const out = join(root, 'out-oci');
    await runOk('skopeo', ['--insecure-policy', 'copy', '-q', `docker-archive:${file}`, `oci:${out}:x`]);
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    const ociManifest = JSON.parse(await readFile(join(out, 'blobs', 'sha256', index.manifests[0]!.digest.slice(7)), 'utf8')) as {
      config: { digest: string };
    };
    const cfg = JSON.parse(await readFile(join(out, 'blobs', 'sha256', ociManifest.config.digest.slice(7)), 'utf8')) as {
      rootfs: { diff_ids: string[] };
    };
    expect(cfg.rootfs.diff_ids).to.deep.equal(m.layers.map((l) => l.diffId));
    expect(sha256(m.config)).to.equal(m.configDigest);
  });

  it('records the reference and additional tags in RepoTags', async () => {
    const file = join(root, 'tags.tar');
    const ref = parseImageName(`docker-archive:${file}:busybox:1`) as DockerArchiveReference;
    const dest = await openDockerArchiveDestination(ref, {}, { additionalTags: ['quay.io/x/y:2', 'busybox:1'] });
    await copyBuiltImage(img, dest);
    expect(await listArchiveTags(file)).to.deep.equal(['docker.io/library/busybox:1', 'quay.io/x/y:2']);
    const skopeo = JSON.parse((await runOk('skopeo', ['list-tags', `docker-archive:${file}`])).stdout) as { Tags: string[] };
    expect(skopeo.Tags).to.include.members(['docker.io/library/busybox:1', 'quay.io/x/y:2']);
    // An untagged additional name is refused.
    const e = await rejection(openDockerArchiveDestination(ref, {}, { additionalTags: ['quay.io/x/y'] }));
    expect(e.code).to.equal(ErrorCode.InvalidReference);
  });

  it('shows nothing at the path before commit and leaves nothing after close without commit', async () => {
    const dir = join(root, 'atomic');
    await runOk('mkdir', ['-p', dir]);
    const file = join(dir, 'a.tar');
    const dest = await openDest(`docker-archive:${file}`);
    const m = img.manifests[0]!;
    await dest.putBlob(Readable.from([m.config]), { digest: m.configDigest, size: m.config.length });
    expect(await readdir(dir)).to.not.include('a.tar');
    expect(await dest.tryReusingBlob({ digest: m.configDigest, size: -1 })).to.deep.equal({ digest: m.configDigest, size: m.config.length });
    expect(await dest.tryReusingBlob({ digest: sha256('other'), size: -1 })).to.equal(undefined);
    await dest.close();
    expect(await readdir(dir)).to.deep.equal([]);
  });

  it('verifies blobs as they arrive and keeps nothing of a bad one', async () => {
    const dir = join(root, 'verify');
    await runOk('mkdir', ['-p', dir]);
    const dest = await openDest(`docker-archive:${join(dir, 'v.tar')}`);
    try {
      const bad = await rejection(dest.putBlob(Readable.from([Buffer.from('hello')]), { digest: sha256('bye'), size: -1 }));
      expect(bad.code).to.equal(ErrorCode.DigestMismatch);
      const short = await rejection(dest.putBlob(Readable.from([Buffer.from('hello')]), { digest: sha256('hello'), size: 6 }));
      expect(short.code).to.equal(ErrorCode.SizeMismatch);
      expect(await dest.tryReusingBlob({ digest: sha256('bye'), size: -1 })).to.equal(undefined);
      // Nothing of them is staged: the staging directory holds only its owner lock and the archive's temp file
      // (layers are written into it as they arrive).
      const staging = (await readdir(dir)).find((n) => n.startsWith('.ferry-docker-archive-'));
      const left = (await readdir(join(dir, staging!))).sort();
      expect(left).to.have.length(2);
      expect(left[0]).to.equal('.owner.lock');
      expect(left[1]).to.match(/^\.tmp-[0-9a-f]+$/);
      // A manifest naming blobs that were not stored is refused; so are other manifest types and lists.
      const m = img.manifests[0]!;
      expect((await rejection(dest.putManifest({ bytes: m.bytes, mediaType: m.mediaType }))).code).to.equal(ErrorCode.Unsupported);
      expect((await rejection(dest.putSignatures([Buffer.from('sig')]))).code).to.equal(ErrorCode.Unsupported);
      expect((await rejection(dest.commit())).code).to.equal(ErrorCode.Io);
    } finally {
      await dest.close();
    }
    expect(await readdir(dir)).to.deep.equal([]);
  });

  it('refuses @N destinations, missing parent directories and existing non-empty files', async () => {
    expect((await rejection(openDest(`docker-archive:${join(root, 'x.tar')}:@0`))).code).to.equal(ErrorCode.InvalidReference);
    expect((await rejection(openDest(`docker-archive:${join(root, 'no', 'such', 'x.tar')}`))).code).to.equal(ErrorCode.NotFound);
    const existing = join(root, 'existing.tar');
    await writeFile(existing, 'data');
    expect((await rejection(openDest(`docker-archive:${existing}`))).code).to.equal(ErrorCode.Unsupported);
  });

  it('round-trips through its own source', async () => {
    const file = join(root, 'round.tar');
    await copyBuiltImage(img, await openDest(`docker-archive:${file}:round:trip`));
    const src = await parseImageName(`docker-archive:${file}:round:trip`).newImageSource({});
    try {
      const m = img.manifests[0]!;
      expect((await src.getManifest()).bytes.equals(await skopeoRaw(`docker-archive:${file}`))).to.equal(true);
      const l = m.layers[2]!;
      expect(sha256(await readAll((await src.getBlob({ digest: l.diffId, size: -1 })).stream))).to.equal(l.diffId);
    } finally {
      await src.close();
    }
  });
});
