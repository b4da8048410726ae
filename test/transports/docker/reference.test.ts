import { expect } from 'chai';
import { ErrorCode, FerryError } from '../../../src/errors.js';
import { DockerReference } from '../../../src/transports/docker/reference.js';
import { dockerTransport } from '../../../src/transports/docker/transport.js';
import { errorOf } from '../../harness/expect.js';

const D64 = 'sha256:' + 'a'.repeat(64);

describe('transports/docker/reference', () => {
  it('parses docker://NAME, defaulting the tag to latest', () => {
    const ref = dockerTransport.parseReference('//busybox') as DockerReference;
    expect(ref).to.be.instanceOf(DockerReference);
    expect(ref.transport).to.equal(dockerTransport);
    expect({ ...ref.name }).to.deep.equal({ domain: 'docker.io', path: 'library/busybox', tag: 'latest' });
    expect(ref.stringWithinTransport()).to.equal('//docker.io/library/busybox:latest');
    expect(ref.toString()).to.equal('docker://docker.io/library/busybox:latest');
    expect(ref.dockerReference()).to.equal('docker.io/library/busybox:latest');
    expect(ref.policyIdentity()).to.equal('docker.io/library/busybox:latest');
  });

  it('keeps a digest without adding a tag; refuses a tag and a digest together, as containers/image does', () => {
    const byDigest = dockerTransport.parseReference(`//localhost:5000/a/b@${D64}`) as DockerReference;
    expect(byDigest.name.tag).to.equal(undefined);
    expect(byDigest.stringWithinTransport()).to.equal(`//localhost:5000/a/b@${D64}`);
    for (const make of [() => dockerTransport.parseReference(`//quay.io/x/y:v1@${D64}`), () => DockerReference.fromName(`quay.io/x/y:v1@${D64}`)]) {
      const e = errorOf(make);
      expect(e.code).to.equal(ErrorCode.InvalidReference);
      expect(e.message).to.equal(
        `invalid reference "docker://quay.io/x/y:v1@${D64}": docker references with both a tag and digest are not supported; use docker://quay.io/x/y@${D64} or docker://quay.io/x/y:v1`,
      );
    }
  });

  it('round-trips through stringWithinTransport', () => {
    for (const s of ['//busybox', '//[::1]:5000/a/b:tag', `//index.docker.io/foo@${D64}`, '//Example.com:443/p/q:T_1']) {
      const ref = dockerTransport.parseReference(s);
      const again = dockerTransport.parseReference(ref.stringWithinTransport());
      expect(again.stringWithinTransport()).to.equal(ref.stringWithinTransport());
    }
  });

  it('requires the // prefix and says so', () => {
    const e = errorOf(() => dockerTransport.parseReference('busybox'));
    expect(e.code).to.equal(ErrorCode.InvalidReference);
    expect(e.message).to.include('must start with "//"');
    expect(e.message).to.include('docker://busybox');
  });

  it('passes name errors through as E_INVALID_REFERENCE', () => {
    const e = errorOf(() => dockerTransport.parseReference('//Foo/bar'));
    expect(e.code).to.equal(ErrorCode.InvalidReference);
    expect(e.message).to.include('must be lowercase');
  });

  it('DockerReference.fromName parses names without the prefix', () => {
    expect(DockerReference.fromName('alpine:3').dockerReference()).to.equal('docker.io/library/alpine:3');
  });
});
