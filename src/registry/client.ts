/**
 * The distribution (registry API v2) client for one repository: manifests, blobs and tags, over the endpoints
 * registries.conf gives (mirrors first for pulls, then the primary location).
 */
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { ErrorCode, FerryError, RegistryError, digestMismatch } from '../errors.js';
import { SUPPORTED_MANIFEST_TYPES } from '../manifest/media-types.js';
import { guessManifestMediaType } from '../manifest/guess.js';
import { manifestDigest } from '../manifest/manifest-digest.js';
import type { SystemContext, OpOptions } from '../types/context.js';
import { digestOf, isDigest, parseDigest } from '../util/digest.js';
import { repositoryScope } from './auth.js';
import { Endpoint, type EndpointSpec } from './endpoint.js';
import { responseError, transportError } from './errors.js';
import { discard, header, readBody, readErrorText, type HttpRequest, type HttpResponse } from './http.js';
import { withRetry } from '../util/retry.js';
import { registriesConfFor, primarySource, pullSources, type PullSource, type RegistriesConf } from '../config/registries-conf.js';

/** What a client will do with the repository (decides token scopes and whether mirrors apply). */
export type Action = 'pull' | 'push' | 'delete';

/** Largest manifest accepted (hostile registries could otherwise make us buffer anything). */
export const MAX_MANIFEST_SIZE = 4 * 1024 * 1024;
/** Largest tag-list page accepted. */
const MAX_TAGS_PAGE_SIZE = 16 * 1024 * 1024;
/** Most tag-list pages followed. */
const MAX_TAG_PAGES = 10_000;
/** Most bytes of tag-list pages read for one listing, over all its pages (the list is held in memory). */
const MAX_TAGS_TOTAL_SIZE = 64 * 1024 * 1024;

/** Options of {@link RegistryClient.open}. */
export interface RegistryClientOptions {
  /** Registry as in the reference (`docker.io`, `quay.io`, `127.0.0.1:5000`). */
  registry: string;
  /** Repository path (`library/busybox`). */
  repository: string;
  ctx: SystemContext;
  /** Default `['pull']`. Mirrors and location rewrites apply only to pull-only clients. */
  actions?: Action[];
}

/** A low-level request (see {@link RegistryClient.request}). */
export interface ClientRequest extends OpOptions {
  method: HttpRequest['method'];
  /** Below `/v2/<repository>/` (e.g. `blobs/uploads/`), or absolute from the origin if it starts with `/`, or a full URL on the same origin. */
  path: string;
  headers?: Record<string, string>;
  body?: HttpRequest['body'];
  /** Scopes needed besides this repository's (e.g. `repository:other/repo:pull` for a cross-repository mount). */
  extraScopes?: string[];
  /** The only scopes the request needs, instead of this repository's (`registry:catalog:*` for the catalog). */
  scopes?: string[];
  /** Names the object in error messages (default: the repository). */
  what?: string;
  followRedirects?: boolean;
  /** Whether transient failures may repeat the request (default true; must be false for a one-shot stream body). */
  retry?: boolean;
}

/** Parses `Link` headers and returns the `rel="next"` target, if any. */
export function nextLink(link: string | string[] | undefined): string | undefined {
  const values = Array.isArray(link) ? link : link ? [link] : [];
  for (const v of values) {
    for (const m of v.matchAll(/<([^>]*)>\s*((?:;\s*[^;,]*)*)/g)) {
      const params = m[2] ?? '';
      if (/;\s*rel\s*=\s*"?([^";]*\s)?next(\s[^";]*)?"?/i.test(params)) return m[1];
    }
  }
  return undefined;
}

/** Whether `bytes` match `digest` (for sha256 also the schema1 payload digest registries compute). */
function manifestMatches(bytes: Buffer, digest: string): boolean {
  const { algorithm } = parseDigest(digest);
  if (digestOf(bytes, algorithm) === digest) return true;
  if (algorithm !== 'sha256') return false;
  try {
    return manifestDigest(bytes) === digest;
  } catch {
    return false;
  }
}

/** Drops the first `skip` bytes, and reports body errors as ferry errors naming `what`. */
class BlobStream extends Transform {
  constructor(private skip: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.skip > 0) {
      if (chunk.length <= this.skip) {
        this.skip -= chunk.length;
        return cb();
      }
      chunk = chunk.subarray(this.skip);
      this.skip = 0;
    }
    cb(null, chunk);
  }
}

function wrapBody(body: Readable, skip: number, what: string, signal?: AbortSignal): Readable {
  const out = new BlobStream(skip);
  body.on('error', (e) => out.destroy(transportError(what, e, signal)));
  out.on('close', () => {
    if (!body.destroyed) body.destroy();
  });
  body.pipe(out);
  return out;
}

/** A client for one repository of one registry. No I/O happens until the first request. */
export class RegistryClient {
  readonly registry: string;
  readonly repository: string;
  private readonly ctx: SystemContext;
  private readonly actions: Action[];
  private conf?: Promise<RegistriesConf>;
  private readonly endpoints = new Map<string, Endpoint>();
  /** The endpoint a manifest was last read from: later blob reads go there first. */
  private pinned?: Endpoint;

  private constructor(opts: RegistryClientOptions) {
    this.registry = opts.registry;
    this.repository = opts.repository;
    this.ctx = opts.ctx;
    this.actions = opts.actions?.length ? [...opts.actions] : ['pull'];
  }

  /**
   * Creates a client; `registry` is the reference domain (`docker.io` is contacted as `registry-1.docker.io`). For
   * pull-only clients registries.conf location rewrites and mirrors apply. No I/O until the first request.
   */
  static open(opts: RegistryClientOptions): RegistryClient {
    return new RegistryClient(opts);
  }

  private get pullOnly(): boolean {
    return this.actions.every((a) => a === 'pull');
  }

  private config(opts: OpOptions): Promise<RegistriesConf> {
    this.conf ??= registriesConfFor(this.ctx, opts).catch((e: unknown) => {
      this.conf = undefined;
      throw e;
    });
    return this.conf;
  }

  private endpointFor(s: PullSource): Endpoint {
    const key = `${s.host}/${s.repository}\0${s.insecure}`;
    let ep = this.endpoints.get(key);
    if (!ep) {
      const spec: EndpointSpec = { host: s.host, repository: s.repository, insecure: s.insecure, mirror: s.mirror };
      ep = new Endpoint(spec, this.ctx);
      this.endpoints.set(key, ep);
    }
    return ep;
  }

  /** Endpoints to read `tagOrDigest` from, in order (blocked registries fail here, before any request). */
  private async sources(byDigest: boolean, opts: OpOptions): Promise<Endpoint[]> {
    const conf = await this.config(opts);
    if (!this.pullOnly) return [this.endpointFor(primarySource(conf, this.registry, this.repository, false))];
    return pullSources(conf, this.registry, this.repository, byDigest).map((s) => this.endpointFor(s));
  }

  /**
   * Where the last manifest (or blob) was read from: the host and repository of the mirror, rewritten location or
   * primary location that answered (registries.conf), as references name them; undefined before any read.
   */
  get readFrom(): { host: string; repository: string } | undefined {
    return this.pinned ? { host: this.pinned.spec.host, repository: this.pinned.spec.repository } : undefined;
  }

  /** The primary endpoint (rewritten location for pull-only clients; the name as given for pushes and deletes). */
  async primary(opts: OpOptions = {}): Promise<Endpoint> {
    const conf = await this.config(opts);
    return this.endpointFor(primarySource(conf, this.registry, this.repository, this.pullOnly));
  }

  private scopes(ep: Endpoint): string[] {
    return [repositoryScope(ep.spec.repository, this.actions)];
  }

  /** `docker://registry/repository[:tag|@digest]`, plus where it was looked for if that differs. */
  private what(ep: Endpoint | undefined, tagOrDigest?: string): string {
    const suffix = tagOrDigest === undefined ? '' : isDigest(tagOrDigest) ? `@${tagOrDigest}` : `:${tagOrDigest}`;
    const logical = `${this.registry}/${this.repository}`;
    const physical = ep ? `${ep.spec.host}/${ep.spec.repository}` : logical;
    return `docker://${logical}${suffix}${physical !== logical ? ` (at ${ep!.spec.mirror ? 'mirror ' : ''}${physical})` : ''}`;
  }

  /**
   * `reading manifest TAG in registry/repository` (or `reading blob DIGEST in …`), skopeo's words for a read, naming the
   * repository as the user wrote it, plus where it was looked for if that differs.
   */
  private reading(ep: Endpoint, kind: 'manifest' | 'blob', tagOrDigest: string): string {
    const logical = `${this.registry}/${this.repository}`;
    const physical = `${ep.spec.host}/${ep.spec.repository}`;
    return `reading ${kind} ${tagOrDigest} in ${logical}${physical !== logical ? ` (at ${ep.spec.mirror ? 'mirror ' : ''}${physical})` : ''}`;
  }

  /** Tries `fn` on each endpoint in order; the first success wins (and is pinned), else the primary's error is thrown. */
  private async firstOf<T>(eps: Endpoint[], fn: (ep: Endpoint) => Promise<T>, signal?: AbortSignal): Promise<T> {
    let lastError: unknown;
    for (const ep of eps) {
      try {
        const r = await fn(ep);
        this.pinned = ep;
        return r;
      } catch (e) {
        if (signal?.aborted || (e instanceof FerryError && e.code === ErrorCode.Aborted)) throw e;
        lastError = e;
      }
    }
    throw lastError;
  }

  /**
   * Checks that the registry answers `/v2/` (on the primary endpoint) and learns how to authenticate.
   * @throws E_NETWORK / E_TLS / E_REGISTRY; E_DENIED for a registry blocked in registries.conf.
   */
  async ping(opts: OpOptions = {}): Promise<void> {
    await (await this.primary(opts)).ping(opts);
  }

  private manifestPath(ep: Endpoint, tagOrDigest: string): string {
    return `/v2/${ep.spec.repository}/manifests/${tagOrDigest}`;
  }

  /**
   * Reads a manifest by tag or digest, sending every supported type in `Accept`. The bytes are verified against the
   * digest when given one, else against `Docker-Content-Digest` if the registry sent it; they are never returned
   * unverified against either. Manifests over 4 MiB are refused.
   * @throws E_NOT_FOUND (404, MANIFEST_UNKNOWN, NAME_UNKNOWN), E_DIGEST_MISMATCH, E_INVALID_MANIFEST (too large).
   */
  async getManifest(tagOrDigest: string, opts: OpOptions = {}): Promise<{ bytes: Buffer; mediaType: string; digest: string }> {
    const byDigest = isDigest(tagOrDigest);
    const eps = await this.sources(byDigest, opts);
    return this.firstOf(eps, (ep) => this.getManifestFrom(ep, tagOrDigest, opts), opts.signal);
  }

  /** Retries the whole read (request and body), so a connection cut mid-body is retried like one cut before it. */
  private retrying<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return withRetry(fn, { retryTimes: this.ctx.retryTimes, retryDelayMs: this.ctx.retryDelayMs, signal });
  }

  private async getManifestFrom(ep: Endpoint, tagOrDigest: string, opts: OpOptions) {
    await ep.ping(opts); // retried on its own: keep it out of the outer retries
    return this.retrying(() => this.getManifestOnce(ep, tagOrDigest, opts), opts.signal);
  }

  private async getManifestOnce(ep: Endpoint, tagOrDigest: string, opts: OpOptions) {
    const what = this.reading(ep, 'manifest', tagOrDigest);
    const res = await ep.request({
      retry: false,
      method: 'GET',
      path: this.manifestPath(ep, tagOrDigest),
      headers: { accept: SUPPORTED_MANIFEST_TYPES.join(', ') },
      scopes: this.scopes(ep),
      what,
      signal: opts.signal,
    });
    if (res.status !== 200) throw responseError(what, res.status, res.headers, await readErrorText(res));
    let bytes: Buffer;
    try {
      bytes = await readBody(res, MAX_MANIFEST_SIZE, () => new FerryError(ErrorCode.InvalidManifest, `${what}: manifest is larger than ${MAX_MANIFEST_SIZE} bytes`));
    } catch (e) {
      throw transportError(what, e, opts.signal);
    }
    const headerDigest = header(res, 'docker-content-digest')?.trim();
    let digest: string;
    if (isDigest(tagOrDigest)) {
      if (!manifestMatches(bytes, tagOrDigest)) throw digestMismatch(what, tagOrDigest, digestOf(bytes, parseDigest(tagOrDigest).algorithm));
      digest = tagOrDigest;
    } else if (headerDigest && isDigest(headerDigest)) {
      if (!manifestMatches(bytes, headerDigest)) {
        throw digestMismatch(`${what}: manifest does not match the Docker-Content-Digest header`, headerDigest, digestOf(bytes, parseDigest(headerDigest).algorithm));
      }
      digest = headerDigest;
    } else {
      digest = manifestDigest(bytes);
    }
    return { bytes, mediaType: this.mediaTypeOf(res, bytes), digest };
  }

  private mediaTypeOf(res: HttpResponse, bytes: Buffer): string {
    const ct = header(res, 'content-type')?.split(';')[0]?.trim().toLowerCase();
    if (ct && SUPPORTED_MANIFEST_TYPES.includes(ct)) return ct;
    return guessManifestMediaType(bytes);
  }

  /**
   * HEADs a manifest: its digest, media type and size, or undefined if it does not exist. Falls back to a GET when the
   * registry sends no `Docker-Content-Digest`.
   */
  async headManifest(tagOrDigest: string, opts: OpOptions = {}): Promise<{ digest: string; mediaType: string; size: number } | undefined> {
    const eps = await this.sources(isDigest(tagOrDigest), opts);
    let found: { digest: string; mediaType: string; size: number } | undefined;
    let lastError: unknown;
    for (const ep of eps) {
      try {
        found = await this.headManifestFrom(ep, tagOrDigest, opts);
        lastError = undefined;
        if (found) {
          this.pinned = ep;
          return found;
        }
      } catch (e) {
        if (opts.signal?.aborted || (e instanceof FerryError && e.code === ErrorCode.Aborted)) throw e;
        lastError = e;
      }
    }
    if (lastError) throw lastError;
    return undefined;
  }

  private async headManifestFrom(ep: Endpoint, tagOrDigest: string, opts: OpOptions) {
    const what = this.what(ep, tagOrDigest);
    const res = await ep.request({
      method: 'HEAD',
      path: this.manifestPath(ep, tagOrDigest),
      headers: { accept: SUPPORTED_MANIFEST_TYPES.join(', ') },
      scopes: this.scopes(ep),
      what,
      signal: opts.signal,
    });
    await discard(res);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw responseError(what, res.status, res.headers, '');
    const digest = header(res, 'docker-content-digest')?.trim();
    const ct = header(res, 'content-type')?.split(';')[0]?.trim().toLowerCase();
    const size = Number(header(res, 'content-length') ?? -1);
    if (digest && isDigest(digest) && ct && SUPPORTED_MANIFEST_TYPES.includes(ct)) {
      if (isDigest(tagOrDigest) && digest !== tagOrDigest) throw digestMismatch(what, tagOrDigest, digest);
      return { digest, mediaType: ct, size: Number.isFinite(size) ? size : -1 };
    }
    const m = await this.getManifestFrom(ep, tagOrDigest, opts);
    return { digest: m.digest, mediaType: m.mediaType, size: m.bytes.length };
  }

  /**
   * Streams a blob from byte `offset` (a Range request; a 200 answer is handled by skipping, or with `rangeOnly`
   * refused). Redirects are followed without the registry's Authorization. `size` is the full blob size, -1 if
   * unknown. The stream is not verified.
   * @throws E_NOT_FOUND for BLOB_UNKNOWN / 404; E_UNSUPPORTED for a 200 answer to a `rangeOnly` request.
   */
  async getBlob(digest: string, opts: OpOptions & { offset?: number; rangeOnly?: boolean } = {}): Promise<{ stream: Readable; size: number }> {
    parseDigest(digest);
    const offset = opts.offset ?? 0;
    if (!Number.isSafeInteger(offset) || offset < 0) throw new FerryError(ErrorCode.Usage, `invalid blob offset ${offset}`);
    const eps = await this.sources(true, opts);
    const ordered = this.pinned && eps.includes(this.pinned) ? [this.pinned, ...eps.filter((e) => e !== this.pinned)] : eps;
    return this.firstOf(ordered, (ep) => this.getBlobFrom(ep, digest, offset, opts), opts.signal);
  }

  private async getBlobFrom(ep: Endpoint, digest: string, offset: number, opts: OpOptions & { rangeOnly?: boolean }) {
    const what = this.reading(ep, 'blob', digest);
    const res = await ep.request({
      method: 'GET',
      path: `/v2/${ep.spec.repository}/blobs/${digest}`,
      headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
      scopes: this.scopes(ep),
      what,
      signal: opts.signal,
    });
    const length = Number(header(res, 'content-length'));
    if (res.status === 200) {
      if (offset > 0 && opts.rangeOnly) {
        res.body.on('error', () => {}); // destroying undici's body emits an AbortError
        res.body.destroy();
        throw new FerryError(ErrorCode.Unsupported, `${what}: the registry ignores Range requests`);
      }
      const size = Number.isFinite(length) && header(res, 'content-length') !== undefined ? length : -1;
      if (size >= 0 && offset > size) {
        await discard(res);
        throw new RegistryError(ErrorCode.Registry, `${what}: offset ${offset} is beyond the end of the blob (${size} bytes)`, { status: 200 });
      }
      return { stream: wrapBody(res.body, offset, what, opts.signal), size };
    }
    if (res.status === 206) {
      const m = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(header(res, 'content-range')?.trim() ?? '');
      if (!m || Number(m[1]) !== offset) {
        await discard(res);
        throw new RegistryError(ErrorCode.Registry, `${what}: the registry answered a different range than requested`, { status: 206 });
      }
      const total = m[3] === '*' ? (Number.isFinite(length) ? offset + length : -1) : Number(m[3]);
      return { stream: wrapBody(res.body, 0, what, opts.signal), size: total };
    }
    throw responseError(what, res.status, res.headers, await readErrorText(res));
  }

  /**
   * Every tag of the repository, following `Link: <…>; rel="next"` pagination (relative or absolute, same origin).
   * @param opts.pageSize sends `n=` to ask for pages of that size.
   * @throws E_NOT_FOUND if the repository does not exist.
   */
  async listTags(opts: OpOptions & { pageSize?: number } = {}): Promise<string[]> {
    const ep = await this.primary(opts);
    const what = this.what(ep);
    const origin = await ep.origin(opts);
    let url = new URL(`/v2/${ep.spec.repository}/tags/list`, origin);
    if (opts.pageSize) url.searchParams.set('n', String(opts.pageSize));
    const tags: string[] = [];
    const seen = new Set<string>();
    /** Every tag of the earlier pages: a page listing one again is a pagination that went back (a loop). */
    const listed = new Set<string>();
    let total = 0;
    for (let page = 0; ; page++) {
      if (page >= MAX_TAG_PAGES || seen.has(url.href)) {
        throw new FerryError(ErrorCode.Registry, `${what}: tag list pagination does not end`);
      }
      seen.add(url.href);
      const pageUrl = url;
      const { res, body } = await this.retrying(async () => {
        const res = await ep.request({ method: 'GET', path: pageUrl.pathname + pageUrl.search, scopes: this.scopes(ep), what, signal: opts.signal, retry: false });
        if (res.status !== 200) throw responseError(what, res.status, res.headers, await readErrorText(res));
        try {
          return { res, body: await readBody(res, MAX_TAGS_PAGE_SIZE, () => new FerryError(ErrorCode.Registry, `${what}: tag list page is too large`)) };
        } catch (e) {
          throw transportError(what, e, opts.signal);
        }
      }, opts.signal);
      total += body.length;
      if (total > MAX_TAGS_TOTAL_SIZE) throw new FerryError(ErrorCode.Registry, `${what}: the tag list is larger than ${MAX_TAGS_TOTAL_SIZE} bytes over its pages`);
      let j: { tags?: unknown };
      try {
        j = JSON.parse(body.toString('utf8')) as { tags?: unknown };
      } catch {
        throw new FerryError(ErrorCode.Registry, `${what}: the tag list is not valid JSON`);
      }
      if (j.tags !== null && j.tags !== undefined) {
        if (!Array.isArray(j.tags) || j.tags.some((t) => typeof t !== 'string')) {
          throw new FerryError(ErrorCode.Registry, `${what}: the tag list is malformed`);
        }
        const pageTags = j.tags as string[];
        const again = pageTags.find((t) => listed.has(t));
        if (again !== undefined) throw new FerryError(ErrorCode.Registry, `${what}: tag list pagination does not end (page ${page + 1} lists ${again} again)`);
        for (const t of pageTags) listed.add(t);
        tags.push(...pageTags);
      }
      const next = nextLink(res.headers['link']);
      if (!next) return tags;
      const n = new URL(next, url);
      if (n.origin !== origin.origin) throw new FerryError(ErrorCode.Registry, `${what}: tag list pagination points to another host (${n.host})`);
      url = n;
    }
  }

  /**
   * Low-level authenticated request to the primary endpoint (for writers: uploads, mounts, deletes). The caller
   * consumes the body; turn an unexpected answer into an error with {@link RegistryClient.errorFrom}.
   */
  async request(req: ClientRequest): Promise<HttpResponse> {
    const ep = await this.primary(req);
    let path = req.path;
    if (/^[A-Za-z][A-Za-z0-9+.-]*:|^[/\\]{2}/.test(path)) {
      // a full URL, or a network-path reference (`//host/x`, as a `Link` header may hold): it must stay on this origin
      const origin = await ep.origin(req);
      let u: URL;
      try {
        u = new URL(path, origin);
      } catch {
        throw new FerryError(ErrorCode.Registry, `${this.what(ep)}: the registry pointed to an invalid URL`);
      }
      if (u.origin !== origin.origin) throw new FerryError(ErrorCode.Registry, `${this.what(ep)}: the registry pointed to another host (${u.host || u.protocol})`);
      path = u.pathname + u.search;
    } else if (!path.startsWith('/')) path = `/v2/${ep.spec.repository}/${path}`;
    return ep.request({
      method: req.method,
      path,
      headers: req.headers,
      body: req.body,
      scopes: req.scopes ?? [...this.scopes(ep), ...(req.extraScopes ?? [])],
      what: req.what ?? this.what(ep),
      signal: req.signal,
      followRedirects: req.followRedirects,
      retry: req.retry,
    });
  }

  /** Turns an unexpected answer into a RegistryError naming `what` (reads the body). */
  static async errorFrom(what: string, res: HttpResponse): Promise<RegistryError> {
    return responseError(what, res.status, res.headers, await readErrorText(res));
  }

  /** Number of token requests sent so far, over all endpoints (diagnostics and tests). */
  get tokenRequests(): number {
    let n = 0;
    for (const ep of this.endpoints.values()) n += ep.auth.tokenRequests;
    return n;
  }

  /** Releases connections. The client cannot be used afterwards. */
  async close(): Promise<void> {
    const eps = [...this.endpoints.values()];
    this.endpoints.clear();
    await Promise.all(eps.map((e) => e.close()));
  }
}
