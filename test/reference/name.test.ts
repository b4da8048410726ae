import { expect } from 'chai';
import { ErrorCode, FerryError } from '../../src/errors.js';
import {
  type DockerName,
  familiarString,
  fullString,
  parseNormalizedName,
  repositoryString,
  withDefaultTag,
} from '../../src/reference/name.js';

const D64 = 'sha256:' + 'f'.repeat(64);
const D512 = 'sha512:' + 'f'.repeat(128);

/** Valid inputs and what they normalize to (cases from distribution/reference's tests). */
const valid: [string, DockerName][] = [
  ['busybox', { domain: 'docker.io', path: 'library/busybox' }],
  ['test_com', { domain: 'docker.io', path: 'library/test_com' }],
  ['test.com:tag', { domain: 'docker.io', path: 'library/test.com', tag: 'tag' }],
  ['test.com:5000', { domain: 'docker.io', path: 'library/test.com', tag: '5000' }],
  ['test.com/repo:tag', { domain: 'test.com', path: 'repo', tag: 'tag' }],
  ['test:5000/repo', { domain: 'test:5000', path: 'repo' }],
  ['test:5000/repo:tag', { domain: 'test:5000', path: 'repo', tag: 'tag' }],
  [`test:5000/repo@${D64}`, { domain: 'test:5000', path: 'repo', digest: D64 }],
  [`test:5000/repo:tag@${D64}`, { domain: 'test:5000', path: 'repo', tag: 'tag', digest: D64 }],
  ['localhost:5000/foo', { domain: 'localhost:5000', path: 'foo' }],
  ['localhost/foo', { domain: 'localhost', path: 'foo' }],
  ['localhost', { domain: 'docker.io', path: 'library/localhost' }],
  ['localhost:5000', { domain: 'docker.io', path: 'library/localhost', tag: '5000' }],
  ['lowercase:Uppercase', { domain: 'docker.io', path: 'library/lowercase', tag: 'Uppercase' }],
  ['docker/docker', { domain: 'docker.io', path: 'docker/docker' }],
  ['docker.io/foo', { domain: 'docker.io', path: 'library/foo' }],
  ['docker.io/library/debian', { domain: 'docker.io', path: 'library/debian' }],
  ['index.docker.io/debian', { domain: 'docker.io', path: 'library/debian' }],
  ['index.docker.io/docker/docker', { domain: 'docker.io', path: 'docker/docker' }],
  ['127.0.0.1:5000/docker/docker', { domain: '127.0.0.1:5000', path: 'docker/docker' }],
  ['Example.COM/foo', { domain: 'Example.COM', path: 'foo' }],
  ['sub-dom1.foo.com/bar/baz/quux:some-long-tag', { domain: 'sub-dom1.foo.com', path: 'bar/baz/quux', tag: 'some-long-tag' }],
  ['b.gcr.io/test.example.com/my-app:test.example.com', { domain: 'b.gcr.io', path: 'test.example.com/my-app', tag: 'test.example.com' }],
  ['xn--n3h.com/myimage:xn--n3h.com', { domain: 'xn--n3h.com', path: 'myimage', tag: 'xn--n3h.com' }],
  [`xn--7o8h.com/myimage:xn--7o8h.com@${D512}`, { domain: 'xn--7o8h.com', path: 'myimage', tag: 'xn--7o8h.com', digest: D512 }],
  ['foo_bar.com:8080', { domain: 'docker.io', path: 'library/foo_bar.com', tag: '8080' }],
  ['foo/foo_bar.com:8080', { domain: 'docker.io', path: 'foo/foo_bar.com', tag: '8080' }],
  ['192.168.1.1', { domain: 'docker.io', path: 'library/192.168.1.1' }],
  ['192.168.1.1:5000/repo', { domain: '192.168.1.1:5000', path: 'repo' }],
  ['[2001:db8::1]/repo', { domain: '[2001:db8::1]', path: 'repo' }],
  ['[2001:db8:1:2:3:4:5:6]/repo:tag', { domain: '[2001:db8:1:2:3:4:5:6]', path: 'repo', tag: 'tag' }],
  ['[2001:db8::1]:5000/repo:tag', { domain: '[2001:db8::1]:5000', path: 'repo', tag: 'tag' }],
  [`[2001:db8::1]:5000/repo:tag@${D64}`, { domain: '[2001:db8::1]:5000', path: 'repo', tag: 'tag', digest: D64 }],
  ['[::1]:5000/a/b:tag', { domain: '[::1]:5000', path: 'a/b', tag: 'tag' }],
  [`foo@${D64}`, { domain: 'docker.io', path: 'library/foo', digest: D64 }],
  [`docker.io/foo:t@${D64}`, { domain: 'docker.io', path: 'library/foo', tag: 't', digest: D64 }],
  ['docker---rules/docker', { domain: 'docker.io', path: 'docker---rules/docker' }],
  ['dock__er/docker', { domain: 'docker.io', path: 'dock__er/docker' }],
  ['d/docker', { domain: 'docker.io', path: 'd/docker' }],
  ['thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev', { domain: 'docker.io', path: 'library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev' }],
  ['docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a', { domain: 'docker.io', path: 'library/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a' }],
  ['a:' + 'T'.repeat(128), { domain: 'docker.io', path: 'library/a', tag: 'T'.repeat(128) }],
  // 255 characters in total is the limit: "localhost/" (10) + 245.
  ['localhost/' + 'a'.repeat(245), { domain: 'localhost', path: 'a'.repeat(245) }],
];

/** Invalid inputs and a fragment of the expected message. */
const invalid: [string, string | RegExp][] = [
  ['', 'repository name must have at least one component'],
  ['Foo/bar', 'repository name must be lowercase'],
  ['docker/Docker', 'repository name must be lowercase'],
  ['test:5000/Uppercase/lowercase:tag', 'repository name must be lowercase'],
  ['Uppercase:tag', 'repository name must be lowercase'],
  ['a:b:c', 'invalid reference format'],
  [':justtag', 'invalid reference format'],
  [`@${D64}`, 'invalid reference format'],
  ['https://github.com/docker/docker', 'invalid reference format'],
  ['-docker', 'invalid reference format'],
  ['-docker/docker', 'invalid reference format'],
  ['docker-/docker', 'invalid reference format'],
  ['-docker.io/docker/docker', 'invalid registry host'],
  ['docker///docker', 'invalid reference format'],
  ['docker/', 'invalid reference format'],
  ['____/____', 'invalid reference format'],
  ['_docker/_docker', 'invalid reference format'],
  ['dock..er/docker', 'invalid reference format'],
  ['dock_.er/docker', 'invalid reference format'],
  ['dock-.er/docker', 'invalid reference format'],
  ['aa/asdf$$^/aa', 'invalid reference format'],
  ['[2001:db8::1]', 'invalid reference format'],
  ['[2001:db8::1]:5000', 'invalid reference format'],
  ['[2001:db8::1]:tag', 'invalid reference format'],
  ['[fe80::1%eth0]:5000/repo', 'invalid registry host'],
  ['[fe80::1%@invalidzone]:5000/repo', /invalid/],
  ['a:' + 'T'.repeat(129), 'invalid tag'],
  ['a:.tag', 'invalid tag'],
  ['1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a', 'cannot specify 64-byte hexadecimal strings'],
  ['repo@sha256:' + 'f'.repeat(35), 'expected 64 lowercase hex characters'],
  ['repo@sha256:' + 'f'.repeat(65), 'expected 64 lowercase hex characters'],
  ['repo@sha256:' + 'f'.repeat(31), 'invalid reference format'],
  ['repo@sha256:' + 'F'.repeat(64), 'expected 64 lowercase hex characters'],
  ['validname@invaliddigest:' + 'f'.repeat(64), 'unsupported or missing algorithm'],
  ['foo@sha256:abc', 'invalid reference format'],
  ['a@b@' + D64, 'invalid'],
  ['localhost/' + 'a'.repeat(246), 'repository name must not be more than 255 characters'],
  ['a/'.repeat(128) + 'a:tag', 'repository name must not be more than 255 characters'],
  [
    'this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255/docker',
    'repository name must not be more than 255 characters',
  ],
];

describe('reference/name', () => {
  describe('parseNormalizedName accepts and normalizes', () => {
    for (const [input, expected] of valid) {
      it(JSON.stringify(input.length > 80 ? input.slice(0, 77) + '...' : input), () => {
        expect({ ...parseNormalizedName(input) }).to.deep.equal(expected);
      });
    }
  });

  describe('parseNormalizedName rejects', () => {
    for (const [input, fragment] of invalid) {
      it(JSON.stringify(input.length > 80 ? input.slice(0, 77) + '...' : input), () => {
        let err: unknown;
        try {
          parseNormalizedName(input);
        } catch (e) {
          err = e;
        }
        expect(err, 'should throw').to.be.instanceOf(FerryError);
        const fe = err as FerryError;
        expect(fe.code).to.equal(ErrorCode.InvalidReference);
        if (typeof fragment === 'string') expect(fe.message).to.include(fragment);
        else expect(fe.message).to.match(fragment);
        expect(fe.message).to.include(input.slice(0, 20), 'the message names the input');
        expect(fe.message).not.to.include('\n');
      });
    }
  });

  it('stays fast on long inputs that almost match (no catastrophic backtracking)', () => {
    const evil = 'a'.repeat(5000) + '!';
    const t0 = Date.now();
    expect(() => parseNormalizedName(evil)).to.throw(FerryError);
    expect(() => parseNormalizedName('x.com/' + 'a-'.repeat(3000) + '/')).to.throw(FerryError);
    expect(() => parseNormalizedName('a'.repeat(3000) + '.' + 'b-'.repeat(3000) + '/c')).to.throw(FerryError);
    expect(Date.now() - t0).to.be.lessThan(500);
  });

  it('withDefaultTag adds latest only when there is neither tag nor digest', () => {
    expect(withDefaultTag(parseNormalizedName('busybox')).tag).to.equal('latest');
    expect(withDefaultTag(parseNormalizedName('busybox:1.36')).tag).to.equal('1.36');
    const digested = withDefaultTag(parseNormalizedName(`busybox@${D64}`));
    expect(digested.tag).to.equal(undefined);
    expect(digested.digest).to.equal(D64);
  });

  it('renders full, repository and familiar strings', () => {
    const cases: [string, string, string, string][] = [
      // input, full, repository, familiar
      ['busybox:latest', 'docker.io/library/busybox:latest', 'docker.io/library/busybox', 'busybox:latest'],
      ['user/app', 'docker.io/user/app', 'docker.io/user/app', 'user/app'],
      ['library/a/b', 'docker.io/library/a/b', 'docker.io/library/a/b', 'library/a/b'],
      ['other/library', 'docker.io/other/library', 'docker.io/other/library', 'other/library'],
      ['localhost:5000/x:1', 'localhost:5000/x:1', 'localhost:5000/x', 'localhost:5000/x:1'],
      [`docker.io/foo:t@${D64}`, `docker.io/library/foo:t@${D64}`, 'docker.io/library/foo', `foo:t@${D64}`],
      ['127.0.0.1:8000/private/moonbase', '127.0.0.1:8000/private/moonbase', '127.0.0.1:8000/private/moonbase', '127.0.0.1:8000/private/moonbase'],
    ];
    for (const [input, full, repo, familiar] of cases) {
      const n = parseNormalizedName(input);
      expect(fullString(n), input).to.equal(full);
      expect(repositoryString(n), input).to.equal(repo);
      expect(familiarString(n), input).to.equal(familiar);
      // The full string parses back to the same name.
      expect({ ...parseNormalizedName(full) }).to.deep.equal({ ...n });
    }
  });

  it('returns frozen names', () => {
    expect(Object.isFrozen(parseNormalizedName('busybox'))).to.equal(true);
  });
});
