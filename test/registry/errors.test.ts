import { expect } from 'chai';
import { RegistryError } from '../../src/errors.js';
import { parseErrorBody, responseError, transportError } from '../../src/registry/errors.js';

const what = 'docker://127.0.0.1:5000/foo:latest';
const body = (code: string, message: string) => JSON.stringify({ errors: [{ code, message, detail: { x: 1 } }] });

describe('registry/errors', () => {
  it('parses the distribution error body, tolerating junk', () => {
    expect(parseErrorBody(body('MANIFEST_UNKNOWN', 'manifest unknown'))).to.deep.equal([{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown', detail: { x: 1 } }]);
    expect(parseErrorBody('<html>')).to.deep.equal([]);
    expect(parseErrorBody('{"errors": "no"}')).to.deep.equal([]);
  });

  it('maps codes and statuses to ferry codes with the registry message', () => {
    // authentication errors keep the registry's code in front, as skopeo prints them (scripts match on these words)
    const cases: [number, string, string, string, string][] = [
      [404, 'MANIFEST_UNKNOWN', 'manifest unknown', 'E_NOT_FOUND', 'manifest unknown'],
      [404, 'NAME_UNKNOWN', 'repository name not known to registry', 'E_NOT_FOUND', 'repository name not known to registry'],
      [404, 'BLOB_UNKNOWN', 'blob unknown to registry', 'E_NOT_FOUND', 'blob unknown to registry'],
      [401, 'UNAUTHORIZED', 'authentication required', 'E_UNAUTHORIZED', 'unauthorized: authentication required'],
      [403, 'DENIED', 'requested access to the resource is denied', 'E_DENIED', 'denied: requested access to the resource is denied'],
      [429, 'TOOMANYREQUESTS', 'slow down', 'E_TOO_MANY_REQUESTS', 'slow down'],
      [400, 'MANIFEST_INVALID', 'manifest invalid', 'E_REGISTRY', 'manifest invalid'],
    ];
    for (const [status, code, message, expected, text] of cases) {
      const e = responseError(what, status, {}, body(code, message));
      expect(e, code).to.be.instanceOf(RegistryError);
      expect(e.code, code).to.equal(expected);
      expect(e.status).to.equal(status);
      expect(e.message).to.include(`${what}: ${text}`);
    }
    expect(responseError(what, 401, {}, '').message).to.equal(`${what}: unauthorized: authentication required`);
    expect(responseError(what, 401, {}, body('UNAUTHORIZED', 'unauthorized')).message).to.equal(`${what}: unauthorized`);
    expect(responseError(what, 404, {}, '').message).to.equal(`${what}: not found`);
    expect(responseError(what, 418, {}, '').message).to.equal(`${what}: unexpected HTTP status 418`);
    expect(responseError(what, 400, {}, body('X', 'bad')).message).to.equal(`${what}: bad (HTTP status 400)`);
  });

  it('marks 429/502/503/504 retryable and reads Retry-After', () => {
    const e = responseError(what, 429, { 'retry-after': '7' }, '');
    expect(e.retryable).to.equal(true);
    expect(e.retryAfter).to.equal(7);
    expect(responseError(what, 503, {}, '').retryable).to.equal(true);
    expect(responseError(what, 500, {}, '').retryable).to.equal(false);
    expect(responseError(what, 404, {}, '').retryable).to.equal(false);
  });

  it('turns transport errors into E_NETWORK, E_TLS and E_ABORTED with plain messages', () => {
    const errno = (code: string) => Object.assign(new Error(`connect ${code} 127.0.0.1:5000`), { code });
    const refused = transportError('pinging registry 127.0.0.1:5000', errno('ECONNREFUSED'));
    expect(refused.code).to.equal('E_NETWORK');
    expect(refused.message).to.equal('pinging registry 127.0.0.1:5000: connection refused');
    const tls = transportError('pinging registry h', errno('UNABLE_TO_VERIFY_LEAF_SIGNATURE'));
    expect(tls.code).to.equal('E_TLS');
    expect(tls.message).to.equal('pinging registry h: x509: certificate signed by unknown authority');
    const ac = new AbortController();
    ac.abort();
    expect(transportError('x', new Error('aborted'), ac.signal).code).to.equal('E_ABORTED');
  });
});
