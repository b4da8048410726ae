import { expect } from 'chai';
import { redactCredentials } from '../../src/util/redact.js';

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
});
