/**
 * `sync --src docker HOST` and `sync --src docker HOST/NS/`: every repository of a registry (or every one under
 * the namespace `NS/`), as its catalog lists them, each as a group of its tags. The catalog is read a page at a time
 * and each repository becomes a group as soon as its page arrives, so the first image is copied while the catalog is
 * still being read.
 *
 * Which SOURCE names a registry rather than a repository:
 * - anything ending in `/`: `HOST/` (the whole registry), `HOST/NS/` (the repositories whose path starts with `NS/`);
 * - a bare host without `/`: `localhost`, or a name with a `.` before an optional `:PORT` (`registry.example.com`,
 *   `127.0.0.1:5000`), as Docker tells a host from a repository. `busybox` and `ubuntu:22.04` stay Docker Hub names.
 */
import { FerryError, ErrorCode } from '../errors.js';
import type { OpOptions, SystemContext } from '../types/context.js';
import { parseNormalizedName, type DockerName } from '../reference/name.js';
import type { SyncSourceGroup } from './sources.js';

/** A registry source: the host and the path prefix repositories must start with (`''` or ending in `/`). */
export interface CatalogSource {
  host: string;
  prefix: string;
  /** How messages name it: `HOST` or `HOST/NS/`. */
  label: string;
}

/** Repositories asked for per catalog page. */
export const CATALOG_PAGE_SIZE = 100;

const BARE_HOST = /^(?:localhost|[^:/@]*\.[^:/@]*)(?::[0-9]+)?$/;

/**
 * The registry SOURCE names, or undefined when it names a repository or an image.
 * @throws FerryError(E_INVALID_REFERENCE) for a registry source whose host or namespace is not valid.
 */
export function parseCatalogSource(source: string): CatalogSource | undefined {
  let host: string;
  let prefix = '';
  if (source.endsWith('/')) {
    const body = source.slice(0, -1);
    const slash = body.indexOf('/');
    const first = slash < 0 ? body : body.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost') {
      host = first;
      prefix = slash < 0 ? '' : `${body.slice(slash + 1)}/`;
    } else {
      host = 'docker.io';
      prefix = `${body}/`;
    }
  } else if (BARE_HOST.test(source)) {
    host = source;
  } else {
    return undefined;
  }
  let name: DockerName;
  try {
    name = parseNormalizedName(`${host}/${prefix}x`);
  } catch (e) {
    throw new FerryError(ErrorCode.InvalidReference, `invalid registry source "${source}": ${(e as Error).message}`, { cause: e });
  }
  if (name.tag !== undefined || name.digest !== undefined || name.domain !== host) {
    throw new FerryError(ErrorCode.InvalidReference, `invalid registry source "${source}": expected HOST, HOST/ or HOST/NAMESPACE/`);
  }
  return { host, prefix, label: prefix === '' ? host : `${host}/${prefix}` };
}

/**
 * The group of every repository of `src` that `repository` makes a group of (it returns undefined for those the
 * sync leaves out: filters, other shards). Listing it (`expand`) reads the catalog; `list` gives every image of
 * every repository at once, for callers that do not expand groups.
 */
export function catalogGroup(
  src: CatalogSource,
  ctx: SystemContext,
  repository: (name: DockerName) => SyncSourceGroup | undefined,
  pageSize = CATALOG_PAGE_SIZE,
): SyncSourceGroup {
  const expand = async function* (opts: OpOptions = {}): AsyncGenerator<SyncSourceGroup, void, undefined> {
    const { listCatalog } = await import('../registry/catalog.js');
    let found = 0;
    for await (const page of listCatalog(src.host, ctx, { ...opts, pageSize })) {
      for (const path of page) {
        if (!path.startsWith(src.prefix)) continue;
        let name: DockerName;
        try {
          name = parseNormalizedName(`${src.host}/${path}`);
        } catch {
          continue; // a name no reference can hold (a hostile or broken registry): nothing to copy
        }
        if (name.domain !== src.host || name.path !== path || name.tag !== undefined || name.digest !== undefined) continue;
        found++;
        const group = repository(name);
        if (group) yield group;
      }
    }
    if (found === 0) throw new FerryError(ErrorCode.NotFound, `no repositories found in ${src.label}`);
  };
  return {
    label: src.label,
    ctx,
    expand,
    async list(opts: OpOptions = {}) {
      const out = [];
      for await (const g of expand(opts)) out.push(...(await g.list(opts)));
      return out;
    },
  };
}
