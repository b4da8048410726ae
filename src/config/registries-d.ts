/**
 * registries.d (containers-registries.d(5)): where the signatures of images in registries live. A directory of
 * `*.yaml` files, each with an optional `default-docker` entry and a `docker` map of scopes; an entry may set
 * `lookaside` (where simple signatures are read), `lookaside-staging` (where they are written, if not `lookaside`),
 * the older names `sigstore` / `sigstore-staging` of those two, and `use-sigstore-attachments`.
 *
 * Scopes resolve as containers/image resolves them: the image's full name (`host/ns/repo:tag`), then its repository
 * and each parent namespace up to the host, then `*.domain` wildcards of the host, then `default-docker`; for the
 * lookaside URL, the first entry that sets one wins, and likewise for `use-sigstore-attachments`.
 */
import { readdir, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FerryError, ErrorCode } from '../errors.js';
import { readRegularFile } from '../util/bounded-read.js';

/** The largest registries.d file read (as every configuration file: 4 MiB). */
export const MAX_REGISTRIES_D_FILE = 4 * 1024 * 1024;

/** Where signatures of one scope live. */
export interface RegistryNamespaceConfig {
  /** `lookaside` (or the older `sigstore`): base URL signatures are read from (and written to without staging). */
  lookaside?: string;
  /** `lookaside-staging` (or `sigstore-staging`): base URL signatures are written to. */
  lookasideStaging?: string;
  /** `use-sigstore-attachments`: read and write sigstore signatures as `sha256-HEX.sig` attachments. */
  useSigstoreAttachments?: boolean;
}

/** The merged contents of a registries.d directory. */
export interface RegistriesDConfig {
  /** The directory read, undefined when none exists. */
  dir?: string;
  defaultDocker?: RegistryNamespaceConfig;
  docker: Map<string, RegistryNamespaceConfig>;
}

/** Where the configuration is read from (`--registries.d`, else the user's, else the system's directory). */
export interface RegistriesDLocation {
  /** `--registries.d DIR`: used as given (a missing directory is then an empty configuration). */
  registriesDirPath?: string;
  /** Home directory (default `os.homedir()`). */
  homeDir?: string;
}

/** The system-wide directory. */
export const SYSTEM_REGISTRIES_D = '/etc/containers/registries.d';

function configError(message: string, cause?: unknown): FerryError {
  return new FerryError(ErrorCode.Config, message, cause === undefined ? undefined : { cause });
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** The directory to read: `--registries.d`, else `~/.config/containers/registries.d` if it exists, else the system's. */
export async function registriesDDirectory(loc: RegistriesDLocation): Promise<string> {
  if (loc.registriesDirPath !== undefined) return loc.registriesDirPath;
  const user = path.join(loc.homeDir ?? os.homedir(), '.config', 'containers', 'registries.d');
  return (await isDirectory(user)) ? user : SYSTEM_REGISTRIES_D;
}

/**
 * Reads a regular file of at most {@link MAX_REGISTRIES_D_FILE} bytes; undefined for a directory (skipped, as
 * containers/image does). A FIFO, device or socket is refused (a FIFO's open does not wait for a writer). Every
 * failure is E_CONFIG naming the file.
 */
async function readRegistriesDFile(file: string): Promise<string | undefined> {
  try {
    const bytes = await readRegularFile(file, { what: `registries.d file ${file}`, limit: MAX_REGISTRIES_D_FILE, code: ErrorCode.Config, directory: 'skip' });
    return bytes?.toString('utf8');
  } catch (e) {
    if (e instanceof FerryError) throw e;
    throw configError(`reading ${file}: ${(e as Error).message}`, e);
  }
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** One entry (`default-docker` or a `docker:` scope); unknown keys are ignored, as containers/image does. */
function parseEntry(v: unknown, where: string): RegistryNamespaceConfig {
  if (v === null || v === undefined) return {};
  if (!isMap(v)) throw configError(`${where}: expected a mapping`);
  const str = (key: string): string | undefined => {
    const x = v[key];
    if (x === undefined || x === null) return undefined;
    if (typeof x !== 'string') throw configError(`${where}.${key}: expected a string`);
    return x === '' ? undefined : x;
  };
  const out: RegistryNamespaceConfig = {};
  const lookaside = str('lookaside') ?? str('sigstore');
  const staging = str('lookaside-staging') ?? str('sigstore-staging');
  if (lookaside !== undefined) out.lookaside = lookaside;
  if (staging !== undefined) out.lookasideStaging = staging;
  const attach = v['use-sigstore-attachments'];
  if (attach !== undefined && attach !== null) {
    if (typeof attach !== 'boolean') throw configError(`${where}.use-sigstore-attachments: expected true or false`);
    out.useSigstoreAttachments = attach;
  }
  return out;
}

/**
 * Reads and merges every `*.yaml` file of the directory (in name order). A scope or `default-docker` defined in
 * two files is an error, as in containers/image.
 * @throws FerryError(E_CONFIG) naming the file and what is wrong.
 */
export async function loadRegistriesD(loc: RegistriesDLocation = {}): Promise<RegistriesDConfig> {
  const dir = await registriesDDirectory(loc);
  const config: RegistriesDConfig = { docker: new Map() };
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.yaml')).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return config;
    throw configError(`reading registries.d directory ${dir}: ${(e as Error).message}`, e);
  }
  config.dir = dir;
  let defaultFrom: string | undefined;
  const scopeFrom = new Map<string, string>();
  for (const name of names) {
    const file = path.join(dir, name);
    const text = await readRegistriesDFile(file);
    if (text === undefined) continue;
    // the YAML parser is loaded only when there is a file to parse: every command that reads an image from a registry
    // consults registries.d, and where it holds no file (no containers-common installed) none needs the parser
    const { parseYaml } = await import('./yaml-parse.js');
    let doc: unknown;
    try {
      doc = parseYaml(text, { uniqueKeys: true, maxAliasCount: 100 });
    } catch (e) {
      throw configError(`parsing ${file}: ${(e as Error).message.split('\n')[0]}`, e);
    }
    if (doc === null || doc === undefined) continue;
    if (!isMap(doc)) throw configError(`${file}: expected a mapping at the top level`);
    if (doc['default-docker'] !== undefined && doc['default-docker'] !== null) {
      if (defaultFrom !== undefined) throw configError(`"default-docker" is defined both in ${defaultFrom} and ${file}`);
      defaultFrom = file;
      config.defaultDocker = parseEntry(doc['default-docker'], `${file}: default-docker`);
    }
    const docker = doc['docker'];
    if (docker === undefined || docker === null) continue;
    if (!isMap(docker)) throw configError(`${file}: docker: expected a mapping of scopes`);
    for (const [scope, entry] of Object.entries(docker)) {
      const earlier = scopeFrom.get(scope);
      if (earlier !== undefined) throw configError(`"docker:${scope}" is defined both in ${earlier} and ${file}`);
      scopeFrom.set(scope, file);
      config.docker.set(scope, parseEntry(entry, `${file}: docker.${scope}`));
    }
  }
  return config;
}

/**
 * The scopes of a docker image name, most specific first: the full name, the repository, each parent namespace, the
 * host, then `*.` wildcards of the host's parent domains — the same scopes as policy.json's for `docker`
 * (containers/image's `PolicyConfigurationIdentity` and `PolicyConfigurationNamespaces`), which the docker reference
 * computes (`policyIdentity()`, `policyNamespaces()`).
 */
export type DockerScopes = readonly string[];

/** The entries that apply to an image of `scopes`, most specific first, `default-docker` last. */
function entriesFor(config: RegistriesDConfig, scopes: DockerScopes): RegistryNamespaceConfig[] {
  const out: RegistryNamespaceConfig[] = [];
  for (const s of scopes) {
    const e = config.docker.get(s);
    if (e) out.push(e);
  }
  if (config.defaultDocker) out.push(config.defaultDocker);
  return out;
}

/**
 * The base URL for simple signatures of an image of `scopes`: for writing, the first scope's `lookaside-staging`, else its
 * `lookaside`; for reading, the first `lookaside`. Undefined when no scope sets one.
 */
export function lookasideBase(config: RegistriesDConfig, scopes: DockerScopes, write: boolean): string | undefined {
  for (const e of entriesFor(config, scopes)) {
    const url = write ? (e.lookasideStaging ?? e.lookaside) : e.lookaside;
    if (url !== undefined) return url;
  }
  return undefined;
}

/** Whether sigstore attachments are used for an image of `scopes` (the first scope that says, else false). */
export function usesSigstoreAttachments(config: RegistriesDConfig, scopes: DockerScopes): boolean {
  for (const e of entriesFor(config, scopes)) if (e.useSigstoreAttachments !== undefined) return e.useSigstoreAttachments;
  return false;
}

/**
 * skopeo's built-in lookaside when nothing is configured: `/var/lib/containers/sigstore` for root,
 * `~/.local/share/containers/sigstore` otherwise.
 */
export function builtinLookaside(homeDir: string = os.homedir(), uid: number = process.getuid?.() ?? 0): string {
  const dir = uid === 0 ? '/var/lib/containers/sigstore' : path.join(homeDir, '.local', 'share', 'containers', 'sigstore');
  return `file://${dir}`;
}
