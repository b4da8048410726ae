import { expect } from 'chai';
import { parseStorageReference } from '../../../src/transports/containers-storage/transport.js';
import { parseImageName } from '../../../src/transports/registry.js';
import { isCode, ErrorCode } from '../../../src/errors.js';

const ID = 'e7aa99decb5a72ca42e0792d6c8fd79399a4851c94d5dcfaafcb3f8d3f9eb67a';

describe('containers-storage: references', () => {
  it('is a registered transport', () => {
    expect(parseImageName('containers-storage:busybox').transport.name).to.equal('containers-storage');
  });
  it('normalizes docker names with the default tag', () => {
    const r = parseStorageReference('busybox');
    expect(r.name).to.equal('docker.io/library/busybox:latest');
    expect(r.stringWithinTransport()).to.equal('docker.io/library/busybox:latest');
    expect(r.dockerReference()).to.equal('docker.io/library/busybox:latest');
  });
  it('parses the store specification', () => {
    const r = parseStorageReference(`[overlay@/var/g+/run/r:overlay.mountopt=nodev]example.com/a:1@${ID}`);
    expect(r.spec).to.deep.equal({ driver: 'overlay', graphRoot: '/var/g', runRoot: '/run/r', options: ['overlay.mountopt=nodev'] });
    expect(r.name).to.equal('example.com/a:1');
    expect(r.id).to.equal(ID);
    expect(r.stringWithinTransport()).to.equal(`[overlay@/var/g+/run/r:overlay.mountopt=nodev]example.com/a:1@${ID}`);
    expect(parseStorageReference('[/g]x').spec).to.deep.equal({ graphRoot: '/g' });
  });
  it('accepts image IDs, sha256: IDs and ID prefixes', () => {
    expect(parseStorageReference(ID).id).to.equal(ID);
    expect(parseStorageReference(`sha256:${ID}`).id).to.equal(ID);
    expect(parseStorageReference('e7aa99').idPrefix).to.equal('e7aa99');
  });
  it('refuses relative roots, an unclosed spec and bad names', () => {
    for (const bad of ['[overlay@g+/r]x', '[/g+r]x', '[/g', 'UPPER:case']) {
      let e: unknown;
      try { parseStorageReference(bad); } catch (x) { e = x; }
      expect(isCode(e, ErrorCode.InvalidReference), bad).to.equal(true);
    }
  });
  it('resolves repo@digest names by the manifest digests an image carries, like containers/image', () => {
    const M1 = `sha256:${'1'.repeat(64)}`;
    const M2 = `sha256:${'2'.repeat(64)}`;
    const images = [
      { id: 'a'.repeat(64), digest: M1, names: ['example.com/team/app:1'] },
      { id: 'b'.repeat(64), digest: M2, names: ['example.com/other:1'], 'big-data-names': [`manifest-${M1}`] },
      { id: 'c'.repeat(64), digest: M1, names: ['example.com/team/other:2'], digests: [M2] },
    ];
    expect(parseStorageReference(`example.com/team/app@${M1}`).resolve(images).id).to.equal('a'.repeat(64));
    expect(parseStorageReference(`example.com/team/other@${M2}`).resolve(images).id).to.equal('c'.repeat(64));
    let e: unknown;
    try { parseStorageReference(`example.com/team/app@${M2}`).resolve(images); } catch (x) { e = x; }
    expect(isCode(e, ErrorCode.NotFound)).to.equal(true);
  });
});
