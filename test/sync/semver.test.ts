import { expect } from 'chai';
import { compareSemver, parseSemver, parseSemverConstraint } from '../../src/sync/semver.js';

const matches = (constraint: string, tags: string[]) => {
  const c = parseSemverConstraint(constraint);
  return tags.filter((t) => {
    const v = parseSemver(t);
    return v !== undefined && c(v);
  });
};

describe('sync/semver: images-by-semver constraints', () => {
  const tags = ['0.0.3', '0.0.4', '0.2.3', '0.3.0', '1.0.0', '1.2', 'v1.2.3', '1.2.4-rc1', '1.3.0', '2.0.0', '2.1.5', 'latest', '1.2.3.4'];

  it('reads tags leniently and orders pre-releases first', () => {
    expect(parseSemver('v1.2')).to.deep.equal({ major: 1, minor: 2, patch: 0, pre: [] });
    expect(parseSemver('1.2.3-rc.1+build')).to.deep.equal({ major: 1, minor: 2, patch: 3, pre: ['rc', '1'] });
    expect(parseSemver('latest')).to.equal(undefined);
    expect(parseSemver('1.2.3.4')).to.equal(undefined);
    expect(compareSemver(parseSemver('1.0.0-rc.2')!, parseSemver('1.0.0-rc.10')!)).to.equal(-1);
    expect(compareSemver(parseSemver('1.0.0-rc.1')!, parseSemver('1.0.0')!)).to.equal(-1);
    expect(compareSemver(parseSemver('1.0.0-alpha')!, parseSemver('1.0.0-1')!)).to.equal(1);
  });

  const cases: [string, string[]][] = [
    ['>= 1.2', ['1.2', 'v1.2.3', '1.3.0', '2.0.0', '2.1.5']],
    ['>=1.2, <2', ['1.2', 'v1.2.3', '1.3.0']],
    ['>1.2', ['1.3.0', '2.0.0', '2.1.5']],
    ['<=1.2', ['0.0.3', '0.0.4', '0.2.3', '0.3.0', '1.0.0', '1.2', 'v1.2.3']],
    ['~1.2.0', ['1.2', 'v1.2.3']],
    ['~1', ['1.0.0', '1.2', 'v1.2.3', '1.3.0']],
    ['^1.2.3', ['v1.2.3', '1.3.0']],
    ['^0.2.3', ['0.2.3']],
    ['^0.0.3', ['0.0.3']],
    ['1.2.x', ['1.2', 'v1.2.3']],
    ['!=1.2.3 >=1.2 <1.4', ['1.2', '1.3.0']],
    ['1.0 - 1.2', ['1.0.0', '1.2', 'v1.2.3']],
    ['<0.1 || 2.x', ['0.0.3', '0.0.4', '2.0.0', '2.1.5']],
    ['*', ['0.0.3', '0.0.4', '0.2.3', '0.3.0', '1.0.0', '1.2', 'v1.2.3', '1.3.0', '2.0.0', '2.1.5']],
    ['>=1.2.4-rc0', ['v1.2.3', '1.2.4-rc1', '1.3.0', '2.0.0', '2.1.5'].filter((t) => t !== 'v1.2.3')],
  ];
  for (const [c, want] of cases) {
    it(`"${c}"`, () => expect(matches(c, tags)).to.deep.equal(want));
  }

  it('refuses what is not a constraint', () => {
    for (const c of ['', '>= x.1', 'abc', '1.x.2', '>=1.2 ||']) expect(() => parseSemverConstraint(c), c).to.throw();
  });
});
