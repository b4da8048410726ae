import { expect } from 'chai';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode } from '../../../src/errors.js';
import { openDockerArchive } from '../../../src/transports/docker-archive/archive.js';
import { listArchiveTags } from '../../../src/transports/docker-archive/tags.js';
import { parseImageName } from '../../../src/transports/registry.js';
import { ferry } from '../../harness/cli.js';
import { buildImage, type BuiltImage } from '../../harness/images.js';
import { runOk } from '../../harness/procs.js';
import { tarBlobDigests, tarNames } from '../../harness/tar-listing.js';
import { useCleanup } from '../../harness/tmp.js';
import { fileDigest, rejection, sha256, skopeoRaw } from '../docker-archive/helpers.js';


async function copyOk(src: string, dest: string, extra: string[] = []): Promise<void> {
  const r = await ferry(['copy', '-q', ...extra, src, dest]);
  expect(r.code, r.stderr).to.equal(0);
}

describe('transports: many images in one archive', function () {
  this.timeout(120_000);
  const cleanup = useCleanup();
  let root: string;
  let a: BuiltImage;
  let b: BuiltImage;

  before(async () => {
    root = await cleanup.tempDir('multi-archive');
    a = await buildImage(join(root, 'a'), { seed: 71, tag: 'v1', layers: 2, layerSize: 8192 });
    b = await buildImage(join(root, 'b'), { seed: 72, tag: 'v1', layers: 2, layerSize: 8192 });
  });

  describe('oci-archive:', () => {
    it('adds images under new names, replaces one of the same name, stores blobs once; skopeo reads each image', async () => {
      const dir = join(root, 'oci-add');
      await runOk('mkdir', ['-p', dir]);
      const file = join(dir, 'all.tar');
      await copyOk(`oci:${a.layoutDir}:v1`, `oci-archive:${file}:team/a:1`);
      await copyOk(`oci:${b.layoutDir}:v1`, `oci-archive:${file}:team/b:1`);
      await copyOk(`oci:${a.layoutDir}:v1`, `oci-archive:${file}:team/a:latest`);
      for (const [ref, img] of [['team/a:1', a], ['team/b:1', b], ['team/a:latest', a]] as const) {
        expect(sha256(await skopeoRaw(`oci-archive:${file}:${ref}`)), ref).to.equal(img.digest);
      }
      // Each blob once: a's manifest, config and two layers, the same for b.
      const blobs = await tarBlobDigests(file);
      expect(blobs).to.have.length(8);
      expect(new Set(blobs).size).to.equal(8);
      // The same name again: replaced; a's blobs go once nothing uses them.
      await copyOk(`oci:${b.layoutDir}:v1`, `oci-archive:${file}:team/a:1`);
      await copyOk(`oci:${b.layoutDir}:v1`, `oci-archive:${file}:team/a:latest`);
      expect(sha256(await skopeoRaw(`oci-archive:${file}:team/a:1`))).to.equal(b.digest);
      const index = JSON.parse((await runOk('tar', ['-xOf', file, 'index.json'])).stdout) as { manifests: { annotations: Record<string, string> }[] };
      expect(index.manifests.map((d) => d.annotations['org.opencontainers.image.ref.name'])).to.deep.equal(['team/b:1', 'team/a:1', 'team/a:latest']);
      const left = await tarBlobDigests(file);
      expect(left).to.not.include(a.digest);
      expect(left).to.include(b.digest);
      expect(left).to.have.length(4);
      // Nothing is left beside the archive: no staging directory, no lock.
      expect(await readdir(dir)).to.deep.equal(['all.tar']);
    });

    it('does not copy blobs the archive already holds, and two writers at once both keep their image', async () => {
      const file = join(root, 'oci-reuse.tar');
      await copyOk(`oci:${a.layoutDir}:v1`, `oci-archive:${file}:one`);
      const dest = await parseImageName(`oci-archive:${file}:two`).newImageDestination({});
      try {
        const l = a.manifests[0]!.layers[0]!;
        expect(await dest.tryReusingBlob({ digest: l.digest, size: l.size })).to.deep.include({ digest: l.digest, size: l.size });
        expect(await dest.tryReusingBlob({ digest: l.digest, size: l.size + 1 })).to.equal(undefined);
      } finally {
        await dest.close();
      }
      await Promise.all([copyOk(`oci:${b.layoutDir}:v1`, `oci-archive:${file}:three`), copyOk(`oci:${a.layoutDir}:v1`, `oci-archive:${file}:two`)]);
      for (const [ref, img] of [['one', a], ['two', a], ['three', b]] as const) expect(sha256(await skopeoRaw(`oci-archive:${file}:${ref}`)), ref).to.equal(img.digest);
    });

    it('without a ref name, replaces the archive as skopeo does', async () => {
      const file = join(root, 'oci-unnamed.tar');
      await copyOk(`oci:${a.layoutDir}:v1`, `oci-archive:${file}:one`);
      await copyOk(`oci:${b.layoutDir}:v1`, `oci-archive:${file}`);
      expect(sha256(await skopeoRaw(`oci-archive:${file}`))).to.equal(b.digest);
    });

    it('names the archive, never a temporary directory, in errors; a file that is not an archive is left as it is', async () => {
      const file = join(root, 'oci-errors.tar');
      await copyOk(`oci:${a.layoutDir}:v1`, `oci-archive:${file}:one`);
      const missing = await ferry(['inspect', `oci-archive:${file}:nope`]);
      expect(missing.code).to.equal(2);
      expect(missing.stderr).to.include(`no image named "nope" in OCI archive ${file} (images present: "one")`);
      expect(missing.stderr).to.not.match(/ferry-oci-archive-/);
      const junk = join(root, 'junk.tar');
      await writeFile(junk, 'not an archive at all, but long enough to be read as a tar header block'.repeat(20));
      const before = await fileDigest(junk);
      const e = await ferry(['copy', '-q', `oci:${a.layoutDir}:v1`, `oci-archive:${junk}:x`]);
      expect(e.code).to.not.equal(0);
      expect(e.stderr).to.include(`OCI archive ${junk}`);
      expect(e.stderr).to.not.match(/ferry-oci-archive-/);
      expect(await fileDigest(junk)).to.equal(before);
      expect((await readdir(root)).filter((n) => n.startsWith('.'))).to.deep.equal([]);
    });
  });

  describe('docker-archive:', () => {
    it('adds images under new names; skopeo reads each with docker-archive:FILE:REPO:TAG', async () => {
      const file = join(root, 'docker-add.tar');
      await copyOk(`oci:${a.layoutDir}:v1`, `docker-archive:${file}:team/a:1`);
      const single = join(root, 'docker-single-b.tar');
      await copyOk(`oci:${b.layoutDir}:v1`, `docker-archive:${single}:team/b:1`);
      await copyOk(`oci:${b.layoutDir}:v1`, `docker-archive:${file}:team/b:1`);
      expect(await listArchiveTags(file)).to.deep.equal(['docker.io/team/a:1', 'docker.io/team/b:1']);
      // The same manifest as a one-image archive of the same image.
      expect((await skopeoRaw(`docker-archive:${file}:team/b:1`)).equals(await skopeoRaw(`docker-archive:${single}`))).to.equal(true);
      const aRaw = JSON.parse((await skopeoRaw(`docker-archive:${file}:team/a:1`)).toString()) as { config: { digest: string } };
      expect(aRaw.config.digest).to.equal(a.manifests[0]!.configDigest);
      const out = join(root, 'docker-add-out');
      await runOk('skopeo', ['--insecure-policy', 'copy', '-q', `docker-archive:${file}:docker.io/team/a:1`, `oci:${out}:x`]);
      const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: unknown[] };
      expect(index.manifests).to.have.length(1);
      // Every layer once.
      const names = await tarNames(file);
      expect(names.filter((n) => /^[0-9a-f]{64}\.tar$/.test(n))).to.have.length(4);
      expect(new Set(names).size).to.equal(names.length);
    });

    it('moves a name to the new image; an image left with no name goes with what only it used', async () => {
      const file = join(root, 'docker-replace.tar');
      await copyOk(`oci:${a.layoutDir}:v1`, `docker-archive:${file}:team/a:1`, ['--additional-tag', 'team/a:keep']);
      await copyOk(`oci:${b.layoutDir}:v1`, `docker-archive:${file}:team/a:1`);
      expect(await listArchiveTags(file)).to.deep.equal(['docker.io/team/a:keep', 'docker.io/team/a:1']);
      const archive = await openDockerArchive(file);
      try {
        expect(archive.items.map((i) => i.RepoTags)).to.deep.equal([['docker.io/team/a:keep'], ['docker.io/team/a:1']]);
      } finally {
        await archive.close();
      }
      // a's image lost team/a:1 but keeps its layers: team/a:keep still uses them.
      expect((await runOk('skopeo', ['inspect', `docker-archive:${file}:team/a:keep`])).stdout).to.include(a.manifests[0]!.layers[0]!.diffId);
      await copyOk(`oci:${b.layoutDir}:v1`, `docker-archive:${file}:team/a:keep`);
      const names = await tarNames(file);
      for (const l of a.manifests[0]!.layers) expect(names).to.not.include(`${l.diffId.slice(7)}.tar`);
      expect(names).to.not.include(`${a.manifests[0]!.configDigest.slice(7)}.json`);
      // No dangling legacy link is left: every <id>/layer.tar resolves.
      const repositories = JSON.parse((await runOk('tar', ['-xOf', file, 'repositories'])).stdout) as Record<string, Record<string, string>>;
      expect(Object.keys(repositories['docker.io/team/a'] ?? {}).sort()).to.deep.equal(['1', 'keep']);
      const check = await openDockerArchive(file);
      try {
        for (const e of check.tar.list) if (e.name.endsWith('/layer.tar')) expect(check.tar.resolve(e.name), e.name).to.not.equal(undefined);
      } finally {
        await check.close();
      }
    });

    it('refuses an unnamed image into a non-empty file, and a named one into a file that is not an archive, naming it', async () => {
      const file = join(root, 'docker-unnamed.tar');
      await copyOk(`oci:${a.layoutDir}:v1`, `docker-archive:${file}:team/a:1`);
      const e = await rejection(parseImageName(`docker-archive:${file}`).newImageDestination({}));
      expect(e.code).to.equal(ErrorCode.Unsupported);
      const junk = join(root, 'docker-junk.tar');
      await writeFile(junk, 'x'.repeat(2048));
      const r = await ferry(['copy', '-q', `oci:${a.layoutDir}:v1`, `docker-archive:${junk}:team/a:1`]);
      expect(r.code).to.not.equal(0);
      expect(r.stderr).to.include(`docker archive ${junk}`);
      expect((await stat(junk)).size).to.equal(2048);
    });
  });
});
