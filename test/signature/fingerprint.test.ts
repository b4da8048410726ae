import { expect } from 'chai';
import { normalizeFingerprint, parseFingerprintList } from '../../src/signature/fingerprint.js';

const F = 'D7988D61314242AD487E7304C9C295436666E0BF';

describe('signature/fingerprint', () => {
  it('normalizes case, spaces and 0x', () => {
    expect(normalizeFingerprint(F.toLowerCase())).to.equal(F);
    expect(normalizeFingerprint('D798 8D61 3142 42AD 487E  7304 C9C2 9543 6666 E0BF')).to.equal(F);
    expect(normalizeFingerprint('0x' + F)).to.equal(F);
    expect(normalizeFingerprint('A'.repeat(64))).to.equal('A'.repeat(64));
  });
  it('refuses key IDs, names and non-hex', () => {
    for (const bad of ['C9C295436666E0BF', 'Test <t@example.com>', F.slice(1) + 'G', '']) {
      expect(() => normalizeFingerprint(bad), bad).to.throw(/invalid key fingerprint/);
    }
  });
  it('parses lists and any', () => {
    expect(parseFingerprintList('any')).to.equal('any');
    expect(parseFingerprintList(`${F}, ${'1'.repeat(40)},${F.toLowerCase()}`)).to.deep.equal([F, '1'.repeat(40)]);
    expect(() => parseFingerprintList(',')).to.throw(/no key fingerprint/);
  });
});
