/**
 * The repository list of a registry (`GET /v2/_catalog`, token scope `registry:catalog:*`), read page by page:
 * `?n=` asks for a page size, the `Link: <…>; rel="next"` header (same origin only) leads to the next page, each
 * page is at most {@link MAX_CATALOG_PAGE_SIZE} bytes, at most {@link MAX_CATALOG_PAGES} pages and
 * {@link MAX_CATALOG_TOTAL_SIZE} bytes are read, and a page that names a repository of an earlier page again (a
 * `Link` back, under another URL) ends the listing as an endless pagination.
 *
 * A registry that refuses the catalog (401, 403, 404, 405, or an `UNSUPPORTED` error) is told apart from one that
 * cannot be reached: `listing the repositories of HOST: the registry does not allow catalog access (HTTP 404)`.
 */
import { ErrorCode, FerryError, RegistryError } from '../errors.js';
import type { OpOptions, SystemContext } from '../types/context.js';
import { RegistryClient, nextLink } from './client.js';
import { responseError, registryText } from './errors.js';
import { readBody, readErrorText } from './http.js';
import { withRetry } from '../util/retry.js';

/** Largest catalog page read (JSON, like every other JSON read). */
export const MAX_CATALOG_PAGE_SIZE = 4 << 20;
/** Most catalog pages followed. */
export const MAX_CATALOG_PAGES = 100_000;
/** Most bytes of catalog pages read over all pages (the names are remembered, to tell a pagination loop). */
export const MAX_CATALOG_TOTAL_SIZE = 256 << 20;
/** The token scope of the catalog. */
export const CATALOG_SCOPE = 'registry:catalog:*';

/** Options of {@link listCatalog}. */
export interface CatalogOptions extends OpOptions {
  /**
   * Sent as `n=` (repositories per page). A registry that refuses the size (HTTP 400, as distribution does above
   * its configured maximum) is asked again without it.
   */
  pageSize?: number;
}

/**
 * The repositories of `registry` (`127.0.0.1:5000`, `quay.io`), one page at a time, as the registry lists them
 * (paths without the host, `team/app`).
 * @throws FerryError: E_UNAUTHORIZED / E_DENIED / E_UNSUPPORTED when the registry refuses the catalog, E_REGISTRY for
 *         a malformed answer or endless pagination, E_NETWORK / E_TLS when it cannot be reached; every message starts
 *         with `listing the repositories of REGISTRY`.
 */
export async function* listCatalog(registry: string, ctx: SystemContext, opts: CatalogOptions = {}): AsyncGenerator<string[], void, undefined> {
  const what = `listing the repositories of ${registry}`;
  const client = RegistryClient.open({ registry, repository: '', ctx, actions: ['pull'] });
  try {
    const ep = await client.primary(opts);
    const origin = await ep.origin(opts);
    let url = new URL('/v2/_catalog', origin);
    let sized = opts.pageSize !== undefined && opts.pageSize > 0;
    if (sized) url.searchParams.set('n', String(opts.pageSize));
    const seen = new Set<string>();
    /** The repositories of the earlier pages: a page naming one again is a pagination that went back (a loop). */
    const named = new Set<string>();
    let total = 0;
    for (let page = 0; ; page++) {
      if (page >= MAX_CATALOG_PAGES || seen.has(url.href)) throw new FerryError(ErrorCode.Registry, `${what}: the catalog pagination does not end`);
      seen.add(url.href);
      const pageUrl = url;
      let answer: { body: Buffer; link: string | string[] | undefined };
      try {
        answer = await withRetry(() => readPage(client, pageUrl, what, opts), { retryTimes: ctx.retryTimes, retryDelayMs: ctx.retryDelayMs, signal: opts.signal });
      } catch (e) {
        if (page === 0 && sized && e instanceof RegistryError && e.status === 400) {
          // the page size is above what the registry allows: its own default then
          sized = false;
          url = new URL('/v2/_catalog', origin);
          seen.clear();
          named.clear();
          total = 0;
          page = -1;
          continue;
        }
        throw refusal(e, what);
      }
      total += answer.body.length;
      if (total > MAX_CATALOG_TOTAL_SIZE) throw new FerryError(ErrorCode.Registry, `${what}: the catalog is larger than ${MAX_CATALOG_TOTAL_SIZE} bytes over its pages`);
      const repos = parsePage(answer.body, what);
      const again = repos.find((r) => named.has(r));
      if (again !== undefined) throw new FerryError(ErrorCode.Registry, `${what}: the catalog pagination does not end (page ${page + 1} lists ${again} again)`);
      for (const r of repos) named.add(r);
      yield repos;
      const next = nextLink(answer.link);
      if (!next) return;
      const n = new URL(next, url);
      if (n.origin !== origin.origin) throw new FerryError(ErrorCode.Registry, `${what}: the catalog pagination points to another host (${n.host})`);
      url = n;
    }
  } catch (e) {
    if (e instanceof FerryError && !e.message.startsWith(what)) throw new FerryError(e.code, `${what}: ${e.message}`, { cause: e });
    throw e;
  } finally {
    await client.close();
  }
}

async function readPage(client: RegistryClient, url: URL, what: string, opts: OpOptions): Promise<{ body: Buffer; link: string | string[] | undefined }> {
  const res = await client.request({ method: 'GET', path: url.pathname + url.search, scopes: [CATALOG_SCOPE], what, signal: opts.signal, retry: false });
  if (res.status !== 200) throw responseError(what, res.status, res.headers, await readErrorText(res));
  const body = await readBody(res, MAX_CATALOG_PAGE_SIZE, () => new FerryError(ErrorCode.TooLarge, `${what}: a catalog page is larger than ${MAX_CATALOG_PAGE_SIZE} bytes`));
  return { body, link: res.headers['link'] };
}

function parsePage(body: Buffer, what: string): string[] {
  let j: unknown;
  try {
    j = JSON.parse(body.toString('utf8'));
  } catch {
    throw new FerryError(ErrorCode.Registry, `${what}: the catalog is not valid JSON`);
  }
  const repos = (j as { repositories?: unknown } | null)?.repositories;
  if (repos === null || repos === undefined) return [];
  if (!Array.isArray(repos) || repos.some((r) => typeof r !== 'string')) throw new FerryError(ErrorCode.Registry, `${what}: the catalog is malformed`);
  return repos as string[];
}

/** A registry's refusal of the catalog, in words that say so; other errors as they are. */
function refusal(e: unknown, what: string): unknown {
  if (!(e instanceof RegistryError)) return e;
  const codes = new Set((e.entries ?? []).map((x) => x.code.toUpperCase()));
  const refused = e.status === 401 || e.status === 403 || e.status === 404 || e.status === 405 || codes.has('UNSUPPORTED');
  if (!refused) return e;
  const said = e.entries?.length ? `: ${registryText(e.status, e.entries)}` : '';
  const code = e.status === 401 ? ErrorCode.Unauthorized : e.status === 403 ? ErrorCode.Denied : ErrorCode.Unsupported;
  return new RegistryError(code, `${what}: the registry does not allow catalog access (HTTP ${e.status}${said})`, { status: e.status, entries: e.entries, cause: e });
}
