/**
 * Real registries for integration tests: CNCF distribution (`/usr/bin/docker-registry`) started on
 * 127.0.0.1 with a fresh filesystem storage, in one of four modes:
 * - `http`  — plain HTTP, no auth;
 * - `tls`   — HTTPS with a certificate from the test CA ({@link TestRegistry.certDir});
 * - `basic` — HTTPS + htpasswd (bcrypt) Basic auth;
 * - `token` — HTTPS + bearer tokens from a {@link TokenServer} (Docker token protocol).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { getTestPki } from './certs.js';
import { runOk } from './procs.js';
import { makeTempDir, removeDir } from './tmp.js';
import { startTokenServer, type TokenServer } from './token-server.js';

export type { TokenServer } from './token-server.js';

/** How the registry is reached and authenticated. */
export type RegistryMode = 'http' | 'tls' | 'basic' | 'token';

/** A running test registry. */
export interface TestRegistry {
  mode: RegistryMode;
  /** `127.0.0.1:PORT` */
  host: string;
  /** `http://127.0.0.1:PORT` (http) or `https://127.0.0.1:PORT`. */
  url: string;
  /** Root of the registry's filesystem storage (tests may tamper with blobs here, see {@link registryBlobPath}). */
  dataDir: string;
  /** tls/basic/token: a directory holding only `ca.crt` (usable as `--cert-dir`). */
  certDir?: string;
  /** tls/basic/token: the CA certificate file. */
  caFile?: string;
  /** tls/basic/token: the CA certificate PEM. */
  caPem?: string;
  /** basic/token: a valid user. */
  username?: string;
  /** basic/token: its password. */
  password?: string;
  /** token mode only. */
  tokenServer?: TokenServer;
  /** The registry's stdout/stderr log. */
  logFile: string;
  /** The registry's generated configuration file. */
  configFile: string;
  /** Kills the process and removes its temp dirs (idempotent). */
  stop(): Promise<void>;
}

/** Options of {@link startRegistry}. */
export interface StartRegistryOptions {
  /** `storage.delete.enabled` (default true). */
  deleteEnabled?: boolean;
  /** basic/token: user name (default `ferryuser`). */
  username?: string;
  /** basic/token: password (default random). */
  password?: string;
  /** token: whether anonymous clients get pull-only tokens (default true). */
  allowAnonymous?: boolean;
  /** Milliseconds to wait for `/v2/` to answer (default 15 000). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

const REGISTRY_BIN = '/usr/bin/docker-registry';
const running = new Set<TestRegistry>();
const children = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Returns a port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One GET of `/v2/`; resolves with the status, rejects on connection errors. */
function pingOnce(url: string, ca: string | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const u = new URL('/v2/', url);
    const req = u.protocol === 'https:'
      ? httpsRequest(u, { method: 'GET', ca, timeout: 2000, agent: false })
      : httpRequest(u, { method: 'GET', timeout: 2000, agent: false });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

async function tail(file: string, lines = 30): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Starts a registry in the given mode. Always pair with `stop()` (see {@link useRegistry} for mocha). */
export async function startRegistry(mode: RegistryMode, opts: StartRegistryOptions = {}): Promise<TestRegistry> {
  const dir = await makeTempDir(`registry-${mode}`);
  let tokenServer: TokenServer | undefined;
  try {
    const dataDir = join(dir, 'data');
    await mkdir(dataDir);
    const logFile = join(dir, 'registry.log');
    const configFile = join(dir, 'config.yml');
    const tls = mode !== 'http';
    const pki = tls ? await getTestPki() : undefined;
    let certDir: string | undefined;
    let caFile: string | undefined;
    if (pki) {
      certDir = join(dir, 'certs');
      await mkdir(certDir);
      caFile = join(certDir, 'ca.crt');
      await copyFile(pki.caCert, caFile);
    }
    const withUser = mode === 'basic' || mode === 'token';
    const username = withUser ? (opts.username ?? 'ferryuser') : undefined;
    const password = withUser ? (opts.password ?? `pw${randomBytes(12).toString('base64url')}`) : undefined;

    let auth: Record<string, unknown> | undefined;
    if (mode === 'basic') {
      const htpasswd = join(dir, 'htpasswd');
      const r = await runOk('htpasswd', ['-nBi', '-C', '4', username!], { input: password! });
      await writeFile(htpasswd, r.stdout.trim() + '\n');
      auth = { htpasswd: { realm: 'ferry-test-registry', path: htpasswd } };
    } else if (mode === 'token') {
      tokenServer = await startTokenServer({ users: { [username!]: password! }, allowAnonymous: opts.allowAnonymous });
      auth = {
        token: { realm: tokenServer.realm, service: tokenServer.service, issuer: tokenServer.issuer, rootcertbundle: pki!.caCert },
      };
    }

    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('REGISTRY_')) env[k] = v;
    const deadline = Date.now() + (opts.timeoutMs ?? 15_000);

    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const host = `127.0.0.1:${port}`;
      const url = `${tls ? 'https' : 'http'}://${host}`;
      const config = {
        version: '0.1',
        log: { level: 'info', formatter: 'text', fields: { service: 'registry' } },
        storage: {
          filesystem: { rootdirectory: dataDir },
          delete: { enabled: opts.deleteEnabled ?? true },
          maintenance: { uploadpurging: { enabled: false } },
          cache: {},
        },
        http: {
          addr: host,
          secret: randomBytes(16).toString('hex'),
          headers: { 'X-Content-Type-Options': ['nosniff'] },
          ...(pki ? { tls: { certificate: pki.serverCert, key: pki.serverKey } } : {}),
        },
        ...(auth ? { auth } : {}),
      };
      // JSON is valid YAML; it avoids any quoting issue.
      await writeFile(configFile, JSON.stringify(config, null, 2) + '\n');
      const logFd = openSync(logFile, 'a');
      let child: ChildProcess;
      try {
        child = spawn(REGISTRY_BIN, ['serve', configFile], { stdio: ['ignore', logFd, logFd], env, detached: false });
      } finally {
        closeSync(logFd);
      }
      installExitHook();
      children.add(child);
      let exited = false;
      const exitedP = new Promise<void>((resolve) => child.once('exit', () => { exited = true; children.delete(child); resolve(); }));
      child.once('error', () => { exited = true; });

      let ready = false;
      while (!exited && Date.now() < deadline) {
        if (opts.signal?.aborted) break;
        try {
          const status = await pingOnce(url, pki?.caPem);
          if (status === 200 || status === 401) { ready = true; break; }
        } catch { /* not listening yet */ }
        await sleep(25);
      }
      if (ready) {
        let stopping: Promise<void> | undefined;
        const reg: TestRegistry = {
          mode, host, url, dataDir, certDir, caFile, caPem: pki?.caPem, username, password, tokenServer, logFile, configFile,
          stop() {
            stopping ??= (async () => {
              running.delete(reg);
              if (!exited) {
                child.kill('SIGTERM');
                const killer = setTimeout(() => child.kill('SIGKILL'), 2000);
                await exitedP;
                clearTimeout(killer);
              }
              await tokenServer?.stop();
              await removeDir(dir);
            })();
            return stopping;
          },
        };
        running.add(reg);
        return reg;
      }
      if (!exited) {
        child.kill('SIGKILL');
        await exitedP;
      }
      const log = await tail(logFile);
      if (opts.signal?.aborted) throw new Error('startRegistry aborted');
      if (/address already in use/i.test(log) && attempt < 5 && Date.now() < deadline) continue;
      throw new Error(`docker-registry (${mode}) did not answer on ${url}/v2/ ${exited ? '(process exited)' : '(timeout)'}; log tail:\n${log}`);
    }
  } catch (e) {
    await tokenServer?.stop();
    await removeDir(dir);
    throw e;
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const c of children) c.kill('SIGKILL');
  });
}

/** Stops every registry this process started and has not stopped yet. */
export async function stopAllRegistries(): Promise<void> {
  await Promise.allSettled([...running].map((r) => r.stop()));
}

/**
 * Mocha helper: starts a registry in a `before` hook of the enclosing `describe` and stops it in `after`
 * (also when tests fail). Returns a getter, valid inside tests.
 *
 * ```ts
 * const registry = useRegistry('basic');
 * it('…', async () => { const reg = registry(); … });
 * ```
 */
export function useRegistry(mode: RegistryMode, opts?: StartRegistryOptions): () => TestRegistry {
  let reg: TestRegistry | undefined;
  before(async function () {
    this.timeout(30_000);
    reg = await startRegistry(mode, opts);
  });
  after(async function () {
    this.timeout(30_000);
    await reg?.stop();
    reg = undefined;
  });
  return () => {
    if (!reg) throw new Error(`the ${mode} test registry is not running (use the getter inside tests)`);
    return reg;
  };
}

/** Path of a blob's data file in the registry's filesystem storage (for tampering tests). */
export function registryBlobPath(reg: TestRegistry, digest: string): string {
  const [alg, hex] = digest.split(':') as [string, string];
  return join(reg.dataDir, 'docker', 'registry', 'v2', 'blobs', alg, hex.slice(0, 2), hex, 'data');
}

/** Path of a repository's directory in the registry's filesystem storage. */
export function registryRepoPath(reg: TestRegistry, repo: string): string {
  return join(reg.dataDir, 'docker', 'registry', 'v2', 'repositories', repo);
}

/** One request as a registry's access log records it (`"METHOD PATH HTTP/1.1" STATUS`). */
export interface LoggedRequest {
  method: string;
  path: string;
  status: number;
}

/** Where `reg`'s log ends now: pass it to {@link loggedRequests} to see only the requests made after this point. */
export async function logMark(reg: TestRegistry): Promise<number> {
  return (await readFile(reg.logFile)).length;
}

/** Every request `reg` logged from byte `from` of its log on (see {@link logMark}). */
export async function loggedRequests(reg: TestRegistry, from = 0): Promise<LoggedRequest[]> {
  const log = (await readFile(reg.logFile)).subarray(from).toString('utf8');
  const out: LoggedRequest[] = [];
  for (const m of log.matchAll(/"(GET|HEAD|PUT|POST|PATCH|DELETE) (\S+) HTTP\/[\d.]+" (\d{3})/g)) out.push({ method: m[1]!, path: m[2]!, status: Number(m[3]) });
  return out;
}
