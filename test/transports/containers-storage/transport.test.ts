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
});
