/** Digest strings: isDigest answers what parseDigest accepts, without throwing. */
import { expect } from 'chai';
import { isDigest, parseDigest } from '../../src/util/digest.js';

describe('util/digest: isDigest', () => {
  const hex = 'a'.repeat(64);
  const cases: Array<[string, boolean]> = [
    [`sha256:${hex}`, true],
    [`sha384:${'0'.repeat(96)}`, true],
    [`sha512:${'f'.repeat(128)}`, true],
    ['latest', false],
    ['t0', false],
    ['', false],
    [`:${hex}`, false],
    [`sha256:${hex.slice(1)}`, false],
    [`sha256:${'A'.repeat(64)}`, false],
    [`sha256:${hex}0`, false],
    [`md5:${'a'.repeat(32)}`, false],
    [`constructor:${hex}`, false],
    [`__proto__:${hex}`, false],
    [`sha256:${'g'.repeat(64)}`, false],
  ];
  for (const [s, valid] of cases) {
    it(`${JSON.stringify(s.length > 24 ? s.slice(0, 20) + '…' : s)} → ${valid}, as parseDigest decides`, () => {
      expect(isDigest(s)).to.equal(valid);
      let parsed = true;
      try {
        parseDigest(s);
      } catch {
        parsed = false;
      }
      expect(parsed).to.equal(valid);
    });
  }
});
