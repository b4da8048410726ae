/**
 * Where the store lives and how it is configured, like containers/storage: defaults by user
 * (root: /var/lib/containers/storage + /run/containers/storage; others: ~/.local/share/containers/storage +
 * $XDG_RUNTIME_DIR/containers), storage.conf (`CONTAINERS_STORAGE_CONF`, else `/etc/containers/storage.conf`,
 * for non-root users `~/.config/containers/storage.conf` first), then explicit overrides
 * (`--root`, `--runroot`, `--storage-driver`, or a reference's `[driver@graphroot+runroot]`).
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { FerryError, ErrorCode } from '../errors.js';
import { readRegularFileSync } from '../util/bounded-read.js';
import { parseToml, type TomlTable } from './toml.js';

/** Storage drivers ferry implements. */
export type StorageDriver = 'overlay' | 'vfs';

/** Resolved store options. */
export interface StoreOptions {
  graphRoot: string;
  runRoot: string;
  driver: StorageDriver;
  /** A FUSE program mounting overlays for non-root users (e.g. fuse-overlayfs), from storage.conf. */
  mountProgram?: string;
  /**
   * storage.conf's `ignore_chown_errors` (driver options): in a user namespace that lacks the IDs a layer's files
   * belong to, keep them owned by the namespace's root instead of failing, as containers/storage does.
   */
  ignoreChownErrors?: boolean;
}

/** Explicit overrides (CLI flags, reference options). */
export interface StoreOverrides {
  graphRoot?: string;
  runRoot?: string;
  driver?: string;
  /** storage.conf to read instead of the search (tests). */
  configFile?: string;
  env?: NodeJS.ProcessEnv;
  uid?: number;
  homeDir?: string;
}

/** Checks a driver name. @throws FerryError(E_UNSUPPORTED) */
export function parseDriver(name: string): StorageDriver {
  if (name === 'overlay' || name === 'overlay2') return 'overlay';
  if (name === 'vfs') return 'vfs';
  throw new FerryError(ErrorCode.Unsupported, `storage driver "${name}" is not supported (supported: overlay, vfs)`);
}

/** The storage.conf that applies, or undefined. */
export function storageConfPath(o: StoreOverrides = {}): string | undefined {
  const env = o.env ?? process.env;
  if (o.configFile) return o.configFile;
  if (env.CONTAINERS_STORAGE_CONF) return env.CONTAINERS_STORAGE_CONF;
  const uid = effectiveUid(o);
  if (uid !== 0) {
    const cfgHome = env.XDG_CONFIG_HOME || join(o.homeDir ?? homedir(), '.config');
    const user = join(cfgHome, 'containers', 'storage.conf');
    if (existsSync(user)) return user;
  }
  for (const p of ['/etc/containers/storage.conf', '/usr/share/containers/storage.conf']) if (existsSync(p)) return p;
  return undefined;
}

function str(t: TomlTable | undefined, k: string): string | undefined {
  const v = t?.[k];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/**
 * Resolves the store options: defaults, then storage.conf, then overrides.
 * @throws FerryError(E_CONFIG) for an unreadable storage.conf, E_UNSUPPORTED for an unknown driver.
 */
export function resolveStoreOptions(o: StoreOverrides = {}): StoreOptions {
  const env = o.env ?? process.env;
  const uid = effectiveUid(o);
  const home = o.homeDir ?? homedir();
  let graphRoot = uid === 0 ? '/var/lib/containers/storage' : join(env.XDG_DATA_HOME || join(home, '.local', 'share'), 'containers', 'storage');
  let runRoot = uid === 0 ? '/run/containers/storage' : join(rootlessRuntimeDir(uid, env), 'containers');
  let driver: string = 'overlay';
  let mountProgram: string | undefined;
  let ignoreChownErrors = false;
  const conf = storageConfPath(o);
  if (conf !== undefined && existsSync(conf)) {
    let t: TomlTable;
    try {
      t = parseToml(readRegularFileSync(conf).toString('utf8'), conf);
    } catch (e) {
      if (e instanceof FerryError) throw e;
      throw new FerryError(ErrorCode.Config, `reading ${conf}: ${(e as Error).message}`, { cause: e });
    }
    const s = t.storage as TomlTable | undefined;
    driver = str(s, 'driver') ?? driver;
    // A system-wide file's roots are for root; non-root users keep their defaults unless rootless_storage_path is set.
    const userFile = uid !== 0 && conf.startsWith(join(env.XDG_CONFIG_HOME || join(home, '.config')));
    if (uid === 0 || userFile || conf === o.configFile || conf === env.CONTAINERS_STORAGE_CONF) {
      graphRoot = str(s, 'graphroot') ?? graphRoot;
      runRoot = str(s, 'runroot') ?? runRoot;
    } else {
      const rsp = str(s, 'rootless_storage_path');
      if (rsp) graphRoot = rsp.replace(/\$HOME/g, home).replace(/\$UID/g, String(uid)).replace(/\$USER/g, env.USER ?? '');
    }
    const opts = s?.options as TomlTable | undefined;
    mountProgram = str(opts?.overlay as TomlTable | undefined, 'mount_program') ?? str(opts, 'mount_program');
    const driverOpts = opts?.[parseDriver(driver)] as TomlTable | undefined;
    const ice = str(driverOpts, 'ignore_chown_errors') ?? str(opts, 'ignore_chown_errors');
    ignoreChownErrors = ice !== undefined && /^(true|1|yes)$/i.test(ice);
    if (driverOpts?.ignore_chown_errors === true || opts?.ignore_chown_errors === true) ignoreChownErrors = true;
  }
  if (o.graphRoot) graphRoot = o.graphRoot;
  if (o.runRoot) runRoot = o.runRoot;
  if (o.driver) driver = o.driver;
  return {
    graphRoot: resolve(graphRoot),
    runRoot: resolve(runRoot),
    driver: parseDriver(driver),
    ...(mountProgram ? { mountProgram } : {}),
    ...(ignoreChownErrors ? { ignoreChownErrors } : {}),
  };
}

/** The user a rootless store belongs to, inside the user namespace (`_CONTAINERS_ROOTLESS_UID`), if set. */
function rootlessUid(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const v = env._CONTAINERS_ROOTLESS_UID;
  if (v === undefined || !/^\d+$/.test(v) || process.getuid?.() !== 0) return undefined;
  return Number(v);
}

/** The user whose store this is: inside a rootless user namespace, the user outside (see store/userns.ts). */
function effectiveUid(o: StoreOverrides): number {
  return o.uid ?? rootlessUid(o.env ?? process.env) ?? process.getuid?.() ?? 0;
}

/**
 * A non-root user's runtime directory, as podman finds it: `$XDG_RUNTIME_DIR`, else `/run/user/UID` when it exists,
 * else `$TMPDIR/podman-run-UID` (`/tmp` by default).
 */
function rootlessRuntimeDir(uid: number, env: NodeJS.ProcessEnv): string {
  if (env.XDG_RUNTIME_DIR) return env.XDG_RUNTIME_DIR;
  const run = `/run/user/${uid}`;
  if (existsSync(run)) return run;
  return join(env.TMPDIR || '/tmp', `podman-run-${uid}`);
}

let processOverrides: StoreOverrides = {};

/**
 * Sets process-wide store overrides (the CLI's `--root`, `--runroot`, `--storage-driver`), used by
 * `containers-storage:` references that name no store of their own.
 */
export function setDefaultStoreOverrides(o: StoreOverrides): void {
  processOverrides = { ...o };
}

/** The overrides set by {@link setDefaultStoreOverrides}. */
export function defaultStoreOverrides(): StoreOverrides {
  return processOverrides;
}
