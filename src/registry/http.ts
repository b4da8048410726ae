/**
 * The HTTP layer under the registry client: one keep-alive undici Agent per (endpoint, TLS settings), shared by the
 * clients that use it and closed with the last of them; requests with a User-Agent; manual redirects that never carry
 * the registry's Authorization to another origin; bounded body reads.
 */
import { Agent, type Dispatcher } from './undici.js';
import { FerryError, ErrorCode } from '../errors.js';
import { connectOptions, type TlsSettings } from './certs.js';
import { userAgent } from './user-agent.js';
import { hostLimiter, type RateLimitSettings } from './rate-limit.js';

/** A response whose body must be consumed (read, dumped or destroyed) by the caller. */
export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
  /** The URL that answered (after redirects). */
  url: URL;
}

/** One request. */
export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: URL;
  headers?: Record<string, string>;
  body?: Dispatcher.DispatchOptions['body'];
  signal?: AbortSignal;
  /** Follow redirects for GET/HEAD (default true). */
  followRedirects?: boolean;
  /** Pacing settings (`--max-requests-per-second`, `--retry-delay`); every request is paced per host (see `rate-limit.ts`). */
  limits?: RateLimitSettings;
}

/** What a `/v2/` ping learned about an origin (see `Endpoint.ping`). */
export interface PingOutcome {
  /** The scheme that answered. */
  scheme: 'https' | 'http';
  /** 200 or 401. */
  status: number;
  /** The `WWW-Authenticate` header of the answer. */
  challenge: string | string[] | undefined;
}

interface PooledAgent {
  agent: Agent;
  refs: number;
  /** The ping of this agent's origin, shared by every endpoint leasing it (while it is pooled). */
  ping?: Promise<PingOutcome>;
  /** Bearer tokens for this origin, shared by every endpoint leasing it (while it is pooled). */
  tokens: Map<string, Promise<PooledToken>>;
}

/** A bearer token and when it expires (ms since the epoch). */
export interface PooledToken {
  token: string;
  expiresAt: number;
}

const pool = new Map<string, PooledAgent>();
/** Open {@link holdConnections} holds: while any is open, agents stay pooled when their last lease is released. */
let holds = 0;

/**
 * Keeps agents pooled — their connections, the ping and the tokens they remember — for as long as a job that opens
 * many clients one after the other runs (a sync lists repositories and copies images, each with its own clients):
 * otherwise an agent closes with its last client and the next client connects, pings and authenticates again.
 * @returns the release (once): when the last hold goes, agents nobody leases any more are closed.
 */
export function holdConnections(): () => Promise<void> {
  holds++;
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    if (--holds > 0) return;
    const idle = [...pool.entries()].filter(([, e]) => e.refs === 0);
    for (const [key] of idle) pool.delete(key);
    await Promise.all(idle.map(([, e]) => e.agent.close().catch(() => undefined)));
  };
}

/** A handle on a shared agent; `release()` once. */
export interface AgentLease {
  readonly agent: Agent;
  readonly tls: TlsSettings;
  /**
   * The ping of this origin: `probe()`'s promise, called only by the first caller while the agent is pooled (endpoints
   * of other repositories on the same host and TLS settings, e.g. a copy's source and destination, share it). A
   * rejected probe is forgotten, so the next caller probes again.
   */
  sharedPing(probe: () => Promise<PingOutcome>): Promise<PingOutcome>;
  /**
   * A store for bearer tokens of this origin, shared like the ping; keys must name everything a token depends on
   * (realm, service, credentials, scopes). See `Authenticator`.
   */
  readonly sharedTokens: Map<string, Promise<PooledToken>>;
  release(): Promise<void>;
}

/** Gets (creating if needed) the agent for `endpoint` (host:port) with `tls`; keep-alive, shared, reference-counted. */
export function leaseAgent(endpoint: string, tls: TlsSettings): AgentLease {
  const key = `${endpoint}\0${tls.id}`;
  let p = pool.get(key);
  if (!p) {
    p = {
      agent: new Agent({
        // one secure context for all the agent's connections (see connectOptions)
        connect: { ...connectOptions(tls), timeout: 10_000 },
        keepAliveTimeout: 30_000,
        connections: 16,
      }),
      refs: 0,
      tokens: new Map(),
    };
    pool.set(key, p);
  }
  p.refs++;
  const entry = p;
  let released = false;
  return {
    agent: entry.agent,
    tls,
    sharedTokens: entry.tokens,
    sharedPing(probe) {
      if (entry.ping) return entry.ping;
      const p = probe();
      entry.ping = p;
      p.catch(() => {
        if (entry.ping === p) entry.ping = undefined;
      });
      return p;
    },
    async release() {
      if (released) return;
      released = true;
      if (--entry.refs === 0 && holds === 0 && pool.get(key) === entry) {
        pool.delete(key);
        await entry.agent.close().catch(() => undefined);
      }
    },
  };
}

/** Number of pooled agents (tests). */
export function pooledAgentCount(): number {
  return pool.size;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;

/**
 * Sends a request. Redirects (GET/HEAD) are followed up to 10 hops; the `Authorization` header is dropped as soon as
 * the request leaves the original origin. Network errors are thrown as they come (see `transportError`). Each hop
 * waits its turn at its host's limiter and tells it the answer (see `rate-limit.ts`).
 * @param agentFor agent for an origin the redirect moved to (same TLS settings, other host).
 */
export async function send(agent: Agent, req: HttpRequest, agentFor?: (origin: URL) => Agent): Promise<HttpResponse> {
  let url = req.url;
  let headers: Record<string, string> = { 'user-agent': userAgent(), ...req.headers };
  let current = agent;
  const origin = req.url.origin;
  for (let hop = 0; ; hop++) {
    const limiter = hostLimiter(url.host);
    await limiter.acquire(req.method, url.pathname, req.limits, req.signal);
    const res = await current.request({
      origin: url.origin,
      path: url.pathname + url.search,
      method: req.method,
      headers,
      body: req.body,
      signal: req.signal,
      // undici closes the connection after every HEAD by default (for servers that wrongly send a body with the answer),
      // so each blob existence check paid a new TCP (and TLS) connection. Registries answer HEAD without a body, and Go's
      // client (skopeo) keeps these connections open too.
      ...(req.method === 'HEAD' ? { reset: false } : {}),
    });
    limiter.observe(req.method, url.pathname, res.statusCode, res.headers, req.limits);
    const follow = (req.followRedirects ?? true) && (req.method === 'GET' || req.method === 'HEAD');
    const location = res.headers['location'];
    if (!follow || !REDIRECTS.has(res.statusCode) || typeof location !== 'string') {
      return { status: res.statusCode, headers: res.headers, body: res.body, url };
    }
    await res.body.dump().catch(() => undefined);
    if (hop >= MAX_REDIRECTS) throw new FerryError(ErrorCode.Registry, `${req.url.host}: too many redirects`);
    const next = new URL(location, url);
    if (next.protocol !== 'https:' && next.protocol !== 'http:') {
      throw new FerryError(ErrorCode.Registry, `${req.url.host}: redirect to unsupported URL scheme ${next.protocol}`);
    }
    if (next.origin !== origin) {
      const { authorization: _dropped, ...rest } = headers;
      headers = rest;
      current = agentFor ? agentFor(next) : agent;
    } else current = agent;
    url = next;
  }
}

/**
 * Reads a whole (small) body, failing with `onTooLarge()` once more than `max` bytes arrive. The body is always
 * consumed or destroyed.
 */
export async function readBody(res: HttpResponse, max: number, onTooLarge: () => Error): Promise<Buffer> {
  const declared = Number(res.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) {
    res.body.destroy();
    throw onTooLarge();
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body) {
    total += (chunk as Buffer).length;
    if (total > max) {
      res.body.destroy();
      throw onTooLarge();
    }
    chunks.push(chunk as Buffer);
  }
  await connectionFree();
  return Buffer.concat(chunks);
}

/**
 * Resolves once the connection of a response whose body has just ended can carry the next request: undici lends a
 * kept-alive connection again only one event-loop turn after its answer ended (in case the server closes it after
 * all), and a request sent sooner opens another connection, with another TLS handshake. A command's requests mostly
 * follow one another at once (ping, manifest, config, tags), so small bodies are read, or discarded, then this.
 */
function connectionFree(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Reads a body as text for an error message (bounded to 64 KiB; errors ignored). */
export async function readErrorText(res: HttpResponse): Promise<string> {
  try {
    return (await readBody(res, 64 * 1024, () => new Error('too large'))).toString('utf8');
  } catch {
    res.body.destroy();
    return '';
  }
}

/** Discards a body so its connection can be reused (see {@link connectionFree}). */
export async function discard(res: HttpResponse): Promise<void> {
  await res.body.dump({ limit: 128 * 1024 }).catch(() => res.body.destroy());
  await connectionFree();
}

/** First value of a header. */
export function header(res: { headers: Record<string, string | string[] | undefined> }, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}
