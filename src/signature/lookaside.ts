/**
 * Lookaside storage of simple signatures (containers-registries.d(5)): signature N of a manifest lives at
 * `BASE/NS/REPO@ALGO=HEX/signature-N` (the repository path without the registry host), N counting from 1. Reading
 * goes on until the first missing one (ENOENT for `file://`, 404 over `http://` and `https://`); writing is to
 * `file://` only, and removes stale signatures numbered after the new ones, as containers/image does.
 *
 * Reads are bounded (4 MiB a signature, 128 signatures) and HTTP requests carry no credentials: the lookaside
 * host is not the registry.
 */
import { lstat, mkdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import { FerryError, ErrorCode } from '../errors.js';
import { discard, leaseAgent, readBody, send } from '../registry/http.js';
import { tlsSettingsFor } from '../registry/certs.js';
import type { OpOptions, SystemContext } from '../types/context.js';
import { writeFileAtomic } from '../util/atomic.js';
import { readRegularFile } from '../util/bounded-read.js';
import { checkReplaceable } from '../util/replaceable.js';
import { parseDigest } from '../util/digest.js';

/** The largest signature read (containers/image: 4 MiB). */
export const MAX_SIGNATURE_SIZE = 4 * 1024 * 1024;
/** More signatures than this for one manifest is taken as a server error, as containers/image does. */
export const MAX_LOOKASIDE_SIGNATURES = 128;

function sigError(message: string, cause?: unknown): FerryError {
  return new FerryError(ErrorCode.Signature, message, cause === undefined ? undefined : { cause });
}

/**
 * The URL of signature `index` (zero-based) of `manifestDigest` in repository `repoPath` under `base`.
 * @throws FerryError(E_CONFIG) for a base that is not a URL.
 */
export function lookasideURL(base: string, repoPath: string, manifestDigest: string, index: number): URL {
  const { algorithm, hex } = parseDigest(manifestDigest);
  let u: URL;
  try {
    u = new URL(base);
  } catch (e) {
    throw new FerryError(ErrorCode.Config, `invalid lookaside URL ${JSON.stringify(base)}`, { cause: e });
  }
  u.pathname = `${u.pathname.replace(/\/+$/, '')}/${repoPath}@${algorithm}=${hex}/signature-${index + 1}`;
  return u;
}

/** The local path of a `file:` URL (Go's url.Path: the decoded path, the host ignored). */
function filePath(u: URL): string {
  return decodeURIComponent(u.pathname);
}

/**
 * Reads one local signature; undefined when it does not exist. Anything but a regular file (a FIFO is never waited
 * for) and a signature over {@link MAX_SIGNATURE_SIZE} are E_SIGNATURE: they reject the image.
 */
async function readFileSignature(file: string, signal?: AbortSignal): Promise<Buffer | undefined> {
  try {
    return await readRegularFile(file, { what: `signature ${file}`, limit: MAX_SIGNATURE_SIZE, signal, code: ErrorCode.Signature });
  } catch (e) {
    if (e instanceof FerryError) throw e;
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw sigError(`reading signature ${file}: ${(e as Error).message}`, e);
  }
}

/** Reads one signature over HTTP(S) without credentials; undefined on 404. */
async function readHttpSignature(u: URL, ctx: SystemContext, signal?: AbortSignal): Promise<Buffer | undefined> {
  const what = `reading signature from ${u.href}`;
  const tls = await tlsSettingsFor(u.host, ctx, false);
  const lease = leaseAgent(u.host, tls);
  try {
    let res;
    try {
      res = await send(lease.agent, { method: 'GET', url: u, signal });
    } catch (e) {
      if (signal?.aborted) throw new FerryError(ErrorCode.Aborted, `${what}: aborted`, { cause: e });
      throw new FerryError(ErrorCode.Network, `${what}: ${(e as Error).message}`, { cause: e });
    }
    if (res.status === 404) {
      await discard(res);
      return undefined;
    }
    if (res.status !== 200) {
      await discard(res);
      throw sigError(`${what}: status ${res.status}`);
    }
    return await readBody(res, MAX_SIGNATURE_SIZE, () => sigError(`${what}: larger than ${MAX_SIGNATURE_SIZE} bytes`));
  } finally {
    await lease.release();
  }
}

/**
 * The signatures stored for `manifestDigest` of repository `repoPath` under `base`, in their storage form, in order.
 * @throws FerryError(E_SIGNATURE) for an unreadable or oversized signature, a server error, more than
 *   {@link MAX_LOOKASIDE_SIGNATURES} signatures or an unsupported URL scheme; E_NETWORK when the host cannot be reached.
 */
export async function readLookasideSignatures(base: string, repoPath: string, manifestDigest: string, ctx: SystemContext, opts: OpOptions = {}): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (let i = 0; ; i++) {
    const u = lookasideURL(base, repoPath, manifestDigest, i);
    if (i >= MAX_LOOKASIDE_SIGNATURES) throw sigError(`lookaside ${base} holds more than ${MAX_LOOKASIDE_SIGNATURES} signatures for ${manifestDigest}: refusing to read more`);
    let sig: Buffer | undefined;
    if (u.protocol === 'file:') sig = await readFileSignature(filePath(u), opts.signal);
    else if (u.protocol === 'http:' || u.protocol === 'https:') sig = await readHttpSignature(u, ctx, opts.signal);
    else throw sigError(`reading signatures from ${u.protocol}// lookaside ${base} is not supported`);
    if (sig === undefined) return out;
    out.push(sig);
  }
}

/**
 * Checks that signatures can be written under `base` (a `file://` URL).
 * @throws FerryError(E_UNSUPPORTED) naming the fix otherwise.
 */
export function checkLookasideWritable(base: string): void {
  let protocol: string;
  try {
    protocol = new URL(base).protocol;
  } catch (e) {
    throw new FerryError(ErrorCode.Config, `invalid lookaside URL ${JSON.stringify(base)}`, { cause: e });
  }
  if (protocol !== 'file:') {
    throw new FerryError(
      ErrorCode.Unsupported,
      `writing signatures to the ${protocol}// lookaside ${base} is not supported: configure a file:// lookaside-staging in registries.d`,
    );
  }
}

/**
 * Stores `signatures` (storage form) for `manifestDigest` of `repoPath` under the `file://` URL `base`, as
 * `signature-1…N`, and removes any `signature-(N+1)…` left from before. Writing nothing leaves the lookaside as it is.
 * @throws FerryError(E_UNSUPPORTED) for a base that is not `file://`; E_SIGNATURE / E_IO for write failures.
 */
export async function writeLookasideSignatures(base: string, repoPath: string, manifestDigest: string, signatures: Buffer[], opts: OpOptions = {}): Promise<void> {
  if (signatures.length === 0) return;
  checkLookasideWritable(base);
  const first = lookasideURL(base, repoPath, manifestDigest, 0);
  const dir = path.dirname(filePath(first));
  try {
    await mkdir(dir, { recursive: true, mode: 0o755 });
  } catch (e) {
    throw new FerryError(ErrorCode.Io, `creating lookaside directory ${dir}: ${(e as Error).message}`, { cause: e });
  }
  for (const [i, sig] of signatures.entries()) {
    const file = filePath(lookasideURL(base, repoPath, manifestDigest, i));
    await checkReplaceable(file, `signature ${file}`, { code: ErrorCode.Signature });
    try {
      await writeFileAtomic(file, sig, { signal: opts.signal, mode: 0o644 });
    } catch (e) {
      if (e instanceof FerryError) throw e;
      throw new FerryError(ErrorCode.Io, `writing signature ${file}: ${(e as Error).message}`, { cause: e });
    }
  }
  for (let i = signatures.length; i < signatures.length + MAX_LOOKASIDE_SIGNATURES; i++) {
    const file = filePath(lookasideURL(base, repoPath, manifestDigest, i));
    try {
      const st = await lstat(file);
      if (!st.isFile()) break;
      await unlink(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') break;
      throw new FerryError(ErrorCode.Io, `removing stale signature ${file}: ${(e as Error).message}`, { cause: e });
    }
  }
}
