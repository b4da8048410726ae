import { expect } from 'chai';
import { ErrorCode } from '../../src/errors.js';
import { ImageFilter, compilePattern } from '../../src/sync/filters.js';
import { errorOf } from '../harness/expect.js';

describe('sync/filters: --include / --exclude patterns', () => {
  const f = (include: string[], exclude: string[] = []) => ImageFilter.parse(include, exclude);

  it('a glob without ":" matches the repository path; * and ? stop at "/", ** does not', () => {
    expect(f(['team/*']).takes('team/app', 'v1')).to.equal(true);
    expect(f(['team/*']).takes('team/sub/app', 'v1')).to.equal(false);
    expect(f(['team/**']).takes('team/sub/app', 'v1')).to.equal(true);
    expect(f(['**/app']).takes('app', 'v1')).to.equal(true);
    expect(f(['**/app']).takes('a/b/app', 'v1')).to.equal(true);
    expect(f(['**/app']).takes('a/b/apps', 'v1')).to.equal(false);
    expect(f(['team/ap?']).takes('team/app', 'v1')).to.equal(true);
    expect(f(['team/ap?']).takes('team/apps', 'v1')).to.equal(false);
    // a full match: "team" is not "team/app", and "." is literal
    expect(f(['team']).takes('team/app', 'v1')).to.equal(false);
    expect(f(['a.b']).takes('axb', 'v1')).to.equal(false);
  });

  it('a glob with ":" matches REPO:TAG; an image named by digest only by repository', () => {
    expect(f(['*:v1*']).takes('app', 'v1.2')).to.equal(true);
    expect(f(['*:v1*']).takes('team/app', 'v1.2')).to.equal(false);
    expect(f(['**:v1*']).takes('team/app', 'v1.2')).to.equal(true);
    expect(f(['team/app:latest']).takes('team/app', 'v1')).to.equal(false);
    expect(f([], ['**:*-rc*']).takes('team/app', 'v1-rc1')).to.equal(false);
    expect(f([], ['**:*-rc*']).takes('team/app', 'v1')).to.equal(true);
    expect(f([], ['**:*']).takes('team/app', undefined)).to.equal(true);
    expect(f(['**:*']).takes('team/app', undefined)).to.equal(false);
  });

  it('regex: must match the whole repository path or the whole REPO:TAG', () => {
    expect(f(['regex:team/(a|b)']).takes('team/a', 'v1')).to.equal(true);
    expect(f(['regex:team/(a|b)']).takes('team/ab', 'v1')).to.equal(false);
    expect(f(['regex:.*:v[0-9]+']).takes('x/y', 'v12')).to.equal(true);
    expect(f(['regex:.*:v[0-9]+']).takes('x/y', 'v12a')).to.equal(false);
    expect(f(['regex:(?i)TEAM/.*']).takes('team/a', 'v1')).to.equal(true);
  });

  it('exclude wins over include; several includes are alternatives', () => {
    const both = f(['team/*', 'other/c:v1'], ['team/secret', '*/*:*-rc*']);
    expect(both.takes('team/a', 'v1')).to.equal(true);
    expect(both.takes('team/a', 'v1-rc1')).to.equal(false);
    expect(both.takes('team/secret', 'v1')).to.equal(false);
    expect(both.takes('other/c', 'v1')).to.equal(true);
    expect(both.takes('other/c', 'v2')).to.equal(false);
    expect(both.takes('tools/d', 'v1')).to.equal(false);
  });

  it('tells which repositories need not be listed at all', () => {
    const both = f(['team/*', 'other/c:v1'], ['team/secret']);
    expect(both.mayTakeRepository('team/a')).to.equal(true);
    expect(both.mayTakeRepository('other/c')).to.equal(true);
    expect(both.mayTakeRepository('team/secret')).to.equal(false);
    expect(both.mayTakeRepository('tools/d')).to.equal(false);
    // an image pattern never excludes a whole repository; a regex include might match some REPO:TAG
    expect(f([], ['**:v1']).mayTakeRepository('a')).to.equal(true);
    expect(f(['regex:.*:v1']).mayTakeRepository('a')).to.equal(true);
    expect(ImageFilter.all.mayTakeRepository('a')).to.equal(true);
  });

  it('and(): an image must pass both filters (command line and YAML entry)', () => {
    const both = f(['team/*']).and(f([], ['**:old']));
    expect(both.takes('team/a', 'v1')).to.equal(true);
    expect(both.takes('team/a', 'old')).to.equal(false);
    expect(both.takes('x/a', 'v1')).to.equal(false);
    expect(both.isEmpty).to.equal(false);
    expect(ImageFilter.all.and(ImageFilter.all).isEmpty).to.equal(true);
  });

  for (const [pattern, why] of [
    ['', 'it is empty'],
    ['regex:', 'the regular expression is empty'],
    ['regex:(x', 'Invalid regular expression'],
    ['a[b]', 'a glob may hold only'],
    ['a:b:c', 'more than one ":"'],
    [':v1', 'needs both parts'],
    ['app:', 'needs both parts'],
    ['app:v/1', 'a tag has no "/"'],
  ] as const) {
    it(`refuses ${JSON.stringify(pattern)} with one line saying why`, () => {
      const e = errorOf(() => compilePattern(pattern));
      expect(e.code).to.equal(ErrorCode.Usage);
      expect(e.message).to.include(`invalid pattern "${pattern}": `).and.include(why);
    });
  }
});
