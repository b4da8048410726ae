/**
 * A group that stands for many (a registry's catalog, `SyncSourceGroup.expand`): its groups are listed and their
 * images queued as they are found, so the first image starts before the catalog is read to its end; a catalog that
 * fails half-way is one failure, after the images it had already given.
 */
import { expect } from 'chai';
import { FerryError, ErrorCode } from '../../src/errors.js';
import { DockerReference } from '../../src/transports/docker/reference.js';
import type { SyncSourceGroup } from '../../src/sync/sources.js';
import { syncImages, type SyncImage, type SyncOptions } from '../../src/sync/sync.js';

const group = (label: string, tags: string[]): SyncSourceGroup => ({
  label,
  ctx: {},
  list: async () => tags.map((t) => DockerReference.fromName(`registry.example.com/${label}:${t}`)),
});

describe('sync: groups found while the sync runs (expand)', () => {
  const opts = (started: SyncImage[], failed: string[] = []): SyncOptions => ({
    destKind: 'docker',
    destination: 'mirror.example.com/m',
    copy: {} as SyncOptions['copy'],
    dryRun: true,
    keepGoing: true,
    reporter: {
      imageStart: (image) => {
        started.push(image);
      },
      groupFailed: (label) => {
        failed.push(label);
      },
    },
  });

  it('the first image starts before the next group is found', async () => {
    const started: SyncImage[] = [];
    let firstStarted!: () => void;
    const first = new Promise<void>((resolve) => (firstStarted = resolve));
    const o = opts(started);
    o.reporter!.imageStart = (image) => {
      started.push(image);
      firstStarted();
    };
    const catalog: SyncSourceGroup = {
      label: 'registry.example.com',
      ctx: {},
      list: () => Promise.reject(new Error('a catalog is expanded, not listed')),
      async *expand() {
        yield group('team/a', ['v1', 'v2']);
        // never resolves unless the sync copies (here: dry-runs) team/a before asking for the next repository
        await first;
        yield group('team/b', ['v1']);
      },
    };
    const r = await syncImages([catalog], o);
    expect(r.images).to.equal(3);
    expect(r.sources).to.equal(2);
    expect(started.map((i) => `${i.from} ${i.index}/${i.count}`)).to.deep.equal([
      'docker://registry.example.com/team/a:v1 1/2',
      'docker://registry.example.com/team/a:v2 2/2',
      'docker://registry.example.com/team/b:v1 1/1',
    ]);
  });

  it('a catalog failing half-way is one failure; what it gave before and the sources after it are synced', async () => {
    const started: SyncImage[] = [];
    const failed: string[] = [];
    const catalog: SyncSourceGroup = {
      label: 'registry.example.com',
      ctx: {},
      list: () => Promise.reject(new Error('not listed')),
      async *expand() {
        yield group('team/a', ['v1']);
        throw new FerryError(ErrorCode.Unauthorized, 'listing the repositories of registry.example.com: unauthorized');
      },
    };
    const r = await syncImages([catalog, group('other/c', ['v1'])], opts(started, failed));
    expect(started.map((i) => i.from)).to.deep.equal(['docker://registry.example.com/team/a:v1', 'docker://registry.example.com/other/c:v1']);
    expect(failed).to.deep.equal(['registry.example.com']);
    expect(r.failures.map((f) => f.what)).to.deep.equal(['registry.example.com']);
    expect(r.images).to.equal(2);
  });
});
