import { expect } from 'chai';
import { FerryError } from '../../src/errors.js';
import { MediaType } from '../../src/manifest/media-types.js';
import { choosePlatformInstance, currentPlatform, goPlatformOf, wantedPlatforms } from '../../src/manifest/platform.js';
import type { ManifestList, Platform } from '../../src/manifest/types.js';

const dg = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;

function list(mediaType: string, platforms: (Platform | undefined)[], annotations: (Record<string, string> | undefined)[] = []): ManifestList {
  return {
    kind: 'list',
    mediaType,
    schemaVersion: 2,
    manifests: platforms.map((p, i) => ({
      digest: dg(i + 1),
      size: 100,
      mediaType: MediaType.OciManifest,
      ...(p ? { platform: p } : {}),
      ...(annotations[i] ? { annotations: annotations[i] } : {}),
    })),
  };
}

describe('manifest/platform', () => {
  it('maps Node platform names to Go names', () => {
    expect(goPlatformOf('linux', 'x64')).to.deep.equal({ os: 'linux', architecture: 'amd64' });
    expect(goPlatformOf('linux', 'ia32')).to.deep.equal({ os: 'linux', architecture: '386' });
    expect(goPlatformOf('linux', 'arm64')).to.deep.equal({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    expect(goPlatformOf('linux', 'arm', { armVersion: '7' })).to.deep.equal({ os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(goPlatformOf('linux', 'ppc64', { littleEndian: true }).architecture).to.equal('ppc64le');
    expect(goPlatformOf('linux', 'mips64el').architecture).to.equal('mips64le');
    expect(goPlatformOf('win32', 'x64').os).to.equal('windows');
    expect(currentPlatform().os).to.be.a('string').and.not.equal('');
  });

  it('computes wanted platforms like containers/image', () => {
    expect(wantedPlatforms({ os: 'linux', architecture: 'arm', variant: 'v6' }).map((p) => p.variant)).to.deep.equal(['v6', 'v5', '']);
    expect(wantedPlatforms({ os: 'linux', architecture: 'arm64' }).map((p) => p.variant)).to.deep.equal(['', 'v8']);
    expect(wantedPlatforms({ os: 'linux', architecture: 'amd64', variant: 'v3' }).map((p) => p.variant)).to.deep.equal(['v3', 'v2', 'v1', '']);
    expect(wantedPlatforms({ os: 'linux', architecture: 'riscv64', variant: 'rva20' }).map((p) => p.variant)).to.deep.equal(['rva20', '']);
  });

  it('chooses by variant compatibility, best wanted platform first', () => {
    const l = list(MediaType.OciIndex, [
      { os: 'linux', architecture: 'arm', variant: 'v5' },
      { os: 'linux', architecture: 'arm', variant: 'v6' },
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
      { os: 'linux', architecture: 'amd64' },
    ]);
    expect(choosePlatformInstance(l, { os: 'linux', architecture: 'arm', variant: 'v7' }).digest).to.equal(dg(2));
    expect(choosePlatformInstance(l, { os: 'linux', architecture: 'arm', variant: 'v5' }).digest).to.equal(dg(1));
    expect(choosePlatformInstance(l, { os: 'linux', architecture: 'arm64' }).digest).to.equal(dg(3));
    expect(choosePlatformInstance(l, { os: 'linux', architecture: 'amd64' }).digest).to.equal(dg(4));
  });

  it('takes any variant for an architecture given without one, most capable first (--override-arch arm → arm/v7)', () => {
    expect(wantedPlatforms({ os: 'linux', architecture: 'arm' }).map((p) => p.variant)).to.deep.equal(['', 'v8', 'v7', 'v6', 'v5']);
    expect(wantedPlatforms({ os: 'linux', architecture: 'amd64' }).map((p) => p.variant)).to.deep.equal(['', 'v1']);
    const l = list(MediaType.OciIndex, [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm', variant: 'v6' },
      { os: 'linux', architecture: 'arm', variant: 'v7' },
    ]);
    expect(choosePlatformInstance(l, { os: 'linux', architecture: 'arm' }).digest).to.equal(dg(3));
  });

  it('prefers zstd instances in an OCI index and falls back to entries without platform', () => {
    const z = { 'io.github.containers.compression.zstd': 'true' };
    const amd = { os: 'linux', architecture: 'amd64' };
    expect(choosePlatformInstance(list(MediaType.OciIndex, [amd, amd], [undefined, z]), amd).digest).to.equal(dg(2));
    expect(choosePlatformInstance(list(MediaType.OciIndex, [{ os: 'linux', architecture: 's390x' }, undefined]), amd).digest).to.equal(dg(2));
  });

  it('fails with E_NO_MATCHING_PLATFORM listing what is available', () => {
    const l = list(MediaType.DockerManifestList, [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
    ]);
    try {
      choosePlatformInstance(l, { os: 'linux', architecture: 's390x' });
      expect.fail('expected an error');
    } catch (e) {
      expect(e).to.be.instanceOf(FerryError);
      expect((e as FerryError).code).to.equal('E_NO_MATCHING_PLATFORM');
      expect((e as Error).message).to.equal(
        'choosing image instance: no image found in manifest list for architecture s390x, variant "", OS linux; available: linux/amd64, linux/arm64/v8',
      );
    }
  });
});
