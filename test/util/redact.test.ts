import { expect } from 'chai';
import { redactCredentials, registerSecret } from '../../src/util/redact.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('util/redact', () => {
  it('removes user:password@ and user@ from image names and URLs', () => {
    const cases: [string, string][] = [
      ['invalid reference "docker://me:s3cret@h:5000/r:1": bad', 'invalid reference "docker://***@h:5000/r:1": bad'],
      ['docker://me@h/r', 'docker://***@h/r'],
      ['me:s3cret@h/r', '***@h/r'],
      ['me:s3cret@h:5000', '***@h:5000'],
      ['me@h/r', '***@h/r'],
      [`docker://me:p@ss/w@127.0.0.1:5000/r@${D}`, `docker://***@127.0.0.1:5000/r@${D}`],
      ['https://me:s3cret@h/x', 'https://***@h/x'],
      ['docker:me:s3cret@h/r', 'docker:***@h/r'],
      ['first docker://a:b@h/r then c:d@h/s', 'first docker://***@h/r then ***@h/s'],
    ];
    for (const [input, expected] of cases) expect(redactCredentials(input), input).to.equal(expected);
  });

  it('leaves digests, source indexes, paths, storage specs and e-mail addresses alone', () => {
    for (const s of [
      `busybox:latest@${D}`,
      `docker://h/r:t@${D}`,
      'host/repo:tag@sha256:abc',
      'docker-archive:/tmp/a.tar:@1',
      'oci:/tmp/x@y:t',
      './dir@1/x',
      'Ferry Test <test@example.com>',
      'containers-storage:[overlay@/var/lib/containers/storage]app:1',
      'invalid reference "[fe80::1%@zone]:5000/repo"',
      'no at sign here',
    ]) {
      expect(redactCredentials(s), s).to.equal(s);
    }
  });

  it('replaces every registered secret wherever it appears, the longest first; ignores very short ones', () => {
    registerSecret('redact-test-Pa55');
    registerSecret('redact-test-Pa55-longer');
    registerSecret('abc');
    registerSecret(undefined);
    expect(redactCredentials('unauthorized: you sent redact-test-Pa55-longer and redact-test-Pa55 (abc)')).to.equal('unauthorized: you sent *** and *** (abc)');
    expect(redactCredentials('nothing secret here')).to.equal('nothing secret here');
  });
});
