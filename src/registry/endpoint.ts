/**
 * One physical registry endpoint (host + repository path): TLS settings, the scheme found by pinging `/v2/` (https,
 * or http when insecure access is allowed), authentication, retries. Requests go through {@link Endpoint.request}.
 */
import type { Agent } from './undici.js';
import { ErrorCode, FerryError, RegistryError } from '../errors.js';
import type { SystemContext, OpOptions } from '../types/context.js';
import { Authenticator, chooseChallenge } from './auth.js';
import { parseChallenges } from './challenge.js';
import { tlsSettingsOnce, type TlsSettings } from './certs.js';
import { responseError, transportError } from './errors.js';
import { discard, leaseAgent, readErrorText, send, type AgentLease, type HttpRequest, type HttpResponse, type PingOutcome } from './http.js';
import { withRetry } from '../util/retry.js';

/** Where an endpoint is. */
export interface EndpointSpec {
  /** `host[:port]` as named by the user or registries.conf (`docker.io` is contacted as `registry-1.docker.io`). */
  host: string;
  /** Repository path on that host. */
  repository: string;
  /** registries.conf `insecure`. */
  insecure: boolean;
  /** Whether this is a mirror (for messages). */
  mirror: boolean;
}

/** One request through {@link Endpoint.request}. */
export interface EndpointRequest extends OpOptions {
  method: HttpRequest['method'];
  /** Path and query below the origin, e.g. `/v2/foo/manifests/latest`. */
  path: string;
  headers?: Record<string, string>;
  body?: HttpRequest['body'];
  /** Token scopes the request needs. */
  scopes: string[];
  /** Names the object for error messages (`docker://HOST/REPO:TAG`). */
  what: string;
  /** Statuses returned to the caller instead of thrown (401 is always handled here; 429/502/503/504 retried). */
  followRedirects?: boolean;
  /** Whether the request may be repeated on a transient failure (default true; false for a streamed body). */
  retry?: boolean;
}

/** Methods whose request may be repeated after a 500 (no body, no effect). */
const IDEMPOTENT = new Set<EndpointRequest['method']>(['GET', 'HEAD']);

/** The host to actually contact for a registry name. */
export function physicalHost(host: string): string {
  return host === 'docker.io' ? 'registry-1.docker.io' : host;
}

/** A registry endpoint. Create with {@link Endpoint}, then `request`; `close()` when done. */
export class Endpoint {
  readonly auth: Authenticator;
  private base?: URL;
  private pinging?: Promise<void>;
  private tls?: Promise<TlsSettings>;
  private lease?: AgentLease;
  private readonly foreign = new Map<string, AgentLease>();
  /** Anonymous authentication for the hosts redirects led to, by origin. */
  private readonly foreignAuth = new Map<string, Authenticator>();
  private closed = false;

  constructor(
    readonly spec: EndpointSpec,
    private readonly ctx: SystemContext,
  ) {
    this.auth = new Authenticator(spec.host, spec.repository, ctx, (r) => this.sendForeign(r), () => this.lease?.sharedTokens);
  }

  /** `host[:port]` contacted. */
  get physicalHost(): string {
    return physicalHost(this.spec.host);
  }

  private tlsSettings(): Promise<TlsSettings> {
    this.tls ??= tlsSettingsOnce(this.physicalHost, this.ctx, this.spec.insecure);
    return this.tls;
  }

  private async agent(): Promise<Agent> {
    if (this.closed) throw new FerryError(ErrorCode.Registry, `${this.physicalHost}: client is closed`);
    if (!this.lease) {
      const tls = await this.tlsSettings();
      this.lease ??= leaseAgent(this.physicalHost, tls);
    }
    return this.lease.agent;
  }

  /** Agent for another origin (redirect targets, token realms): same TLS trust, no client certificate. */
  private agentForForeign(url: URL): Agent {
    const tls = this.lease!.tls;
    let l = this.foreign.get(url.host);
    if (!l) {
      l = leaseAgent(url.host, tls.cert ? { ...tls, cert: undefined, key: undefined, id: `${tls.id}-nocert` } : tls);
      this.foreign.set(url.host, l);
    }
    return l.agent;
  }

  private async sendForeign(r: Parameters<ConstructorParameters<typeof Authenticator>[3]>[0]): Promise<HttpResponse> {
    await this.agent();
    const what = `authenticating to ${this.spec.host}`;
    return withRetry(
      async () => {
        const agent = r.url.host === this.physicalHost ? this.lease!.agent : this.agentForForeign(r.url);
        let res: HttpResponse;
        try {
          res = await send(agent, { ...r, headers: { ...this.uaHeader(), ...r.headers }, limits: this.ctx }, (u) => this.agentForForeign(u));
        } catch (e) {
          throw transportError(`${what}: requesting a token from ${r.url.host}`, e, r.signal);
        }
        if (res.status === 429 || res.status === 502 || res.status === 503 || res.status === 504) {
          throw responseError(`${what}: requesting a token`, res.status, res.headers, await readErrorText(res));
        }
        return res;
      },
      { retryTimes: this.ctx.retryTimes, retryDelayMs: this.ctx.retryDelayMs, signal: r.signal },
    );
  }

  private uaHeader(): Record<string, string> {
    return this.ctx.userAgent ? { 'user-agent': this.ctx.userAgent } : {};
  }

  /**
   * Pings `/v2/` once (concurrent callers share it): picks https, or http when TLS verification is off and https fails,
   * and learns the authentication challenge.
   * @throws E_NETWORK / E_TLS (`pinging registry HOST: …`), E_REGISTRY for an answer other than 200/401.
   */
  ping(opts: OpOptions = {}): Promise<void> {
    if (!this.pinging) {
      this.pinging = this.doPing(opts).catch((e: unknown) => {
        this.pinging = undefined;
        throw e;
      });
    }
    return this.pinging;
  }

  /**
   * Pings through the agent's shared ping: an endpoint of another repository on the same host and TLS settings that
   * pinged already (or is pinging) gives its answer, so a copy between two repositories of one registry pings once.
   * If a ping someone else started failed, this endpoint pings again (as it would have without sharing; endpoints that
   * were waiting too share that second ping).
   */
  private async doPing(opts: OpOptions): Promise<void> {
    await this.agent();
    let probed = false;
    let outcome: PingOutcome;
    try {
      outcome = await this.lease!.sharedPing(() => {
        probed = true;
        return this.probe(opts);
      });
    } catch (e) {
      if (probed) throw e;
      // someone else's ping failed (perhaps only under their signal): ping again, still shared with the others
      outcome = await this.lease!.sharedPing(() => this.probe(opts));
    }
    this.auth.adoptPing(outcome.status, outcome.challenge);
    this.base = new URL(`${outcome.scheme}://${this.physicalHost}`);
  }

  /** GET `/v2/`: https, then http when TLS verification is off and https fails. */
  private async probe(opts: OpOptions): Promise<PingOutcome> {
    const agent = await this.agent();
    const tls = await this.tlsSettings();
    const schemes = tls.verify ? (['https'] as const) : (['https', 'http'] as const);
    const what = `pinging registry ${this.physicalHost}`;
    let firstError: unknown;
    for (const scheme of schemes) {
      const url = new URL(`${scheme}://${this.physicalHost}/v2/`);
      try {
        const res = await withRetry(
          async () => {
            let r: HttpResponse;
            try {
              r = await send(agent, { method: 'GET', url, headers: this.uaHeader(), signal: opts.signal, limits: this.ctx }, (u) => this.agentForForeign(u));
            } catch (e) {
              throw transportError(what, e, opts.signal);
            }
            if (r.status === 429 || r.status === 502 || r.status === 503 || r.status === 504) {
              throw responseError(what, r.status, r.headers, await readErrorText(r));
            }
            return r;
          },
          { retryTimes: this.ctx.retryTimes, retryDelayMs: this.ctx.retryDelayMs, signal: opts.signal },
        );
        if (res.status !== 200 && res.status !== 401) {
          const err = responseError(what, res.status, res.headers, await readErrorText(res));
          if (res.status === 404) {
            throw new RegistryError(ErrorCode.Registry, `${what}: the server does not implement the registry API v2 (HTTP status 404)`, { status: 404 });
          }
          throw err;
        }
        // a challenge from a host the ping was redirected to is not this registry's: its realm never gets credentials
        const challenge = res.url.origin === url.origin ? res.headers['www-authenticate'] : undefined;
        await discard(res);
        return { scheme, status: res.status, challenge };
      } catch (e) {
        if (e instanceof FerryError && e.code === ErrorCode.Aborted) throw e;
        firstError ??= e;
        if (!(e instanceof FerryError) || (e.code !== ErrorCode.Network && e.code !== ErrorCode.Tls)) throw e;
      }
    }
    throw firstError;
  }

  /** The origin chosen by the ping (`https://host`). */
  async origin(opts: OpOptions = {}): Promise<URL> {
    await this.ping(opts);
    return this.base!;
  }

  /**
   * The URL of `req.path` on the registry's own origin. The path is appended to the origin, never resolved as a
   * reference: `//other.host/x` (or `/\\other.host/x`), which a hostile registry can put in a `Link` or `Location`,
   * would otherwise name another host and take this registry's `Authorization` there.
   */
  private resolve(req: EndpointRequest): URL {
    const base = this.base!;
    const url = req.path.startsWith('/') ? new URL(base.origin + req.path) : undefined;
    if (!url || url.origin !== base.origin) {
      throw new FerryError(ErrorCode.Registry, `${req.what}: refusing a request path outside the registry (${JSON.stringify(req.path.slice(0, 64).split('?')[0])})`);
    }
    return url;
  }

  /**
   * Sends an authenticated request: pings first, answers 401 challenges (new challenge, wider scope, stale token),
   * retries transient failures (network, 429, 502–504, and 500 to a GET or HEAD), and returns any other answer for the caller to judge.
   * A final 401 is thrown as E_UNAUTHORIZED.
   */
  async request(req: EndpointRequest): Promise<HttpResponse> {
    await this.ping(req);
    const agent = await this.agent();
    const attemptOnce = async (): Promise<HttpResponse> => {
      let scopes = req.scopes;
      for (let authAttempt = 0; ; authAttempt++) {
        let authz: string | undefined;
        try {
          authz = await this.auth.authorization(scopes, req);
        } catch (e) {
          // a refused token request names what was being read, as skopeo does (`reading manifest …: unable to retrieve auth token: …`)
          if (e instanceof RegistryError && e.code === ErrorCode.Unauthorized) {
            throw new RegistryError(e.code, `${req.what}: ${e.message}`, { status: e.status, entries: e.entries, cause: e });
          }
          throw e;
        }
        const headers: Record<string, string> = { ...this.uaHeader(), ...req.headers };
        if (authz) headers['authorization'] = authz;
        let res: HttpResponse;
        try {
          res = await send(
            agent,
            { method: req.method, url: this.resolve(req), headers, body: req.body, signal: req.signal, followRedirects: req.followRedirects, limits: this.ctx },
            (u) => this.agentForForeign(u),
          );
        } catch (e) {
          throw transportError(req.what, e, req.signal);
        }
        if (res.status === 401 && res.url.origin !== this.base!.origin) {
          // A redirect target (blob storage, CDN) wants authentication: never with this registry's credentials.
          res = await this.anonymousRetry(res, req);
        }
        if (res.status === 401 && res.url.origin === this.base!.origin) {
          const d = this.auth.onUnauthorized(res.headers['www-authenticate'], scopes, authAttempt);
          if (d.retry) {
            await discard(res);
            scopes = d.scopes;
            continue;
          }
          const err = responseError(req.what, res.status, res.headers, await errorText(res, req.method));
          const hint = this.ctx.registryToken ? ' (the registry token was refused)' : '';
          throw new RegistryError(ErrorCode.Unauthorized, await this.auth.scrub(`${err.message}${hint}`), { status: 401, entries: err.entries });
        }
        if (res.status === 401) {
          const err = responseError(req.what, res.status, res.headers, await errorText(res, req.method));
          const text = await this.auth.scrub(`${err.message} (at ${res.url.host}, where the registry redirected)`);
          throw new RegistryError(ErrorCode.Unauthorized, text, { status: 401, entries: err.entries });
        }
        if (res.status === 429 || res.status === 502 || res.status === 503 || res.status === 504) {
          throw responseError(req.what, res.status, res.headers, await errorText(res, req.method));
        }
        if (res.status === 500 && req.retry !== false && IDEMPOTENT.has(req.method)) {
          // A registry answers 500 to reads racing with writes of the same blob (Debian's docker-registry while
          // several pushes of one blob commit): a read may be repeated, so it is retried like a 503.
          const err = responseError(req.what, res.status, res.headers, await errorText(res, req.method));
          throw new RegistryError(err.code, err.message, { status: err.status, entries: err.entries, retryable: true });
        }
        return res;
      }
    };
    if (req.retry === false) return attemptOnce();
    return withRetry(attemptOnce, { retryTimes: this.ctx.retryTimes, retryDelayMs: this.ctx.retryDelayMs, signal: req.signal });
  }

  /**
   * Answers the 401 of a host a redirect led to (`res.url`, another origin than the registry's): when it offers a
   * Bearer challenge, with an anonymous token from its realm, never with this registry's credentials or tokens (they
   * belong to the registry and to the realm the registry's own challenge named). Returns the new answer, or `res` as
   * it is when there is nothing anonymous to try.
   */
  private async anonymousRetry(res: HttpResponse, req: EndpointRequest): Promise<HttpResponse> {
    const ch = chooseChallenge(parseChallenges(res.headers['www-authenticate']));
    if (ch?.scheme !== 'bearer') return res;
    await discard(res);
    const target = res.url;
    let auth = this.foreignAuth.get(target.origin);
    if (!auth) {
      const anonymous: SystemContext = { ...this.ctx, credentials: undefined, registryToken: undefined, authFile: undefined, noCreds: true };
      auth = new Authenticator(target.host, '', anonymous, (r) => this.sendForeign(r));
      this.foreignAuth.set(target.origin, auth);
    }
    auth.adoptPing(401, res.headers['www-authenticate']);
    const scopes = (ch.params['scope'] ?? '').split(' ').filter(Boolean);
    let authz: string | undefined;
    try {
      authz = await auth.authorization(scopes, req);
    } catch (e) {
      if (e instanceof RegistryError && e.code === ErrorCode.Unauthorized) {
        throw new RegistryError(e.code, `${req.what}: ${e.message} (at ${target.host}, where the registry redirected)`, { status: e.status, cause: e });
      }
      throw e;
    }
    const headers: Record<string, string> = { ...this.uaHeader(), ...req.headers };
    if (authz) headers['authorization'] = authz;
    try {
      return await send(
        this.agentForForeign(target),
        { method: req.method, url: target, headers, signal: req.signal, followRedirects: req.followRedirects, limits: this.ctx },
        (u) => this.agentForForeign(u),
      );
    } catch (e) {
      throw transportError(req.what, e, req.signal);
    }
  }

  /** Releases the agents (shared agents close with their last user). */
  async close(): Promise<void> {
    this.closed = true;
    const leases = [this.lease, ...this.foreign.values()];
    this.lease = undefined;
    this.foreign.clear();
    await Promise.all(leases.map((l) => l?.release()));
  }
}

/** The body of an error answer as text ('' for HEAD, whose body is only discarded). */
async function errorText(res: HttpResponse, method: string): Promise<string> {
  if (method === 'HEAD') {
    await discard(res);
    return '';
  }
  return readErrorText(res);
}
