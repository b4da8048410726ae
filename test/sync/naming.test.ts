import { expect } from 'chai';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { destinationName } from '../../src/sync/naming.js';
import { findDirImages, syncSources } from '../../src/sync/sources.js';
import { DockerReference } from '../../src/transports/docker/reference.js';
import { dirTransport } from '../../src/transports/dir/transport.js';
import { ErrorCode } from '../../src/errors.js';
import { rejection } from '../harness/expect.js';
import { useCleanup } from '../harness/tmp.js';

describe('sync/naming and sources: where images come from and go to', () => {
  const cleanup = useCleanup();

  it('docker sources: the last element, or the whole name with scoped; the suffix lands on the tag', () => {
    const src = DockerReference.fromName('registry.example.com/team/app:1.0');
    expect(destinationName(src, 'mirror.example.com/ns')).to.equal('mirror.example.com/ns/app:1.0');
    expect(destinationName(src, '/media/usb/', { appendSuffix: '-m' })).to.equal('/media/usb/app:1.0-m');
    expect(destinationName(src, 'mirror.example.com', { scoped: true })).to.equal('mirror.example.com/registry.example.com/team/app:1.0');
    expect(destinationName(DockerReference.fromName('busybox'), 'm.io', { scoped: true })).to.equal('m.io/docker.io/library/busybox:latest');
    const digest = `sha256:${'a'.repeat(64)}`;
    expect(destinationName(DockerReference.fromName(`r.io/x/app@${digest}`), 'm.io')).to.equal(`m.io/app@${digest}`);
  });

  it('dir sources: the path below the base, or the base’s name when it is the image', () => {
    const img = dirTransport.parseReference('/media/usb/r.io/team/app:1.0');
    expect(destinationName(img, 'm.io/ns', { dirBase: '/media/usb' })).to.equal('m.io/ns/app:1.0');
    expect(destinationName(img, 'm.io/ns', { dirBase: '/media/usb/', scoped: true })).to.equal('m.io/ns/r.io/team/app:1.0');
    expect(destinationName(img, 'm.io/ns', { dirBase: '/media/usb/r.io/team/app:1.0', scoped: true })).to.equal('m.io/ns/app:1.0');
  });

  it('findDirImages: folders with manifest.json, sorted, not below an image nor in staging folders', async () => {
    const base = await cleanup.tempDir('sync-dir-src');
    for (const d of ['b/app:2', 'a/app:1', 'a/app:1/nested', 'a/.ferry-staging-x', 'c/empty']) await mkdir(join(base, d), { recursive: true });
    for (const d of ['b/app:2', 'a/app:1', 'a/app:1/nested', 'a/.ferry-staging-x']) await writeFile(join(base, d, 'manifest.json'), '{}');
    expect(await findDirImages(base)).to.deep.equal([join(base, 'a/app:1'), join(base, 'b/app:2')]);
    const [g] = await syncSources('dir', base, {});
    expect(g!.dirBase).to.equal(base);
    expect((await g!.list()).map((r) => r.toString())).to.deep.equal([`dir:${join(base, 'a/app:1')}`, `dir:${join(base, 'b/app:2')}`]);
    const empty = (await syncSources('dir', join(base, 'c'), {}))[0]!;
    expect((await rejection(empty.list())).code).to.equal(ErrorCode.NotFound);
    expect((await rejection(syncSources('dir', join(base, 'none'), {}))).code).to.equal(ErrorCode.NotFound);
  });

  it('docker sources: a tagged name is one image; yaml refs become tags or digests, bad ones E_CONFIG with the line', async () => {
    const [one] = await syncSources('docker', 'r.io/team/app:1.0', {});
    expect((await one!.list()).map(String)).to.deep.equal(['docker://r.io/team/app:1.0']);
    const dir = await cleanup.tempDir('sync-yaml-src');
    const digest = `sha256:${'b'.repeat(64)}`;
    await writeFile(join(dir, 's.yaml'), `r.io:\n  tls-verify: false\n  images:\n    team/app: [v1, "${digest}"]\n`);
    const [g] = await syncSources('yaml', join(dir, 's.yaml'), { tlsVerify: true, certDir: '/c' });
    expect(g!.ctx).to.deep.equal({ tlsVerify: false, certDir: '/c' });
    expect((await g!.list()).map(String)).to.deep.equal(['docker://r.io/team/app:v1', `docker://r.io/team/app@${digest}`]);
    await writeFile(join(dir, 'bad.yaml'), `r.io:\n  images:\n    Team/App: [v1]\n`);
    const e = await rejection(syncSources('yaml', join(dir, 'bad.yaml'), {}));
    expect(e.code).to.equal(ErrorCode.Config);
    expect(e.message).to.match(new RegExp(`^${join(dir, 'bad.yaml')}:3: invalid repository "r.io/Team/App"`));
    await writeFile(join(dir, 'badtag.yaml'), `r.io:\n  images:\n    app:\n      - "-v1"\n`);
    expect((await rejection(syncSources('yaml', join(dir, 'badtag.yaml'), {}))).message).to.contain(':3: invalid tag "-v1"');
  });
});
