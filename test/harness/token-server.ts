/**
 * A small HTTPS server implementing the Docker registry token protocol (the `auth.token` realm of a
 * distribution registry), for tests only.
 *
 * - `GET <realm>?service=S&scope=A&scope=B[&account=U]` with optional Basic credentials.
 * - `POST <realm>` form (`grant_type=password`, `username`, `password`, `service`, `scope` space-separated) — the OAuth2 variant.
 * Valid credentials get every requested action on every repository; anonymous requests get `pull` only;
 * wrong credentials get 401. Tokens are ES256 JWTs whose header carries the signing certificate in `x5c`;
 * the registry trusts it through its `rootcertbundle` (the test CA).
 */
import { createPrivateKey, randomBytes, sign, X509Certificate } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getTestPki } from './certs.js';

/** One request the token server answered. */
export interface TokenRequest {
  /** Requested scopes, as sent (`repository:foo/bar:pull,push`). */
  scope: string[];
  /** The user name from Basic auth / the form / `account`, if any. */
  account?: string;
  /** True when valid credentials were presented (false for anonymous and for rejected requests). */
  authorized: boolean;
  /** HTTP method used (GET = token protocol, POST = OAuth2 form). */
  method: string;
  /** HTTP status answered. */
  status: number;
}

/** A running token server. */
export interface TokenServer {
  /** Base URL, `https://127.0.0.1:PORT`. */
  url: string;
  /** The realm URL to put in the registry config (`https://127.0.0.1:PORT/token`). */
  realm: string;
  /** The service name tokens are issued for (the registry's `auth.token.service`). */
  service: string;
  /** The `iss` claim of issued tokens (the registry's `auth.token.issuer`). */
  issuer: string;
  /** Every request received, in order. */
  requests: TokenRequest[];
  stop(): Promise<void>;
}

/** Options of {@link startTokenServer}. */
export interface TokenServerOptions {
  /** Valid users: name → password. */
  users: Record<string, string>;
  /** Default `ferry-test-registry`. */
  service?: string;
  /** Default `ferry-test-token-issuer`. */
  issuer?: string;
  /** Token lifetime in seconds (default 300). */
  expiresIn?: number;
  /** Whether anonymous requests get pull-only tokens (default true); when false they get 401. */
  allowAnonymous?: boolean;
}

interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/** Parses `type:name:actions` (the name may itself contain `:`, e.g. a port). */
function parseScope(s: string): AccessEntry | undefined {
  const first = s.indexOf(':');
  const last = s.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  return { type: s.slice(0, first), name: s.slice(first + 1, last), actions: s.slice(last + 1).split(',').filter(Boolean) };
}

/** Starts the token server on 127.0.0.1 with a free port. */
export async function startTokenServer(opts: TokenServerOptions): Promise<TokenServer> {
  const pki = await getTestPki();
  const service = opts.service ?? 'ferry-test-registry';
  const issuer = opts.issuer ?? 'ferry-test-token-issuer';
  const expiresIn = opts.expiresIn ?? 300;
  const allowAnonymous = opts.allowAnonymous ?? true;
  const signingKey = createPrivateKey(pki.signingKeyPem);
  const x5c = [new X509Certificate(pki.signingCertPem).raw.toString('base64')];
  const requests: TokenRequest[] = [];

  const issue = (account: string | undefined, scopes: string[]): string => {
    const now = Math.floor(Date.now() / 1000);
    const access: AccessEntry[] = [];
    for (const s of scopes) {
      const e = parseScope(s);
      if (!e) continue;
      const actions = account === undefined ? e.actions.filter((a) => a === 'pull') : e.actions;
      access.push({ ...e, actions });
    }
    const header = { typ: 'JWT', alg: 'ES256', x5c };
    const claims = {
      iss: issuer, sub: account ?? '', aud: service, exp: now + expiresIn, nbf: now - 60, iat: now,
      jti: randomBytes(12).toString('hex'), access,
    };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = sign('sha256', Buffer.from(input), { key: signingKey, dsaEncoding: 'ieee-p1363' });
    return `${input}.${b64url(sig)}`;
  };

  const answer = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const u = new URL(req.url ?? '/', 'https://127.0.0.1');
    if (u.pathname !== '/token') return answer(res, 404, { errors: [{ code: 'NOT_FOUND' }] });
    let user: string | undefined;
    let pass: string | undefined;
    let scopes: string[];
    let reqService: string | null;
    if (req.method === 'POST') {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      if (form.get('grant_type') !== 'password') {
        requests.push({ scope: [], authorized: false, method: 'POST', status: 400 });
        return answer(res, 400, { error: 'unsupported_grant_type' });
      }
      user = form.get('username') ?? undefined;
      pass = form.get('password') ?? '';
      scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
      reqService = form.get('service');
    } else if (req.method === 'GET') {
      const auth = req.headers.authorization;
      if (auth?.startsWith('Basic ')) {
        const decoded = Buffer.from(auth.slice(6), 'base64').toString('utf8');
        const i = decoded.indexOf(':');
        user = i >= 0 ? decoded.slice(0, i) : decoded;
        pass = i >= 0 ? decoded.slice(i + 1) : '';
      }
      scopes = u.searchParams.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean);
      reqService = u.searchParams.get('service');
    } else {
      return answer(res, 405, { error: 'method not allowed' });
    }
    const method = req.method;
    if (reqService !== null && reqService !== service) {
      requests.push({ scope: scopes, account: user, authorized: false, method, status: 400 });
      return answer(res, 400, { error: 'invalid_request', error_description: 'unknown service' });
    }
    if (user !== undefined) {
      if (!Object.hasOwn(opts.users, user) || opts.users[user] !== pass) {
        requests.push({ scope: scopes, account: user, authorized: false, method, status: 401 });
        return answer(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication failed' }] }, {
          'www-authenticate': `Basic realm="${issuer}"`,
        });
      }
    } else if (!allowAnonymous) {
      requests.push({ scope: scopes, authorized: false, method, status: 401 });
      return answer(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }, {
        'www-authenticate': `Basic realm="${issuer}"`,
      });
    }
    requests.push({ scope: scopes, account: user, authorized: user !== undefined, method, status: 200 });
    const token = issue(user, scopes);
    answer(res, 200, { token, access_token: token, expires_in: expiresIn, issued_at: new Date().toISOString() });
  };

  const server: Server = createServer({ cert: pki.serverCertPem, key: pki.serverKeyPem }, (req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) answer(res, 500, { error: String(e) });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `https://127.0.0.1:${port}`;
  let stopped: Promise<void> | undefined;
  return {
    url, realm: `${url}/token`, service, issuer, requests,
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return stopped;
    },
  };
}
