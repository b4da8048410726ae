import { expect } from 'chai';
import stringWidth from '../../../src/cli/output/text-width.js';

describe('cli/output/text-width', () => {
  it('counts columns: plain ASCII one a character, escapes and marks none, East Asian wide two', () => {
    expect(stringWidth('')).to.equal(0);
    expect(stringWidth('  --dest-tls-verify   require HTTPS [boolean]')).to.equal(45);
    expect(stringWidth('\u001b[1mbold\u001b[22m')).to.equal(4);
    expect(stringWidth('a\tb')).to.equal(2);
    expect(stringWidth('e\u0301')).to.equal(1);
    expect(stringWidth('日本')).to.equal(4);
    expect(stringWidth('x\u00e9')).to.equal(2);
    expect(stringWidth(undefined as unknown as string)).to.equal(0);
  });
});
