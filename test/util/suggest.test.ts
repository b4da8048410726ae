import { expect } from 'chai';
import { closest, editDistance } from '../../src/util/suggest.js';

describe('util/suggest', () => {
  it('counts insertions, deletions, substitutions and neighbour swaps as one edit each', () => {
    expect(editDistance('inspect', 'inspect')).to.equal(0);
    expect(editDistance('inspct', 'inspect')).to.equal(1);
    expect(editDistance('lsit-tags', 'list-tags')).to.equal(1);
    expect(editDistance('copy', 'cpoy')).to.equal(1);
    expect(editDistance('', 'abc')).to.equal(3);
  });

  it('suggests only what is within a typo\'s reach, or the one name a prefix abbreviates', () => {
    const flags = ['format', 'raw', 'config', 'tls-verify', 'no-tags'];
    expect(closest('formt', flags)).to.equal('format');
    expect(closest('raww', flags)).to.equal('raw');
    expect(closest('tls', flags)).to.equal('tls-verify');
    expect(closest('x', flags)).to.equal(undefined);
    expect(closest('zzzzzz', flags)).to.equal(undefined);
    expect(closest('format', flags)).to.equal(undefined);
    expect(closest('dest', ['dest-creds', 'dest-cert-dir'])).to.equal(undefined);
  });
});
