import { expect } from 'chai';
import { ErrorCode, FerryError } from '../../src/errors.js';
import { getTransport, parseImageName, transportNames } from '../../src/transports/registry.js';
import { DirReference } from '../../src/transports/dir/reference.js';
import { DockerReference } from '../../src/transports/docker/reference.js';
import { OciReference } from '../../src/transports/oci-layout/reference.js';
import { errorOf } from '../harness/expect.js';

describe('transports/registry', () => {
  it('knows docker, oci and dir, sorted', () => {
    const names = transportNames();
    expect(names).to.include.members(['dir', 'docker', 'oci']);
    expect(names).to.deep.equal([...names].sort());
    expect(getTransport('docker')?.name).to.equal('docker');
    expect(getTransport('nope')).to.equal(undefined);
  });

  it('dispatches on the part before the first colon', () => {
    expect(parseImageName('docker://busybox')).to.be.instanceOf(DockerReference);
    const oci = parseImageName('oci:/tmp/layout:tag:with:colons');
    expect(oci).to.be.instanceOf(OciReference);
    expect((oci as OciReference).dir).to.equal('/tmp/layout');
    expect((oci as OciReference).image).to.equal('tag:with:colons');
    const dir = parseImageName('dir:/tmp/a:b');
    expect(dir).to.be.instanceOf(DirReference);
    expect((dir as DirReference).path).to.equal('/tmp/a:b');
  });

  it('rejects a name without a transport, listing the known ones', () => {
    const e = errorOf(() => parseImageName('busybox'));
    expect(e.code).to.equal(ErrorCode.UnknownTransport);
    expect(e.message).to.equal(`invalid image name "busybox": no transport; known transports: ${transportNames().join(', ')}`);
    expect(errorOf(() => parseImageName(':x')).code).to.equal(ErrorCode.UnknownTransport);
  });

  it('rejects an unknown transport, naming it', () => {
    const e = errorOf(() => parseImageName('ftp://x'));
    expect(e.code).to.equal(ErrorCode.UnknownTransport);
    expect(e.message).to.include('unknown transport "ftp"');
    expect(e.message).to.include('docker, ');
  });

  it('lets transport errors through', () => {
    expect(errorOf(() => parseImageName('docker:busybox')).code).to.equal(ErrorCode.InvalidReference);
  });
});
