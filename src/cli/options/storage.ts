/**
 * Local store flags (`--root`, `--runroot`, `--storage-driver`, `--storage-conf`), for the `store`
 * commands and for any command that opens `containers-storage:` references (spread {@link storageFlags}
 * into its options and call {@link applyStorageArgs} before opening references).
 */
import type { Options } from 'yargs';
import type { StoreOptions, StoreOverrides } from '../../config/storage-conf.js';

/** The flag definitions. */
export const storageFlags: Record<string, Options> = {
  root: { type: 'string', describe: 'graph root of the local image store (default: storage.conf, else /var/lib/containers/storage as root)', requiresArg: true },
  runroot: { type: 'string', describe: 'run root of the local image store (default: storage.conf, else /run/containers/storage as root)', requiresArg: true },
  'storage-driver': { type: 'string', describe: 'storage driver of the local image store: overlay or vfs', requiresArg: true },
  'storage-conf': { type: 'string', describe: 'storage.conf to read (default: CONTAINERS_STORAGE_CONF or the usual locations)', requiresArg: true },
};

/** The overrides the flags give. */
export function storageOverridesFromArgs(args: Record<string, unknown>, env: NodeJS.ProcessEnv): StoreOverrides {
  const o: StoreOverrides = { env };
  if (typeof args['root'] === 'string') o.graphRoot = args['root'];
  if (typeof args['runroot'] === 'string') o.runRoot = args['runroot'];
  if (typeof args['storage-driver'] === 'string') o.driver = args['storage-driver'];
  if (typeof args['storage-conf'] === 'string') o.configFile = args['storage-conf'];
  return o;
}

/**
 * Makes the flags the defaults of `containers-storage:` references without a `[store]` part, and
 * returns the resolved store options. The store code loads only here, so commands that merely offer the
 * flags pay nothing for them at start-up.
 * @throws FerryError(E_CONFIG | E_UNSUPPORTED) for a bad storage.conf or driver.
 */
export async function applyStorageArgs(args: Record<string, unknown>, env: NodeJS.ProcessEnv): Promise<StoreOptions> {
  const { resolveStoreOptions, setDefaultStoreOverrides } = await import('../../config/storage-conf.js');
  const o = storageOverridesFromArgs(args, env);
  setDefaultStoreOverrides(o);
  return resolveStoreOptions(o);
}

/** Applies the flags when one of the image names is a `containers-storage:` reference (call before parsing them). */
export async function applyStorageArgsFor(names: string[], args: Record<string, unknown>, env: NodeJS.ProcessEnv): Promise<void> {
  if (names.some((n) => n.startsWith('containers-storage:'))) await applyStorageArgs(args, env);
}
