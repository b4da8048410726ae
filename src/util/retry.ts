/**
 * Retries with exponential backoff and full jitter for transient registry failures: network errors, 429 (honouring
 * `Retry-After`) and 502/503/504 — and 500 to a GET or HEAD, which the registry endpoint marks retryable. Never for
 * 401/403/404 or other answers.
 */
import { FerryError, ErrorCode, RegistryError } from '../errors.js';

/** How to retry. */
export interface RetryPolicy {
  /** Retries after the first attempt (default 3). */
  retryTimes?: number;
  /** Fixed delay between attempts in ms; when unset, exponential backoff with full jitter. */
  retryDelayMs?: number;
  /** First backoff ceiling in ms (default 1000); doubles each attempt up to `maxDelayMs`. */
  baseDelayMs?: number;
  /** Ceiling of one backoff delay (default 30 000). */
  maxDelayMs?: number;
  /** Longest `Retry-After` honoured, in ms (default 60 000); a longer one fails at once. */
  maxRetryAfterMs?: number;
  /** Random source in [0, 1) (tests). */
  random?: () => number;
}

/** Network error codes worth another attempt. */
const RETRYABLE_NETWORK = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENETUNREACH', 'ENETDOWN', 'EHOSTUNREACH', 'EHOSTDOWN',
  'ECONNABORTED', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED',
]);

/** Refused connections retry on a short leash: a registry that is down should fail in about a second, not minutes. */
const REFUSED_MAX_DELAY_MS = 300;

/** The low-level error code (`ECONNREFUSED`, `UND_ERR_SOCKET`, …) carried by `e` or its causes. */
export function errnoCode(e: unknown): string | undefined {
  for (let c: unknown = e, depth = 0; c && depth < 5; c = (c as { cause?: unknown }).cause, depth++) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'string' && !code.startsWith('E_')) return code;
    if (Array.isArray((c as AggregateError).errors)) {
      for (const sub of (c as AggregateError).errors) {
        const sc = errnoCode(sub);
        if (sc) return sc;
      }
    }
  }
  return undefined;
}

/** Whether a failed attempt may succeed if repeated. */
export function isRetryable(e: unknown): boolean {
  if (e instanceof RegistryError) return e.retryable;
  if (e instanceof FerryError && e.code !== ErrorCode.Network) return false;
  const code = errnoCode(e);
  return code !== undefined && RETRYABLE_NETWORK.has(code);
}

/**
 * Delay before retry number `attempt` (0-based) after error `e`, or undefined to give up now.
 * Full jitter: uniform in [0, min(max, base·2^attempt)).
 */
export function retryDelay(attempt: number, e: unknown, p: RetryPolicy = {}): number | undefined {
  const random = p.random ?? Math.random;
  if (e instanceof RegistryError && e.retryAfter !== undefined) {
    const ms = Math.max(0, e.retryAfter * 1000);
    if (ms > (p.maxRetryAfterMs ?? 60_000)) return undefined;
    return ms;
  }
  if (p.retryDelayMs !== undefined) return p.retryDelayMs;
  const cap = errnoCode(e) === 'ECONNREFUSED' ? REFUSED_MAX_DELAY_MS : (p.maxDelayMs ?? 30_000);
  const ceiling = Math.min(cap, (p.baseDelayMs ?? 1000) * 2 ** attempt);
  return Math.floor(random() * ceiling);
}

/** `Retry-After` as seconds from now: an integer of seconds or an HTTP date; undefined if absent or invalid. */
export function parseRetryAfter(v: string | string[] | undefined, now = Date.now()): number | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  if (s === undefined || s.trim() === '') return undefined;
  if (/^\s*\d+\s*$/.test(s)) return Number(s.trim());
  const t = Date.parse(s);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, Math.ceil((t - now) / 1000));
}

/** Sleeps `ms`, rejecting with E_ABORTED if `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new FerryError(ErrorCode.Aborted, 'operation aborted'));
    const onAbort = () => {
      clearTimeout(timer);
      reject(new FerryError(ErrorCode.Aborted, 'operation aborted'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs `fn` until it succeeds, fails with a non-retryable error, or runs out of retries (then the last error is
 * thrown). Aborting `signal` stops waiting at once.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, policy: RetryPolicy & { signal?: AbortSignal } = {}): Promise<T> {
  const times = Math.max(0, policy.retryTimes ?? 3);
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      if (policy.signal?.aborted || attempt >= times || !isRetryable(e)) throw e;
      const delay = retryDelay(attempt, e, policy);
      if (delay === undefined) throw e;
      await sleep(delay, policy.signal);
    }
  }
}
