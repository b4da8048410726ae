import { expect } from 'chai';
import { RegistryError, FerryError } from '../../src/errors.js';
import { isRetryable, parseRetryAfter, retryDelay, withRetry, sleep } from '../../src/util/retry.js';

const errno = (code: string) => Object.assign(new Error(code), { code });
const reg = (status: number, retryAfter?: number) =>
  new RegistryError(status === 429 ? 'E_TOO_MANY_REQUESTS' : 'E_REGISTRY', 'x', { status, retryable: [429, 502, 503, 504].includes(status), retryAfter });

describe('util/retry', () => {
  it('classifies retryable failures', () => {
    expect(isRetryable(errno('ECONNRESET'))).to.equal(true);
    expect(isRetryable(new FerryError('E_NETWORK', 'x', { cause: errno('UND_ERR_SOCKET') }))).to.equal(true);
    expect(isRetryable(reg(429))).to.equal(true);
    expect(isRetryable(reg(503))).to.equal(true);
    for (const s of [400, 401, 403, 404, 500]) expect(isRetryable(new RegistryError('E_REGISTRY', 'x', { status: s })), String(s)).to.equal(false);
    expect(isRetryable(new FerryError('E_TLS', 'x', { cause: errno('ECONNRESET') }))).to.equal(false);
    expect(isRetryable(errno('ENOTFOUND'))).to.equal(false);
    expect(isRetryable(new Error('plain'))).to.equal(false);
  });

  it('computes full-jitter exponential backoff within [0, base·2^n) capped', () => {
    const p = { baseDelayMs: 1000, maxDelayMs: 5000 };
    expect(retryDelay(0, errno('ECONNRESET'), { ...p, random: () => 0.999 })).to.equal(999);
    expect(retryDelay(2, errno('ECONNRESET'), { ...p, random: () => 0.5 })).to.equal(2000);
    expect(retryDelay(10, errno('ECONNRESET'), { ...p, random: () => 0.999 })).to.equal(4995);
    expect(retryDelay(3, errno('ECONNRESET'), { ...p, random: () => 0 })).to.equal(0);
  });

  it('keeps refused connections on a short leash, uses a fixed delay when set, and honours Retry-After', () => {
    expect(retryDelay(5, errno('ECONNREFUSED'), { random: () => 0.999 })).to.be.below(300);
    expect(retryDelay(5, errno('ECONNRESET'), { retryDelayMs: 42 })).to.equal(42);
    expect(retryDelay(0, reg(429, 2), { retryDelayMs: 42 })).to.equal(2000);
    expect(retryDelay(0, reg(429, 3600))).to.equal(undefined);
  });

  it('parses Retry-After as seconds or an HTTP date', () => {
    expect(parseRetryAfter('3')).to.equal(3);
    expect(parseRetryAfter(['0'])).to.equal(0);
    const now = Date.parse('2024-01-01T00:00:00Z');
    expect(parseRetryAfter('Mon, 01 Jan 2024 00:00:05 GMT', now)).to.equal(5);
    expect(parseRetryAfter('Sun, 31 Dec 2023 00:00:00 GMT', now)).to.equal(0);
    expect(parseRetryAfter('soon')).to.equal(undefined);
    expect(parseRetryAfter(undefined)).to.equal(undefined);
  });

  it('retries up to retryTimes, then throws the last error; never retries a 404', async () => {
    let calls = 0;
    await withRetry(async () => {
      calls++;
      throw errno('ECONNRESET');
    }, { retryTimes: 2, retryDelayMs: 1 }).then(() => expect.fail('should throw'), (e: Error) => expect(e.message).to.equal('ECONNRESET'));
    expect(calls).to.equal(3);
    calls = 0;
    await withRetry(async () => {
      calls++;
      throw new RegistryError('E_NOT_FOUND', 'nf', { status: 404 });
    }, { retryTimes: 5, retryDelayMs: 1 }).catch(() => undefined);
    expect(calls).to.equal(1);
    calls = 0;
    const v = await withRetry(async (attempt) => {
      calls++;
      if (attempt < 2) throw reg(503);
      return 'ok';
    }, { retryDelayMs: 1 });
    expect(v).to.equal('ok');
    expect(calls).to.equal(3);
  });

  it('stops waiting when the signal aborts', async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    setTimeout(() => ac.abort(), 30);
    const e = await withRetry(async () => {
      throw errno('ECONNRESET');
    }, { retryDelayMs: 10_000, signal: ac.signal }).catch((x: unknown) => x);
    expect(Date.now() - t0).to.be.below(2000);
    expect((e as FerryError).code).to.equal('E_ABORTED');
    await sleep(0);
  });
});
