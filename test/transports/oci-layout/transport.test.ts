import { expect } from 'chai';
import { resolve } from 'node:path';
import { ErrorCode, FerryError } from '../../../src/errors.js';
import { isValidRefName } from '../../../src/transports/oci-layout/layout.js';
import { OciReference } from '../../../src/transports/oci-layout/reference.js';
import { ociTransport } from '../../../src/transports/oci-layout/transport.js';
import { errorOf } from '../../harness/expect.js';

describe('transports/oci-layout/transport', () => {
  it('parses PATH, PATH:REF and PATH:@N', () => {
    const plain = ociTransport.parseReference('/tmp/lay') as OciReference;
    expect([plain.dir, plain.image, plain.sourceIndex]).to.deep.equal(['/tmp/lay', '', undefined]);
    expect(plain.stringWithinTransport()).to.equal('/tmp/lay');
    expect(plain.selector).to.deep.equal({});

    const named = ociTransport.parseReference('/tmp/lay:v1.0') as OciReference;
    expect(named.image).to.equal('v1.0');
    expect(named.selector).to.deep.equal({ refName: 'v1.0' });
    expect(named.toString()).to.equal('oci:/tmp/lay:v1.0');

    const indexed = ociTransport.parseReference('/tmp/lay:@3') as OciReference;
    expect(indexed.sourceIndex).to.equal(3);
    expect(indexed.selector).to.deep.equal({ sourceIndex: 3 });
    expect(indexed.stringWithinTransport()).to.equal('/tmp/lay:@3');
  });

  it('splits at the first colon: the path cannot hold one, the name can', () => {
    const ref = ociTransport.parseReference('/tmp/a:b:c') as OciReference;
    expect(ref.dir).to.equal('/tmp/a');
    expect(ref.image).to.equal('b:c');
    const withRegistryName = ociTransport.parseReference('lay:example.com/repo:tag@x') as OciReference;
    expect(withRegistryName.image).to.equal('example.com/repo:tag@x');
  });

  it('an empty name (PATH:) means no name', () => {
    const ref = ociTransport.parseReference('/tmp/lay:') as OciReference;
    expect(ref.image).to.equal('');
    expect(ref.sourceIndex).to.equal(undefined);
  });

  it('policyIdentity is the absolute directory, without the name', () => {
    const ref = ociTransport.parseReference('relative/dir:tag');
    expect(ref.policyIdentity()).to.equal(resolve('relative/dir'));
    expect(ref.dockerReference()).to.equal(undefined);
  });

  it('round-trips through stringWithinTransport', () => {
    for (const s of ['/a', '/a:t', '/a:@0', 'rel:x/y:z']) {
      expect(ociTransport.parseReference(s).stringWithinTransport()).to.equal(s);
    }
  });

  it('rejects bad names, bad indexes and an empty path', () => {
    for (const [rest, fragment] of [
      ['/tmp/lay:-bad', 'invalid image name "-bad"'],
      ['/tmp/lay:a b', 'invalid image name'],
      ['/tmp/lay:a//b', 'invalid image name'],
      ['/tmp/lay:@-1', 'invalid source index "@-1"'],
      ['/tmp/lay:@x', 'invalid source index'],
      ['/tmp/lay:@', 'invalid source index'],
      ['', 'path is empty'],
      [':tag', 'path is empty'],
    ] as const) {
      const e = errorOf(() => ociTransport.parseReference(rest));
      expect(e.code, rest).to.equal(ErrorCode.InvalidReference);
      expect(e.message, rest).to.include(fragment);
      expect(e.message).to.include(`oci:${rest}`);
    }
  });

  it('validates ref names with the OCI annotation grammar', () => {
    for (const ok of ['latest', 'v1.0.0', 'a--b', 'A_B', 'foo/bar', 'example.com:5000/r:t', 'x@y', 'a+b']) expect(isValidRefName(ok), ok).to.equal(true);
    for (const bad of ['', '-a', 'a-', 'a/', '/a', 'a..b', 'a---b', 'a b', 'ä']) expect(isValidRefName(bad), bad).to.equal(false);
  });

  it('constructs references directly for reuse (oci-archive)', () => {
    const ref = new OciReference('/x', 'n');
    expect(ref.transport).to.equal(ociTransport);
    expect(ref.stringWithinTransport()).to.equal('/x:n');
  });
});
