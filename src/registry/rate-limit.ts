/**
 * Request pacing per registry host, shared by every request of the process (manifests, blobs, tokens, tag lists, pings;
 * every image of a sync): `send` in `http.ts` waits on {@link hostLimiter}`(host).acquire` before each request and
 * reports each answer to `observe`. Three rules:
 *
 * - **Retry-After**: a 429 answer, or a 503 with `Retry-After`, holds *every* request to that host until the time it
 *   names (seconds or an HTTP date), at most {@link MAX_PAUSE_MS}; a longer one is not waited for (the request fails
 *   as too many requests, see `retry.ts`). A 429 without `Retry-After` holds the host for `--retry-delay` if set, else
 *   1 s, doubling with each 429 in a row (up to {@link MAX_PAUSE_MS}). The request itself is retried by the caller
 *   (`--retry-times`).
 * - **RateLimit budget** (`RateLimit-Limit: 100;w=21600`, `RateLimit-Remaining: 76;w=21600`, as Docker Hub sends on
 *   manifest requests, optionally `RateLimit-Reset: SECONDS`): once the remaining budget is low — at most a tenth of
 *   the limit (at most 10 when no limit is given) — the requests that count are spread over what is left of the window:
 *   one every `window / (remaining + 1)` (the window is `RateLimit-Reset` when given, else `w`). Requests that count are
 *   those of a kind (method and API object: manifests, blobs, tags, other) whose answers carry `RateLimit-Remaining`;
 *   other kinds (blob downloads on Docker Hub) go unhindered. Without a window nothing is spread. What an answer said
 *   holds for one window after it (a later answer replaces it). A request whose slot is more than
 *   {@link MAX_BUDGET_WAIT_MS} away fails at once (E_TOO_MANY_REQUESTS) rather than wait.
 * - **--max-requests-per-second HOST=N**: at most one request every 1/N s to that host (a token bucket holding one
 *   token; waiting requests are let through in order, each 1/N s after the one before actually went). HOST is `host[:port]` as requests reach it; `docker.io` names `registry-1.docker.io`. Token servers and
 *   the hosts blob downloads are redirected to are other hosts.
 *
 * Waits of a second or more are announced to the {@link onRegistryWait} listeners (the CLI renders them).
 */
import type { RegistryWaitEvent } from '../types/progress.js';
import { FerryError, ErrorCode } from '../errors.js';
import { parseRetryAfter, sleep } from '../util/retry.js';

/** Longest pause honoured for one `Retry-After` (and the ceiling of the doubling default). */
export const MAX_PAUSE_MS = 60_000;
/**
 * Longest wait for one request that counts against a low RateLimit budget (Docker Hub's whole window, 6 h). A longer
 * one (a window of a year, a reset far away) is not waited for: the request fails as too many requests.
 */
export const MAX_BUDGET_WAIT_MS = 6 * 3600_000;
/** A wait shorter than this is not announced. */
const ANNOUNCE_MS = 1000;
/** The budget is low at or below this fraction of the limit. */
const LOW_FRACTION = 0.1;
/** The budget is low at or below this when the limit is unknown. */
const LOW_ABSOLUTE = 10;

/** What the limiter needs from the request's settings (a SystemContext fits). */
export interface RateLimitSettings {
  /** `--max-requests-per-second`: requests per second by host. */
  maxRequestsPerSecond?: Readonly<Record<string, number>>;
  /** `--retry-delay` in ms: the pause after a 429 without `Retry-After`. */
  retryDelayMs?: number;
}

type WaitListener = (e: RegistryWaitEvent) => void;
const listeners = new Set<WaitListener>();

/** Calls `listener` for every announced wait of this process until the returned function is called. */
export function onRegistryWait(listener: WaitListener): () => void {
  listeners.add(listener);
  return () => void listeners.delete(listener);
}

function announce(e: RegistryWaitEvent): void {
  for (const l of listeners) {
    try {
      l(e);
    } catch {
      // a renderer's failure must not fail a request
    }
  }
}

/** The API object a path is about: `manifests`, `blobs`, `tags` (below `/v2/<name>/`) or `other`. */
function objectKind(path: string): string {
  const m = /^\/v2\/.+\/(manifests|blobs|tags)\//.exec(path);
  return m ? m[1]! : 'other';
}

/** The leading integer of a RateLimit header value and its `w=` parameter (`76;w=21600`). */
export function parseRateLimitHeader(v: string | string[] | undefined): { value: number; window?: number } | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  if (s === undefined) return undefined;
  const m = /^\s*(\d+)/.exec(s);
  if (!m) return undefined;
  const w = /;\s*w\s*=\s*(\d+)/i.exec(s);
  return { value: Number(m[1]), ...(w ? { window: Number(w[1]) } : {}) };
}

/**
 * Rate for `host` (`host[:port]` as in a URL) from the settings: `docker.io` and `index.docker.io` stand for
 * `registry-1.docker.io`, and a host given with the port its URL leaves out (`HOST:443`, `HOST:80`) for `HOST`.
 */
export function rateFor(host: string, s: RateLimitSettings | undefined): number | undefined {
  const m = s?.maxRequestsPerSecond;
  if (!m) return undefined;
  const names = host === 'registry-1.docker.io' ? [host, 'docker.io', 'index.docker.io'] : [host];
  // a URL's host has no port when it is its scheme's default
  if (!/:\d+$/.test(host)) names.push(...names.flatMap((n) => [`${n}:443`, `${n}:80`]));
  for (const n of names) {
    const r = m[n];
    if (r !== undefined && r > 0 && Number.isFinite(r)) return r;
  }
  return undefined;
}

function sleepUntil(at: number, signal: AbortSignal | undefined): Promise<void> {
  return sleep(Math.max(0, at - Date.now()), signal);
}

/** The pacing state of one host. */
export class HostLimiter {
  /** No request before this time (ms since the epoch): a Retry-After pause. */
  private pausedUntil = 0;
  /** 429 answers in a row (for the default pause). */
  private tooMany = 0;
  /** When the `--max-requests-per-second` bucket has its token again. */
  private nextSlot = 0;
  /** Requests waiting for the token, in order. */
  private readonly queue: Array<{ go: () => void; signal?: AbortSignal }> = [];
  private pump?: NodeJS.Timeout;
  /** Next free slot for a request that counts against a low budget. */
  private nextMetered = 0;
  /** Request kinds whose answers carry RateLimit headers. */
  private readonly metered = new Set<string>();
  /** Gap between requests that count (0 while the budget is not low), and the budget it was computed from. */
  private gapMs = 0;
  private budget?: { remaining: number; limit?: number; windowSeconds: number; until: number };
  /** The latest time announced, so that requests waiting for the same thing announce it once. */
  private announced = 0;

  constructor(readonly host: string) {}

  /**
   * Waits until a request of `method` to `path` may be sent: after any pause, in its slot of the rate cap and, if it
   * counts against a low budget, in its slot of the spread.
   * @throws E_ABORTED when `signal` aborts while waiting.
   */
  async acquire(method: string, path: string, settings: RateLimitSettings | undefined, signal?: AbortSignal): Promise<void> {
    const kind = `${method} ${objectKind(path)}`;
    for (;;) {
      if (signal?.aborted) throw new FerryError(ErrorCode.Aborted, 'operation aborted');
      if (this.pausedUntil > Date.now()) {
        await sleepUntil(this.pausedUntil, signal);
        continue;
      }
      const rate = rateFor(this.host, settings);
      if (rate !== undefined) await this.token(rate, signal);
      if (this.budget && this.budget.until <= Date.now()) {
        this.budget = undefined;
        this.gapMs = 0;
      }
      if (this.gapMs > 0 && this.metered.has(kind)) {
        const now = Date.now();
        const slot = Math.max(now, this.nextMetered);
        if (slot - now > MAX_BUDGET_WAIT_MS) throw this.budgetRefusal(slot - now);
        this.nextMetered = slot + this.gapMs;
        if (slot > now) {
          this.announceWait(slot, 'rate-limit-budget');
          await sleepUntil(slot, signal);
        }
      }
      // a pause may have begun meanwhile: it holds this request too
      if (this.pausedUntil <= Date.now()) return;
    }
  }

  /** Waits for the `--max-requests-per-second` token (in order of arrival), then takes it. */
  private token(rate: number, signal: AbortSignal | undefined): Promise<void> {
    const interval = 1000 / rate;
    if (this.queue.length === 0 && this.nextSlot <= Date.now()) {
      this.nextSlot = Date.now() + interval;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const entry = {
        signal,
        go: () => {
          signal?.removeEventListener('abort', onAbort);
          this.nextSlot = Date.now() + interval;
          resolve();
        },
      };
      const onAbort = () => {
        const i = this.queue.indexOf(entry);
        if (i >= 0) this.queue.splice(i, 1);
        reject(new FerryError(ErrorCode.Aborted, 'operation aborted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(entry);
      this.announceWait(this.nextSlot + (this.queue.length - 1) * interval, 'max-requests-per-second');
      this.schedulePump();
    });
  }

  private schedulePump(): void {
    if (this.pump || this.queue.length === 0) return;
    this.pump = setTimeout(() => {
      this.pump = undefined;
      if (this.nextSlot > Date.now()) return this.schedulePump();
      this.queue.shift()?.go();
      this.schedulePump();
    }, Math.max(0, this.nextSlot - Date.now()));
  }

  private announceWait(until: number, reason: RegistryWaitEvent['reason']): void {
    const ms = until - Date.now();
    if (ms < ANNOUNCE_MS || until <= this.announced) return;
    this.announced = until;
    announce({ kind: 'registry-wait', host: this.host, ms, reason, ...(reason === 'rate-limit-budget' ? this.budgetInfo() : {}) });
  }

  private budgetRefusal(ms: number): FerryError {
    const b = this.budget;
    const said = b ? `RateLimit-Remaining ${b.remaining}${b.limit !== undefined ? ` of ${b.limit}` : ''} over ${b.windowSeconds} s` : 'a low RateLimit budget';
    const h = (x: number) => `${Math.ceil(x / 3600_000)} h`;
    return new FerryError(ErrorCode.TooManyRequests, `${this.host}: the registry's rate limit budget is used up (${said}): the next request would wait ${h(ms)}, more than the ${h(MAX_BUDGET_WAIT_MS)} ferry waits`);
  }

  private budgetInfo(): Partial<RegistryWaitEvent> {
    const b = this.budget;
    return b ? { remaining: b.remaining, ...(b.limit !== undefined ? { limit: b.limit } : {}), windowSeconds: b.windowSeconds } : {};
  }

  /** Learns from an answer: pauses after 429 (or 503 with Retry-After), follows the RateLimit budget. */
  observe(method: string, path: string, status: number, headers: Record<string, string | string[] | undefined>, settings: RateLimitSettings | undefined): void {
    const now = Date.now();
    const seconds = parseRetryAfter(headers['retry-after'], now);
    const retryAfter = seconds === undefined ? undefined : seconds * 1000;
    if (status === 429 || (status === 503 && retryAfter !== undefined)) {
      if (status === 429) this.tooMany++;
      const ms = retryAfter ?? settings?.retryDelayMs ?? Math.min(MAX_PAUSE_MS, 1000 * 2 ** Math.min(16, this.tooMany - 1));
      if (ms <= MAX_PAUSE_MS) this.pause(now, ms, status);
    } else if (status < 500) this.tooMany = 0;
    const remaining = parseRateLimitHeader(headers['ratelimit-remaining']);
    if (remaining === undefined) return;
    this.metered.add(`${method} ${objectKind(path)}`);
    const limit = parseRateLimitHeader(headers['ratelimit-limit']);
    const reset = parseRateLimitHeader(headers['ratelimit-reset']);
    const windowSeconds = reset?.value ?? remaining.window ?? limit?.window;
    const low = limit !== undefined ? remaining.value <= Math.floor(limit.value * LOW_FRACTION) : remaining.value <= LOW_ABSOLUTE;
    if (!low || windowSeconds === undefined) {
      this.gapMs = 0;
      this.budget = undefined;
      return;
    }
    this.budget = { remaining: remaining.value, ...(limit ? { limit: limit.value } : {}), windowSeconds, until: now + windowSeconds * 1000 };
    this.gapMs = (windowSeconds * 1000) / (remaining.value + 1);
    // this answer used up a slot: the next request that counts waits a gap from now
    this.nextMetered = Math.max(this.nextMetered, now + this.gapMs);
  }

  private pause(now: number, ms: number, status: number): void {
    const until = now + ms;
    if (until <= this.pausedUntil) return;
    this.pausedUntil = until;
    if (ms < ANNOUNCE_MS || until <= this.announced) return;
    this.announced = until;
    announce({ kind: 'registry-wait', host: this.host, ms, reason: 'retry-after', status });
  }
}

const limiters = new Map<string, HostLimiter>();

/** The limiter of `host` (`host[:port]` as in a URL), one per process. */
export function hostLimiter(host: string): HostLimiter {
  let l = limiters.get(host);
  if (!l) limiters.set(host, (l = new HostLimiter(host)));
  return l;
}
