/**
 * The OCI 1.1 referrers API of a registry: `GET /v2/<name>/referrers/<digest>` (distribution-spec 1.1), an image
 * index of the manifests whose `subject` is that digest, in pages (`Link: <…>; rel="next"`). A registry without the
 * API answers 404 (Docker's distribution 2.x), or something that is not an image index: the caller then uses the
 * fallback tag (`sha256-HEX`).
 */
import { FerryError, ErrorCode } from '../errors.js';
import { MediaType } from '../manifest/media-types.js';
import { MAX_REFERRERS, parseReferrersIndex } from '../manifest/referrers.js';
import type { OpOptions } from '../types/context.js';
import type { ReferrerDescriptor } from '../types/image.js';
import { parseDigest } from '../util/digest.js';
import { MAX_MANIFEST_SIZE, nextLink, RegistryClient } from './client.js';
import { discard, header, readBody } from './http.js';

/** The most pages of one listing followed. */
const MAX_PAGES = 50;

/**
 * The referrers of `digest` in the client's repository (only those of `artifactType` when given), or undefined when
 * the registry has no referrers API.
 * @throws FerryError for network and authorization failures, a malformed index, pagination to another host.
 */
export async function listRegistryReferrers(client: RegistryClient, digest: string, opts: OpOptions & { artifactType?: string } = {}): Promise<ReferrerDescriptor[] | undefined> {
  parseDigest(digest);
  const what = `docker://${client.registry}/${client.repository}: referrers of ${digest}`;
  let path = `referrers/${digest}${opts.artifactType !== undefined ? `?artifactType=${encodeURIComponent(opts.artifactType)}` : ''}`;
  const out: ReferrerDescriptor[] = [];
  const seen = new Set<string>();
  for (let page = 0; ; page++) {
    if (page >= MAX_PAGES || seen.has(path)) throw new FerryError(ErrorCode.Registry, `${what}: pagination does not end`);
    seen.add(path);
    const res = await client.request({ method: 'GET', path, headers: { accept: MediaType.OciIndex }, signal: opts.signal, what });
    if (res.status === 404 || res.status === 405 || res.status === 400) {
      await discard(res);
      return undefined;
    }
    if (res.status !== 200) throw await RegistryClient.errorFrom(what, res);
    const type = (header(res, 'content-type') ?? '').split(';')[0]!.trim();
    if (type !== MediaType.OciIndex) {
      await discard(res);
      if (page === 0) return undefined;
      throw new FerryError(ErrorCode.Registry, `${what}: a page of the listing is ${type || 'untyped'}, not an image index`);
    }
    const body = await readBody(res, MAX_MANIFEST_SIZE, () => new FerryError(ErrorCode.TooLarge, `${what}: the listing is larger than ${MAX_MANIFEST_SIZE} bytes`));
    out.push(...parseReferrersIndex(body, what));
    if (out.length > MAX_REFERRERS) throw new FerryError(ErrorCode.InvalidManifest, `${what}: more than ${MAX_REFERRERS} referrers`);
    const next = nextLink(res.headers['link']);
    if (!next) break;
    // request() refuses a full URL on another origin
    path = next;
  }
  if (opts.artifactType === undefined) return out;
  // a registry may ignore the filter (it then does not say OCI-Filters-Applied): filter here
  return out.filter((d) => d.artifactType === opts.artifactType);
}

/** Whether the registry answers the referrers API (for a digest nothing refers to, an empty index). */
export async function hasReferrersApi(client: RegistryClient, opts: OpOptions = {}): Promise<boolean> {
  const none = `sha256:${'0'.repeat(64)}`;
  return (await listRegistryReferrers(client, none, opts)) !== undefined;
}
