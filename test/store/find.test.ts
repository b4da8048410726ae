import { expect } from 'chai';
import { findImageRecord } from '../../src/store/store.js';
import { isCode, ErrorCode } from '../../src/errors.js';

describe('store: finding images as users name them', () => {
  const images = [
    { id: 'aaaa1111' + '0'.repeat(56), names: ['docker.io/library/busybox:latest'] },
    { id: 'aaaa2222' + '0'.repeat(56), names: ['example.com/app:1'] },
  ];
  it('by full ID, unique prefix, stored name and short docker name', () => {
    expect(findImageRecord(images, images[1]!.id)).to.equal(images[1]);
    expect(findImageRecord(images, 'aaaa2')).to.equal(images[1]);
    expect(findImageRecord(images, 'example.com/app:1')).to.equal(images[1]);
    expect(findImageRecord(images, 'busybox')).to.equal(images[0]);
    expect(findImageRecord(images, 'library/busybox:latest')).to.equal(images[0]);
    expect(findImageRecord(images, 'example.com/app:2')).to.equal(undefined);
  });
  it('refuses an ambiguous ID prefix', () => {
    let e: unknown;
    try { findImageRecord(images, 'aaaa'); } catch (x) { e = x; }
    expect(isCode(e, ErrorCode.InvalidReference)).to.equal(true);
  });
});
