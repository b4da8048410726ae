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
    expect(e.message).to.equal(`invalid image name "busybox": no transport (did you mean "docker://busybox"?); known transports: ${transportNames().join(', ')}`);
    expect(errorOf(() => parseImageName(':x')).code).to.equal(ErrorCode.UnknownTransport);
  });

  it('suggests docker:// for a registry image named without it, and the transport a typo was meant to be', () => {
    const known = `known transports: ${transportNames().join(', ')}`;
    expect(errorOf(() => parseImageName('127.0.0.1:5000/team/app:1.0')).message).to.equal(
      `invalid image name "127.0.0.1:5000/team/app:1.0": unknown transport "127.0.0.1" (did you mean "docker://127.0.0.1:5000/team/app:1.0"?); ${known}`,
    );
    expect(errorOf(() => parseImageName('quay.io/team/app')).message).to.contain('(did you mean "docker://quay.io/team/app"?)');
    expect(errorOf(() => parseImageName('ocl:/srv/layout:1')).message).to.contain('unknown transport "ocl" (did you mean "oci:/srv/layout:1"?)');
    expect(errorOf(() => parseImageName('docker-archve:/tmp/a.tar')).message).to.contain('(did you mean "docker-archive:/tmp/a.tar"?)');
    // a file name, a path, or a name no registry would take: no guess
    for (const s of ['app.tar', '/tmp/layout', 'Not An Image']) expect(errorOf(() => parseImageName(s)).message, s).to.not.contain('did you mean');
    // nor one that echoes credentials
    expect(errorOf(() => parseImageName('me:s3cret@registry.example/app')).message).to.not.contain('s3cret');
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
