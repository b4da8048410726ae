import { expect } from 'chai';
import { ErrorCode } from '../../../src/errors.js';
import { DockerArchiveReference } from '../../../src/transports/docker-archive/reference.js';
import { parseImageName } from '../../../src/transports/registry.js';
import { rejection } from './helpers.js';

const parse = (s: string) => parseImageName(s) as DockerArchiveReference;

describe('transports/docker-archive/reference', () => {
  it('parses PATH, PATH:NAME[:TAG] (normalized, latest by default) and PATH:@N', () => {
    const plain = parse('docker-archive:/tmp/a.tar');
    expect(plain).to.be.instanceOf(DockerArchiveReference);
    expect([plain.path, plain.name, plain.sourceIndex]).to.deep.equal(['/tmp/a.tar', undefined, undefined]);
    expect(plain.toString()).to.equal('docker-archive:/tmp/a.tar');
    const named = parse('docker-archive:/tmp/a.tar:busybox');
    expect(named.dockerReference()).to.equal('docker.io/library/busybox:latest');
    expect(named.stringWithinTransport()).to.equal('/tmp/a.tar:docker.io/library/busybox:latest');
    expect(parse(named.toString()).dockerReference()).to.equal('docker.io/library/busybox:latest');
    expect(parse('docker-archive:/tmp/a.tar:localhost:5000/x/y:1').dockerReference()).to.equal('localhost:5000/x/y:1');
    const idx = parse('docker-archive:/tmp/a.tar:@2');
    expect(idx.sourceIndex).to.equal(2);
    expect(idx.toString()).to.equal('docker-archive:/tmp/a.tar:@2');
    expect(idx.policyIdentity()).to.equal('');
  });

  it('rejects empty paths, bad indexes, digests and invalid names', () => {
    for (const bad of ['docker-archive:', 'docker-archive::x', 'docker-archive:/a:@-1', 'docker-archive:/a:@x',
      `docker-archive:/a:busybox@sha256:${'a'.repeat(64)}`, 'docker-archive:/a:UPPER']) {
      expect(() => parseImageName(bad), bad).to.throw().with.property('code', ErrorCode.InvalidReference);
    }
  });

  it('does not delete images', async () => {
    expect((await rejection(parse('docker-archive:/tmp/a.tar').deleteImage())).code).to.equal(ErrorCode.Unsupported);
  });
});
