/** `login`: checks credentials against a registry before they are saved. */
import { ErrorCode, FerryError, RegistryError } from '../errors.js';
import type { OpOptions, SystemContext } from '../types/context.js';
import { Endpoint } from './endpoint.js';
import { discard, readErrorText } from './http.js';
import { loadRegistriesConf, primarySource } from '../config/registries-conf.js';
import { registryText, responseError } from './errors.js';

/**
 * Pings `registry` (`host[:port]`, `docker.io` for Docker Hub) and authenticates with `creds`: resolves if the
 * registry accepts them (or needs none), throws E_UNAUTHORIZED otherwise, worded as skopeo's login
 * (`logging into "HOST": invalid username/password`) followed by what the registry or its token server said
 * (`unauthorized: authentication required`).
 * The auth files are not read; `ctx.credentials`/`noCreds`/`registryToken` are ignored in favour of `creds`.
 */
export async function checkLogin(
  registry: string,
  creds: { username: string; password: string },
  ctx: SystemContext,
  opts: OpOptions = {},
): Promise<void> {
  const conf = await loadRegistriesConf(ctx, opts);
  const { insecure } = primarySource(conf, registry, 'x', false);
  const loginCtx: SystemContext = { ...ctx, credentials: { ...creds }, noCreds: false, registryToken: undefined };
  const ep = new Endpoint({ host: registry, repository: '', insecure, mirror: false }, loginCtx);
  const what = `logging into "${registry}"`;
  try {
    await ep.ping(opts);
    const ch = ep.auth.challenge;
    if (!ch) return; // the registry needs no authentication
    const res = await ep.request({ method: 'GET', path: '/v2/', scopes: [], what, signal: opts.signal });
    if (res.status !== 200) throw responseError(what, res.status, res.headers, await readErrorText(res));
    await discard(res);
  } catch (e) {
    if (e instanceof RegistryError && e.code === ErrorCode.Unauthorized) {
      throw new RegistryError(ErrorCode.Unauthorized, `${what}: invalid username/password: ${registryText(e.status, e.entries)}`, {
        status: e.status,
        entries: e.entries,
      });
    }
    if (e instanceof FerryError) throw e;
    throw new FerryError(ErrorCode.Registry, `${what}: ${String(e)}`, { cause: e });
  } finally {
    await ep.close();
  }
}
