/**
 * TLS settings for one registry endpoint: `--cert-dir` or the certs.d lookup, CA files added to the system roots,
 * client certificate pairs, and whether verification is skipped.
 */
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import { FerryError, ErrorCode } from '../errors.js';
import type { SystemContext } from '../types/context.js';
import { memoizedPerContext } from '../util/context-memo.js';
import { environmentCAs } from './env-cas.js';
import { readBoundedFile } from '../util/bounded-read.js';

/** Everything an HTTPS connection to one endpoint needs; `key` identifies equal settings (agent reuse). */
export interface TlsSettings {
  /** Extra CA certificates (PEM), added to the system roots. */
  extraCAs: string[];
  /**
   * With extra CAs, those of NODE_EXTRA_CA_CERTS (see env-cas.ts), which the explicit CA list would otherwise leave
   * out; empty without (Node's default CAs, used then, hold them).
   */
  environmentCAs: string[];
  /** Client certificate and key (PEM), if configured. */
  cert?: string;
  key?: string;
  /** False skips certificate verification (and allows plain HTTP at the client level). */
  verify: boolean;
  /** Stable identity of these settings. */
  id: string;
  /** The folder the certificates came from, if any. */
  dir?: string;
}

/** Largest CA bundle, client certificate or key read from a certificates folder (a system CA bundle is under 1 MiB). */
const MAX_CERT_FILE = 4 * 1024 * 1024;

/** Folders searched for `host[:port]` when there is no `--cert-dir`. */
export function certsDirs(ctx: SystemContext): string[] {
  return [join(ctx.homeDir ?? homedir(), '.config/containers/certs.d'), '/etc/containers/certs.d', '/etc/docker/certs.d'];
}

async function listDir(dir: string): Promise<string[] | undefined> {
  try {
    return (await readdir(dir)).sort();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new FerryError(ErrorCode.Config, `reading certificates folder ${dir}: ${(e as Error).message}`, { cause: e });
  }
}

/** Reads a certificates folder: `*.crt` CAs, `*.cert` + `*.key` client pairs (one without the other is an error). */
export async function readCertDir(dir: string, files?: string[]): Promise<{ extraCAs: string[]; cert?: string; key?: string }> {
  const names = files ?? (await listDir(dir));
  if (!names) throw new FerryError(ErrorCode.Config, `certificates folder ${dir} does not exist`);
  const read = async (f: string) => {
    try {
      return (await readBoundedFile(join(dir, f), { limit: MAX_CERT_FILE, regularFile: true })).toString('utf8');
    } catch (e) {
      if (e instanceof FerryError) throw e;
      throw new FerryError(ErrorCode.Config, `reading ${join(dir, f)}: ${(e as Error).message}`, { cause: e });
    }
  };
  const extraCAs: string[] = [];
  let cert: string | undefined;
  let key: string | undefined;
  for (const f of names) {
    if (f.endsWith('.crt')) extraCAs.push(await read(f));
    else if (f.endsWith('.cert')) {
      const keyName = f.slice(0, -'.cert'.length) + '.key';
      if (!names.includes(keyName)) throw new FerryError(ErrorCode.Config, `missing key ${keyName} for client certificate ${join(dir, f)}`);
      if (cert === undefined) {
        cert = await read(f);
        key = await read(keyName);
      }
    } else if (f.endsWith('.key')) {
      const certName = f.slice(0, -'.key'.length) + '.cert';
      if (!names.includes(certName)) throw new FerryError(ErrorCode.Config, `missing client certificate ${certName} for key ${join(dir, f)}`);
    }
  }
  return { extraCAs, cert, key };
}

/**
 * TLS settings for `hostPort`: `ctx.certDir` if given, else the first of `<certs.d>/<host:port>` then `<certs.d>/<host>`
 * that exists in {@link certsDirs}. Verification is skipped when `ctx.tlsVerify === false`, or when `insecure`
 * (registries.conf) and `ctx.tlsVerify` is not explicitly true.
 */
export async function tlsSettingsFor(hostPort: string, ctx: SystemContext, insecure: boolean): Promise<TlsSettings> {
  const verify = ctx.tlsVerify !== undefined ? ctx.tlsVerify : !insecure;
  let dir: string | undefined;
  let files: string[] | undefined;
  if (ctx.certDir) {
    dir = ctx.certDir;
  } else {
    const host = hostPort.replace(/:\d+$/, '');
    const candidates = host !== hostPort ? [hostPort, host] : [hostPort];
    search: for (const base of certsDirs(ctx)) {
      for (const c of candidates) {
        const l = await listDir(join(base, c));
        if (l) {
          dir = join(base, c);
          files = l;
          break search;
        }
      }
    }
  }
  const fromDir = dir ? await readCertDir(dir, files) : { extraCAs: [] };
  const loaded = { ...fromDir, environmentCAs: fromDir.extraCAs.length > 0 ? await environmentCAs() : [] };
  const h = createHash('sha256');
  h.update(verify ? 'verify\0' : 'noverify\0');
  for (const ca of [...loaded.environmentCAs, ...loaded.extraCAs]) h.update(ca).update('\0');
  h.update(loaded.cert ?? '').update('\0').update(loaded.key ?? '');
  return { ...loaded, verify, id: h.digest('hex').slice(0, 32), dir };
}

/** {@link tlsSettingsFor}, read once per `ctx` and host (every client of one command shares the result). */
export function tlsSettingsOnce(hostPort: string, ctx: SystemContext, insecure: boolean): Promise<TlsSettings> {
  const key = `tls\0${hostPort}\0${insecure}\0${ctx.tlsVerify}\0${ctx.certDir ?? ''}\0${ctx.homeDir ?? ''}`;
  return memoizedPerContext(ctx, key, () => tlsSettingsFor(hostPort, ctx, insecure));
}

/** Node `tls.connect` options for these settings (see {@link connectOptions}). */
export interface ConnectOptions {
  /** The context every connection of the pool shares (absent when the settings cannot make one). */
  secureContext?: SecureContext;
  /** Given instead of `secureContext` only when making one failed: each connection then fails with the same error. */
  ca?: string[];
  cert?: string;
  key?: string;
  rejectUnauthorized: boolean;
}

/** The options Node's `tls.createSecureContext` is given for `t`: the CAs, the client pair. */
export function secureContextOptions(t: TlsSettings): { ca?: string[]; cert?: string; key?: string } {
  return {
    // Without verification no CA is consulted: an empty list keeps Node from loading its bundled roots into the
    // connection's context (costly the first time in a process) only to ignore them.
    ...(!t.verify ? { ca: [] } : t.extraCAs.length ? { ca: [...rootCertificates, ...t.environmentCAs, ...t.extraCAs] } : {}),
    ...(t.cert ? { cert: t.cert, key: t.key } : {}),
  };
}

/**
 * Node `tls.connect` options for these settings (the extra CAs — those of NODE_EXTRA_CA_CERTS, see env-cas.ts,
 * and the certificates folder's — appended to the bundled roots), for one connection pool: they carry one secure
 * context that every connection of the pool shares. Given the CA list instead, Node makes a new context for each
 * connection, parsing the bundled roots again each time (a large share of a TLS connection's CPU time).
 */
export function connectOptions(t: TlsSettings): ConnectOptions {
  const options = secureContextOptions(t);
  try {
    return { secureContext: createSecureContext(options), rejectUnauthorized: t.verify };
  } catch {
    // a client pair Node cannot load: every connection reports it (as a TLS error naming the registry)
    return { ...options, rejectUnauthorized: t.verify };
  }
}
