/**
 * Authentication state for one registry endpoint: the challenge it answered, the credentials to use, and a cache of
 * bearer tokens per scope set with their expiry. Follows the distribution token protocol (GET with Basic credentials
 * and `account`) and its OAuth2 variant (POST with a refresh token, used when the auth file holds an `identitytoken`).
 */
import { FerryError, ErrorCode, RegistryError } from '../errors.js';
import type { SystemContext, OpOptions } from '../types/context.js';
import { lookupCredentialsDetailed, type Credentials, type CredentialsLookup } from '../config/auth-file.js';
import { parseChallenges, type Challenge } from './challenge.js';
import { parseErrorBody, registryText, responseError } from './errors.js';
import { readBody, readErrorText, type HttpResponse, type PooledToken } from './http.js';
import { createHash } from 'node:crypto';
import { registerSecret } from '../util/redact.js';

/** Sends a request to a token realm (any origin). */
export type TokenSender = (req: {
  method: 'GET' | 'POST';
  url: URL;
  headers: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
}) => Promise<HttpResponse>;

type CachedToken = PooledToken;

/** Registers every form of `c` that goes on the wire as a secret no message may show (see `registerSecret`). */
function registerCredentials(c: Credentials | undefined): void {
  if (!c) return;
  registerSecret(c.password);
  registerSecret(c.password && encodeURIComponent(c.password));
  registerSecret(c.identityToken);
  registerSecret(Buffer.from(`${c.username}:${c.password}`, 'utf8').toString('base64'));
}

/** Minimum token lifetime assumed when the server says less or nothing (seconds), as the token spec suggests. */
const MIN_TOKEN_LIFETIME = 60;
/** Tokens are renewed this long before they expire (ms). */
const EXPIRY_MARGIN_MS = 5_000;

/** `repository:NAME:ACTIONS` for the given actions (`delete` asks for `*`, as containers/image does). */
export function repositoryScope(repository: string, actions: ReadonlyArray<'pull' | 'push' | 'delete'>): string {
  if (actions.includes('delete')) return `repository:${repository}:*`;
  const a = new Set<string>(['pull']);
  if (actions.includes('push')) a.add('push');
  return `repository:${repository}:${[...a].join(',')}`;
}

/** Picks the challenge to answer: Bearer if offered, else Basic. */
export function chooseChallenge(challenges: Challenge[]): Challenge | undefined {
  return challenges.find((c) => c.scheme === 'bearer' && c.params['realm']) ?? challenges.find((c) => c.scheme === 'basic');
}

/** What to do after a 401. */
export interface UnauthorizedDecision {
  retry: boolean;
  /** The scopes to ask for on the retry (a superset of the ones sent). */
  scopes: string[];
}

/** Authentication for one endpoint (host); shared by all requests of a client to it. */
export class Authenticator {
  /** The challenge in force (`undefined` until a ping or a 401 tells; `null` when the registry wants none). */
  challenge: Challenge | null | undefined;
  private lookup?: Promise<CredentialsLookup>;
  private readonly tokens = new Map<string, CachedToken>();
  private readonly inflight = new Map<string, Promise<string>>();
  /** Number of token requests sent (diagnostics and tests). */
  tokenRequests = 0;

  /**
   * @param host endpoint host (for messages and the auth-file lookup).
   * @param repository repository on that host (for the auth-file lookup by namespace).
   */
  /**
   * @param shared the token store of the connection pool this endpoint uses, once it has one (see `leaseAgent`):
   *   endpoints of one origin share tokens through it, so a sync asks once per repository and scope.
   */
  constructor(
    readonly host: string,
    readonly repository: string,
    private readonly ctx: SystemContext,
    private readonly sendToken: TokenSender,
    private readonly shared?: () => Map<string, Promise<CachedToken>> | undefined,
  ) {}

  /** Credentials from `ctx.credentials`, else the auth files; none with `ctx.noCreds` or `ctx.registryToken`. */
  async credentials(): Promise<Credentials | undefined> {
    return (await this.credentialsLookup()).credentials;
  }

  private credentialsLookup(): Promise<CredentialsLookup> {
    registerSecret(this.ctx.registryToken);
    if (this.ctx.noCreds || this.ctx.registryToken) return Promise.resolve({});
    this.lookup ??= (this.ctx.credentials ? Promise.resolve({ credentials: { ...this.ctx.credentials } }) : lookupCredentialsDetailed(this.host, this.repository, this.ctx)).then((l) => {
      registerCredentials(l.credentials);
      return l;
    });
    return this.lookup;
  }

  /**
   * `text` (something a registry or token server said) without the secrets this endpoint uses: a hostile server could
   * echo the password, the `Authorization` value or a token back in its error message.
   */
  async scrub(text: string): Promise<string> {
    const c = await this.credentials();
    const secrets = [this.ctx.registryToken, c?.password, c?.identityToken];
    if (c?.username !== undefined && c.password !== undefined) secrets.push(Buffer.from(`${c.username}:${c.password}`, 'utf8').toString('base64'));
    for (const t of this.tokens.values()) secrets.push(t.token);
    let out = text;
    // very short secrets would garble the message more than they could reveal
    for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join('***');
    return out;
  }

  /** Adopts the challenge of a `/v2/` ping answer (200: none; 401: the offered one). */
  adoptPing(status: number, wwwAuthenticate: string | string[] | undefined): void {
    this.challenge = status === 401 ? (chooseChallenge(parseChallenges(wwwAuthenticate)) ?? null) : null;
  }

  /** The `Authorization` header value for a request needing `scopes`, fetching a token if needed. */
  async authorization(scopes: string[], opts: OpOptions = {}): Promise<string | undefined> {
    if (this.ctx.registryToken) return `Bearer ${this.ctx.registryToken}`;
    const ch = this.challenge;
    if (!ch) return undefined;
    if (ch.scheme === 'basic') {
      const c = await this.credentials();
      if (!c) return undefined;
      return `Basic ${Buffer.from(`${c.username}:${c.password}`, 'utf8').toString('base64')}`;
    }
    return `Bearer ${await this.token(ch, scopes, opts)}`;
  }

  private static key(scopes: string[]): string {
    return [...new Set(scopes)].sort().join(' ');
  }

  /** Forgets the cached token for `scopes` (after the registry refused it). */
  invalidate(scopes: string[]): void {
    const key = Authenticator.key(scopes);
    this.tokens.delete(key);
    for (const k of this.sharedKeys.get(key) ?? []) this.shared?.()?.delete(k);
    this.sharedKeys.delete(key);
  }

  /** Shared-store keys used per scope key (so `invalidate` can drop them). */
  private readonly sharedKeys = new Map<string, Set<string>>();

  /** The key of a token in the shared store: everything the token depends on, the credentials hashed. */
  private async sharedKey(ch: Challenge, key: string): Promise<string> {
    const c = await this.credentials();
    const who = c ? createHash('sha256').update(`${c.username}\0${c.password}\0${c.identityToken ?? ''}`).digest('hex') : '';
    return [ch.params['realm'] ?? '', ch.params['service'] ?? '', who, key].join('\0');
  }

  private async token(ch: Challenge, scopes: string[], opts: OpOptions): Promise<string> {
    const key = Authenticator.key(scopes);
    const cached = this.tokens.get(key);
    if (cached && cached.expiresAt - EXPIRY_MARGIN_MS > Date.now()) return cached.token;
    const shared = this.shared?.();
    if (shared) {
      const t = await this.sharedToken(shared, await this.sharedKey(ch, key), () => this.fetchToken(ch, [...new Set(scopes)], opts));
      this.tokens.set(key, t.token);
      let keys = this.sharedKeys.get(key);
      if (!keys) this.sharedKeys.set(key, (keys = new Set()));
      keys.add(t.key);
      return t.token.token;
    }
    let p = this.inflight.get(key);
    if (!p) {
      p = this.fetchToken(ch, [...new Set(scopes)], opts).then(
        (t) => {
          this.tokens.set(key, t);
          this.inflight.delete(key);
          return t.token;
        },
        (e: unknown) => {
          this.inflight.delete(key);
          throw e;
        },
      );
      this.inflight.set(key, p);
    }
    return p;
  }

  /** A fresh token from `shared` under `sk`, fetching it (once for every endpoint asking at the same time) if needed. */
  private async sharedToken(shared: Map<string, Promise<CachedToken>>, sk: string, fetch: () => Promise<CachedToken>): Promise<{ token: CachedToken; key: string }> {
    for (;;) {
      const p = shared.get(sk);
      if (p === undefined) {
        const mine = fetch();
        shared.set(sk, mine);
        mine.catch(() => {
          if (shared.get(sk) === mine) shared.delete(sk);
        });
        return { token: await mine, key: sk };
      }
      const t = await p.catch(() => undefined);
      if (t && t.expiresAt - EXPIRY_MARGIN_MS > Date.now()) return { token: t, key: sk };
      if (shared.get(sk) === p) shared.delete(sk); // expired, or someone else's fetch failed: fetch it ourselves
    }
  }

  private async fetchToken(ch: Challenge, scopes: string[], opts: OpOptions): Promise<CachedToken> {
    const what = `authenticating to ${this.host}`;
    let realm: URL;
    try {
      realm = new URL(ch.params['realm']!);
    } catch {
      throw new FerryError(ErrorCode.Registry, `${what}: invalid token realm in the registry's challenge`);
    }
    if (realm.protocol !== 'https:' && realm.protocol !== 'http:') {
      throw new FerryError(ErrorCode.Registry, `${what}: unsupported token realm scheme ${realm.protocol}`);
    }
    const creds = await this.credentials();
    const service = ch.params['service'];
    let res: HttpResponse;
    this.tokenRequests++;
    if (creds?.identityToken) {
      const form = new URLSearchParams();
      form.set('grant_type', 'refresh_token');
      form.set('refresh_token', creds.identityToken);
      form.set('client_id', 'ferry');
      if (service) form.set('service', service);
      if (scopes.length) form.set('scope', scopes.join(' '));
      res = await this.sendToken({
        method: 'POST',
        url: realm,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
        signal: opts.signal,
      });
    } else {
      const url = new URL(realm);
      if (service) url.searchParams.set('service', service);
      for (const s of scopes) url.searchParams.append('scope', s);
      const headers: Record<string, string> = {};
      if (creds) {
        if (creds.username) url.searchParams.set('account', creds.username);
        headers['authorization'] = `Basic ${Buffer.from(`${creds.username}:${creds.password}`, 'utf8').toString('base64')}`;
      }
      res = await this.sendToken({ method: 'GET', url, headers, signal: opts.signal });
    }
    if (res.status === 401 || res.status === 403) {
      // containers/image's wording (scripts match on it), then the token server's own message; the request's caller
      // prefixes what was being read.
      const entries = parseErrorBody(await readErrorText(res));
      const said = await this.scrub(registryText(res.status, entries));
      const msg = creds ? `invalid username/password: ${said}` : said;
      throw new RegistryError(ErrorCode.Unauthorized, `unable to retrieve auth token: ${msg}`, { status: res.status, entries });
    }
    if (res.status < 200 || res.status >= 300) {
      const e = responseError(`${what}: getting a token`, res.status, res.headers, await readErrorText(res));
      throw new RegistryError(e.code, await this.scrub(e.message), { status: e.status, entries: e.entries, retryable: e.retryable, retryAfter: e.retryAfter });
    }
    const body = await readBody(res, 1 << 20, () => new FerryError(ErrorCode.Registry, `${what}: token answer too large`));
    let j: { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown };
    try {
      j = JSON.parse(body.toString('utf8')) as typeof j;
    } catch {
      throw new FerryError(ErrorCode.Registry, `${what}: the token server answered something that is not JSON`);
    }
    const token = typeof j.token === 'string' && j.token ? j.token : typeof j.access_token === 'string' ? j.access_token : '';
    if (!token) throw new FerryError(ErrorCode.Registry, `${what}: the token server answered no token`);
    registerSecret(token);
    const lifetime = Math.max(MIN_TOKEN_LIFETIME, typeof j.expires_in === 'number' ? j.expires_in : 0);
    const issued = typeof j.issued_at === 'string' ? Date.parse(j.issued_at) : NaN;
    const start = Number.isNaN(issued) || issued > Date.now() ? Date.now() : issued;
    return { token, expiresAt: start + lifetime * 1000 };
  }

  /**
   * Decides whether a 401 is worth another attempt: a challenge we did not know yet, an `insufficient_scope` error
   * naming scopes we did not ask for, or a cached bearer token the registry no longer accepts (once).
   */
  onUnauthorized(wwwAuthenticate: string | string[] | undefined, scopes: string[], attempt: number): UnauthorizedDecision {
    if (this.ctx.registryToken) return { retry: false, scopes };
    const ch = chooseChallenge(parseChallenges(wwwAuthenticate));
    if (!ch) return { retry: false, scopes };
    const known = this.challenge;
    if (!known || known.scheme !== ch.scheme || known.params['realm'] !== ch.params['realm']) {
      this.challenge = ch;
      this.tokens.clear();
      return { retry: attempt < 2, scopes };
    }
    if (ch.scheme !== 'bearer') return { retry: false, scopes };
    const wanted = (ch.params['scope'] ?? '').split(' ').filter(Boolean);
    const missing = wanted.filter((s) => !scopes.includes(s));
    if (ch.params['error'] === 'insufficient_scope') {
      return missing.length ? { retry: attempt < 2, scopes: [...scopes, ...missing] } : { retry: false, scopes };
    }
    this.invalidate(scopes);
    return { retry: attempt < 1, scopes };
  }
}
