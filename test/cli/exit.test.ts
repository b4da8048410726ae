import { expect } from 'chai';
import { describeError } from '../../src/cli/exit.js';
import { FerryError, ErrorCode } from '../../src/errors.js';

describe('cli/exit', () => {
  it('maps not-found to status 2 and everything else to 1', () => {
    expect(describeError(new FerryError(ErrorCode.NotFound, 'docker://x: manifest unknown')).status).to.equal(2);
    expect(describeError(new FerryError(ErrorCode.Unauthorized, 'no')).status).to.equal(1);
    expect(describeError(new Error('plain')).status).to.equal(1);
    expect(describeError('a string').status).to.equal(1);
  });

  it('keeps the message on one line', () => {
    const { message } = describeError(new FerryError(ErrorCode.Registry, 'first\n  second\nthird'));
    expect(message).to.equal('Error: first; second; third');
    expect(message).not.to.contain('\n');
  });

  it('adds the code and causes with --debug', () => {
    const e = new FerryError(ErrorCode.Network, 'pinging registry', { cause: new Error('connect ECONNREFUSED') });
    const { message } = describeError(e, true);
    expect(message.split('\n')).to.deep.equal(['Error: pinging registry', '  code: E_NETWORK', '  caused by: connect ECONNREFUSED']);
  });
});
