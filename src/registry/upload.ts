/**
 * Blob writes to a registry (distribution spec "push"): existence checks, cross-repository mounts and uploads.
 *
 * Uploads stream the body, never buffering the blob:
 * - **monolithic** (default, digest known): `POST /blobs/uploads/` → `PUT <location>?digest=` with the stream as body
 *   (`Content-Length` when the size is known);
 * - **streamed** (digest unknown, e.g. a layer being recompressed): one `PATCH` with the stream, then
 *   `PUT ?digest=<computed>` without a body;
 * - **chunked** (size above `chunkThreshold`, or `chunkSize` forced): `PATCH` with `Content-Range` per chunk (only
 *   one chunk is held in memory; at least the registry's `OCI-Chunk-Min-Length`), following each `Location` and
 *   checking each `Range` answer; a chunk cut by a transient failure is resumed from the offset the registry reports.
 *
 * A mount the registry answers 202 opens an ordinary upload session (distribution spec): the caller may keep it and
 * upload through it instead of the `POST` above, and must cancel it when it does not.
 *
 * Digest and size are verified while the body streams ({@link VerifyingStream}); on any failure the upload session is
 * cancelled (`DELETE <location>`) and the error thrown — a verification failure in preference to what the registry
 * said about the broken request. A one-shot body cannot be re-sent: whether the caller may retry with a fresh stream
 * is told by {@link isRetryableUpload}.
 */
import type { Readable } from 'node:stream';
import { ErrorCode, FerryError, digestMismatch } from '../errors.js';
import type { OpOptions } from '../types/context.js';
import { parseDigest } from '../util/digest.js';
import { SizeCheckingStream } from '../util/size-check-stream.js';
import { VerifyingStream } from '../util/verify-stream.js';
import { RegistryClient, RegistryClient as Client } from './client.js';
import { discard, header, type HttpResponse } from './http.js';
import { isRetryable, sleep, retryDelay } from '../util/retry.js';

/** Default size above which uploads are chunked (known sizes only). */
export const DEFAULT_CHUNK_THRESHOLD = 1024 * 1024 * 1024;
/** Default chunk size of chunked uploads. */
export const DEFAULT_CHUNK_SIZE = 32 * 1024 * 1024;

/** How uploads are done. */
export interface UploadSettings {
  /**
   * The digest and size the caller verified the bytes against already (`PutBlobOptions.verifiedUpstream`): with
   * the blob's own digest and size, bytes are counted but not hashed again (the registry checks the digest too).
   */
  verifiedUpstream?: { readonly digest: string; readonly size: number };
  /** Forces chunked uploads with chunks of this many bytes (tests; registries with request size limits). */
  chunkSize?: number;
  /** Blobs of a known size above this are uploaded in chunks of `chunkSize` (default 1 GiB, chunks of 32 MiB). */
  chunkThreshold?: number;
  /**
   * An upload session already open in the client's repository (the 202 answer to a mount, {@link mountBlob}) to send
   * the blob through instead of starting one; the upload owns it from then on (cancelled on failure like its own).
   */
  session?: UploadSession;
}

/** What an upload did. */
export interface UploadResult {
  digest: string;
  size: number;
  /** `monolithic`, `streamed` or `chunked`. */
  method: 'monolithic' | 'streamed' | 'chunked';
}

/** Whether a failed upload may succeed if done again with a fresh stream of the same blob (network, 429, 5xx). */
export function isRetryableUpload(e: unknown): boolean {
  return isRetryable(e);
}

const what = (client: RegistryClient, digest?: string) =>
  `docker://${client.registry}/${client.repository}${digest ? `@${digest}` : ''}: uploading blob`;

/**
 * HEADs a blob in the client's repository: its size (-1 if the registry sent none) if it exists, else undefined.
 * @throws E_UNAUTHORIZED / E_DENIED / E_REGISTRY for other answers.
 */
export async function blobSize(client: RegistryClient, digest: string, opts: OpOptions = {}): Promise<number | undefined> {
  parseDigest(digest);
  // skopeo's words: the message names the repository, and which blob was being checked
  const w = `checking whether a blob ${digest} exists in ${client.registry}/${client.repository}`;
  const res = await client.request({ method: 'HEAD', path: `blobs/${digest}`, signal: opts.signal, what: w });
  await discard(res);
  if (res.status === 404) return undefined;
  if (res.status !== 200) throw await Client.errorFrom(w, res);
  const len = Number(header(res, 'content-length'));
  return Number.isSafeInteger(len) && header(res, 'content-length') !== undefined ? len : -1;
}

/** The absolute upload URL named by a `Location` answer (relative ones resolve against the request URL). */
function locationOf(res: HttpResponse, w: string): string {
  const loc = header(res, 'location');
  if (!loc) throw new FerryError(ErrorCode.Registry, `${w}: the registry sent no upload Location`);
  return new URL(loc, res.url).href;
}

function withDigest(location: string, digest: string): string {
  const u = new URL(location);
  u.searchParams.set('digest', digest);
  return u.href;
}

/** Cancels an upload session (best effort). */
async function cancel(client: RegistryClient, location: string | undefined): Promise<void> {
  if (!location) return;
  try {
    const res = await client.request({ method: 'DELETE', path: location, retry: false });
    await discard(res);
  } catch {
    // the registry purges abandoned uploads on its own
  }
}

/**
 * An upload session the registry opened: where the blob's bytes go (absolute URL) and the registry's minimum chunk
 * length (0 if it names none). Whoever holds one either uploads through it ({@link UploadSettings.session}) or
 * cancels it ({@link cancelUpload}).
 */
export interface UploadSession {
  readonly location: string;
  readonly minChunk: number;
}

/** What {@link mountBlob} did. */
export type MountResult =
  /** The registry mounted the blob (201), or the repository held it already. */
  | { readonly mounted: true }
  /**
   * The registry did not mount it and opened an ordinary upload session instead (202, the distribution spec's
   * answer when the source repository lacks the blob); `session` is undefined when the answer named no Location.
   */
  | { readonly mounted: false; readonly session?: UploadSession };

/**
 * Mounts `digest` from repository `from` of the same registry. A 202 answer opens an upload session: with
 * `keepSession` it is returned for the caller to upload through or cancel, else it is cancelled here.
 * @throws E_UNAUTHORIZED / E_DENIED / E_REGISTRY when the registry refuses the mount.
 */
export async function mountBlob(client: RegistryClient, digest: string, from: string, opts: OpOptions & { keepSession?: boolean } = {}): Promise<MountResult> {
  parseDigest(digest);
  const w = `docker://${client.registry}/${client.repository}: mounting ${digest} from ${from}`;
  const res = await client.request({
    method: 'POST',
    path: `blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`,
    headers: { 'content-length': '0' },
    extraScopes: [`repository:${from}:pull`],
    signal: opts.signal,
    what: w,
  });
  if (res.status === 201) {
    await discard(res);
    return { mounted: true };
  }
  if (res.status === 202) {
    await discard(res);
    const session = header(res, 'location') ? sessionOf(res, w) : undefined;
    if (session === undefined || opts.keepSession) return { mounted: false, ...(session ? { session } : {}) };
    await cancelUpload(client, session);
    return { mounted: false };
  }
  throw await Client.errorFrom(w, res);
}

/** The session a 202 answer opened (its Location and `OCI-Chunk-Min-Length`). */
function sessionOf(res: HttpResponse, w: string): UploadSession {
  const min = Number(header(res, 'oci-chunk-min-length'));
  return { location: locationOf(res, w), minChunk: Number.isSafeInteger(min) && min > 0 ? min : 0 };
}

/** Cancels an upload session nobody will upload through (`DELETE <location>`, best effort; never throws). */
export function cancelUpload(client: RegistryClient, session: UploadSession): Promise<void> {
  return cancel(client, session.location);
}

/** Starts an upload session. */
async function startUpload(client: RegistryClient, w: string, opts: OpOptions): Promise<UploadSession> {
  const res = await client.request({ method: 'POST', path: 'blobs/uploads/', headers: { 'content-length': '0' }, signal: opts.signal, what: w });
  if (res.status !== 202) throw await Client.errorFrom(w, res);
  await discard(res);
  return sessionOf(res, w);
}

/** Checks the `Docker-Content-Digest` of a completed upload. */
function checkDigestHeader(res: HttpResponse, digest: string, w: string): void {
  const got = header(res, 'docker-content-digest')?.trim();
  if (got && got !== digest) throw digestMismatch(`${w}: the registry stored a different blob`, digest, got);
}

/** The end offset (exclusive) a `Range: 0-N` answer reports, or undefined. */
function rangeEnd(res: HttpResponse): number | undefined {
  const m = /^(?:bytes=)?0-(\d+)$/.exec(header(res, 'range')?.trim() ?? '');
  return m ? Number(m[1]) + 1 : undefined;
}

/**
 * Uploads a blob from `stream` to the client's repository (which must have been opened with the `push` action).
 * `digest` may be '' when unknown (it is computed while streaming); `size` -1 when unknown.
 * @throws E_DIGEST_MISMATCH / E_SIZE_MISMATCH (nothing is left on the registry), E_NETWORK / E_REGISTRY (see
 *   {@link isRetryableUpload}), E_ABORTED.
 */
export async function uploadBlob(
  client: RegistryClient,
  stream: Readable,
  info: { digest: string; size: number },
  opts: OpOptions & UploadSettings = {},
): Promise<UploadResult> {
  const w = what(client, info.digest || undefined);
  const up = opts.verifiedUpstream;
  let verifier: SizeCheckingStream | VerifyingStream;
  try {
    verifier =
      info.digest && up !== undefined && up.digest === info.digest && up.size === info.size && info.size >= 0
        ? new SizeCheckingStream(up, `blob ${info.digest}`)
        : new VerifyingStream({ digest: info.digest || undefined, size: info.size, what: `blob ${info.digest || '(being computed)'}` });
  } catch (e) {
    await cancel(client, opts.session?.location);
    throw e;
  }
  let streamError: unknown;
  verifier.on('error', (e) => {
    streamError ??= e;
    if (!stream.destroyed) stream.destroy();
  });
  stream.on('error', (e) => {
    streamError ??= e;
    verifier.destroy(e);
  });
  let location: string | undefined = opts.session?.location;
  try {
    const started = opts.session ?? (await startUpload(client, w, opts));
    location = started.location;
    const threshold = opts.chunkThreshold ?? DEFAULT_CHUNK_THRESHOLD;
    const chunked = opts.chunkSize !== undefined || (info.size >= 0 && info.size > threshold);
    stream.pipe(verifier);
    let result: UploadResult;
    if (chunked) {
      const chunkSize = Math.max(opts.chunkSize ?? DEFAULT_CHUNK_SIZE, started.minChunk, 1);
      location = await uploadChunks(client, verifier, location, chunkSize, info.size, w, opts, (l) => (location = l));
      result = { digest: verifier.digest!, size: verifier.bytes, method: 'chunked' };
    } else if (!info.digest) {
      const res = await client.request({
        method: 'PATCH',
        path: location,
        headers: { 'content-type': 'application/octet-stream' },
        body: verifier,
        retry: false,
        signal: opts.signal,
        what: w,
      });
      if (res.status !== 202) throw await Client.errorFrom(w, res);
      await discard(res);
      if (streamError) throw streamError;
      location = locationOf(res, w);
      result = { digest: verifier.digest!, size: verifier.bytes, method: 'streamed' };
    } else {
      const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
      if (info.size >= 0) headers['content-length'] = String(info.size);
      const res = await client.request({ method: 'PUT', path: withDigest(location, info.digest), headers, body: verifier, retry: false, signal: opts.signal, what: w });
      if (streamError) {
        await discard(res);
        throw streamError;
      }
      if (res.status !== 201) throw await Client.errorFrom(w, res);
      await discard(res);
      checkDigestHeader(res, info.digest, w);
      return { digest: info.digest, size: verifier.bytes, method: 'monolithic' };
    }
    if (verifier.digest === undefined) throw new FerryError(ErrorCode.Registry, `${w}: the blob stream ended early`);
    const res = await client.request({ method: 'PUT', path: withDigest(location, result.digest), headers: { 'content-length': '0' }, signal: opts.signal, what: w });
    if (res.status !== 201) throw await Client.errorFrom(w, res);
    await discard(res);
    checkDigestHeader(res, result.digest, w);
    return result;
  } catch (e) {
    if (!verifier.destroyed) verifier.destroy();
    if (!stream.destroyed) stream.destroy();
    await cancel(client, location);
    if (streamError instanceof FerryError) throw streamError;
    if (opts.signal?.aborted) throw new FerryError(ErrorCode.Aborted, `${w}: aborted`, { cause: e });
    throw streamError ?? e;
  }
}

/**
 * Sends `verifier`'s bytes in PATCH requests of `chunkSize` bytes (the last one shorter); returns the last Location.
 * A chunk cut by a transient failure is resumed from the offset the registry reports (`GET <location>` → `Range`).
 * The chunks are gathered in two buffers used in turn, no bigger than the blob when its size is known: one is sent
 * while the next is filled, so reading the source and sending overlap, and at most two chunks are held.
 */
async function uploadChunks(
  client: RegistryClient,
  verifier: VerifyingStream | SizeCheckingStream,
  location: string,
  chunkSize: number,
  size: number,
  w: string,
  opts: OpOptions,
  setLocation: (l: string) => void,
): Promise<string> {
  let offset = 0;
  // A wrong size fails in the verifier; until then a full buffer is sent as a chunk like any other.
  const cap = Math.max(1, size >= 0 ? Math.min(chunkSize, size) : chunkSize);
  const bufs: Buffer[] = [Buffer.allocUnsafe(cap)];
  let buf = bufs[0]!;
  let held = 0;
  /** The chunk being sent (PATCHes go one after the other: each follows the Location the previous one returned). */
  let sending: Promise<void> | undefined;
  const send = async (chunk: Buffer) => {
    await sending;
    const next = (async () => {
      location = await sendChunk(client, location, chunk, offset, w, opts);
      setLocation(location);
      offset += chunk.length;
    })();
    // awaited before the next chunk is sent, or at the end; a failure meanwhile is not unhandled
    next.catch(() => undefined);
    sending = next;
  };
  try {
    for await (const c of verifier) {
      let data = c as Buffer;
      while (data.length > 0) {
        const n = data.copy(buf, held);
        held += n;
        data = data.subarray(n);
        if (held === buf.length) {
          await send(buf);
          // the other buffer: free, since its chunk was sent before this one started
          buf = buf === bufs[0] ? (bufs[1] ??= Buffer.allocUnsafe(cap)) : bufs[0]!;
          held = 0;
        }
      }
    }
    if (held > 0) await send(buf.subarray(0, held));
  } catch (e) {
    // the source failed: let the chunk on its way settle before the caller cancels the session
    await sending?.catch(() => undefined);
    throw e;
  }
  await sending;
  return location;
}

/** PATCHes bytes `[start, start+chunk.length)`; on a transient failure asks the registry where it is and resumes. */
async function sendChunk(client: RegistryClient, location: string, chunk: Buffer, start: number, w: string, opts: OpOptions): Promise<string> {
  let sent = 0;
  for (let attempt = 0; ; attempt++) {
    const part = chunk.subarray(sent);
    const from = start + sent;
    try {
      const res = await client.request({
        method: 'PATCH',
        path: location,
        headers: {
          'content-type': 'application/octet-stream',
          'content-range': `${from}-${from + part.length - 1}`,
          'content-length': String(part.length),
        },
        body: part,
        retry: false,
        signal: opts.signal,
        what: w,
      });
      if (res.status !== 202) throw await Client.errorFrom(w, res);
      await discard(res);
      const end = rangeEnd(res);
      if (end !== undefined && end !== from + part.length) {
        throw new FerryError(ErrorCode.Registry, `${w}: the registry holds ${end} bytes after a chunk ending at ${from + part.length}`);
      }
      return locationOf(res, w);
    } catch (e) {
      if (opts.signal?.aborted || !isRetryable(e) || attempt >= 3) throw e;
      const delay = retryDelay(attempt, e, { baseDelayMs: 200 });
      if (delay === undefined) throw e;
      await sleep(delay, opts.signal);
      const status = await uploadStatus(client, location, w, opts);
      location = status.location;
      const have = status.end - start;
      if (have < 0 || have > chunk.length) throw e;
      sent = have;
      if (sent === chunk.length) return location;
    }
  }
}

/** `GET <location>`: how many bytes the registry holds (exclusive end) and the session's current Location. */
async function uploadStatus(client: RegistryClient, location: string, w: string, opts: OpOptions): Promise<{ end: number; location: string }> {
  const res = await client.request({ method: 'GET', path: location, signal: opts.signal, what: w });
  if (res.status !== 204 && res.status !== 202 && res.status !== 200) throw await Client.errorFrom(w, res);
  await discard(res);
  const range = header(res, 'range')?.trim();
  // distribution answers "0-0" for both 0 and 1 bytes; treat it as 0 (re-sending one byte is harmless only at 0).
  const end = range === '0-0' || range === undefined ? 0 : (rangeEnd(res) ?? 0);
  return { end, location: header(res, 'location') ? locationOf(res, w) : location };
}
