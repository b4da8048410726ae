/**
 * Credentials files: containers-auth.json(5) and Docker's config.json. Search order, key specificity, atomic writes.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, chmod } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, basename } from 'node:path';
import { FerryError, ErrorCode } from '../errors.js';
import type { SystemContext } from '../types/context.js';
import { readBoundedFile } from '../util/bounded-read.js';
import { checkReplaceable } from '../util/replaceable.js';
import { helperErase, helperGet, helperList, helperStore, MissingHelperError } from './cred-helper.js';
import { AUTH_FILES_HELPER, registriesConfFor } from './registries-conf.js';

/** Credentials for one registry. Never logged, never put in an error message. */
export interface Credentials {
  username: string;
  password: string;
  /** OAuth2 refresh token (`identitytoken`): used with a POST to the token realm instead of the password. */
  identityToken?: string;
}

/** An auth file and whether it uses the legacy `~/.dockercfg` layout (entries at the top level). */
interface AuthPath {
  path: string;
  legacy: boolean;
}

interface AuthEntry {
  auth?: string;
  identitytoken?: string;
  username?: string;
  password?: string;
}

interface AuthFileContents {
  auths?: Record<string, AuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
  [other: string]: unknown;
}

const home = (ctx: SystemContext) => ctx.homeDir ?? homedir();

/**
 * The file `login` writes to and `logout` edits: `ctx.authFile`, else `$REGISTRY_AUTH_FILE`, else
 * `$XDG_RUNTIME_DIR/containers/auth.json`, else `/run/containers/<uid>/auth.json` (as containers/image on Linux).
 */
export function authFileForWriting(ctx: SystemContext): string {
  if (ctx.authFile) return ctx.authFile;
  const env = process.env['REGISTRY_AUTH_FILE'];
  if (env) return env;
  const runtime = process.env['XDG_RUNTIME_DIR'];
  if (runtime) return join(runtime, 'containers/auth.json');
  return `/run/containers/${process.getuid?.() ?? 0}/auth.json`;
}

function authPaths(ctx: SystemContext): AuthPath[] {
  const h = home(ctx);
  const paths: AuthPath[] = [{ path: authFileForWriting(ctx), legacy: false }];
  const xdgConfig = process.env['XDG_CONFIG_HOME'] || join(h, '.config');
  paths.push({ path: join(xdgConfig, 'containers/auth.json'), legacy: false });
  const dockerConfig = process.env['DOCKER_CONFIG'];
  paths.push({ path: dockerConfig ? join(dockerConfig, 'config.json') : join(h, '.docker/config.json'), legacy: false });
  paths.push({ path: join(h, '.dockercfg'), legacy: true });
  const seen = new Set<string>();
  return paths.filter((p) => (seen.has(p.path) ? false : (seen.add(p.path), true)));
}

/**
 * The files searched for credentials, in order: the primary file ({@link authFileForWriting}), then
 * `$XDG_CONFIG_HOME/containers/auth.json` (default `~/.config/containers/auth.json`), then `$DOCKER_CONFIG/config.json`
 * (default `~/.docker/config.json`), then `~/.dockercfg`.
 */
export function authFilesForReading(ctx: SystemContext): string[] {
  return authPaths(ctx).map((p) => p.path);
}

/** `docker.io` for the names Docker Hub goes by, the host otherwise. */
export function normalizeRegistryHost(host: string): string {
  return host === 'registry-1.docker.io' || host === 'index.docker.io' ? 'docker.io' : host;
}

/** Normalizes a key found in a file for the loose (host-only) comparison: scheme and path stripped when a scheme is present. */
function normalizeFileKey(key: string, legacy: boolean): string {
  const stripped = key.replace(/^https?:\/\//, '');
  const host = stripped !== key || legacy ? stripped.split('/')[0]! : stripped;
  return normalizeRegistryHost(host);
}

/** Keys to look up for `registry/repository`, most specific first: `host/ns/repo`, `host/ns`, `host`. */
export function authKeys(registry: string, repository: string): string[] {
  const keys: string[] = [];
  let k = repository ? `${registry}/${repository}` : registry;
  for (;;) {
    keys.push(k);
    const i = k.lastIndexOf('/');
    if (i < 0) return keys;
    k = k.slice(0, i);
  }
}

async function readAuthFile(p: AuthPath): Promise<AuthFileContents | undefined> {
  let text: string;
  try {
    text = (await readBoundedFile(p.path, { what: `auth file ${p.path}`, regularFile: true })).toString('utf8');
  } catch (e) {
    if (e instanceof FerryError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new FerryError(ErrorCode.Config, `reading auth file ${p.path}: ${(e as Error).message}`, { cause: e });
  }
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // The message of a JSON syntax error may quote the file's contents: keep it out.
    throw new FerryError(ErrorCode.Config, `auth file ${p.path} is not valid JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new FerryError(ErrorCode.Config, `auth file ${p.path} does not contain a JSON object`);
  }
  if (p.legacy) return { auths: parsed as Record<string, AuthEntry> };
  const c = parsed as AuthFileContents;
  if (c.auths !== undefined && (typeof c.auths !== 'object' || c.auths === null || Array.isArray(c.auths))) {
    throw new FerryError(ErrorCode.Config, `auth file ${p.path}: "auths" must be an object`);
  }
  return c;
}

function decodeEntry(e: AuthEntry, file: string, key: string): Credentials | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  let username = '';
  let password = '';
  if (typeof e.auth === 'string' && e.auth !== '') {
    const decoded = Buffer.from(e.auth, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i < 0) throw new FerryError(ErrorCode.Config, `auth file ${file}: the "auth" value for "${key}" is not base64 of "user:password"`);
    username = decoded.slice(0, i);
    password = decoded.slice(i + 1);
  } else if (typeof e.username === 'string') {
    username = e.username;
    password = typeof e.password === 'string' ? e.password : '';
  }
  const identityToken = typeof e.identitytoken === 'string' && e.identitytoken !== '' ? e.identitytoken : undefined;
  if (!username && !password && !identityToken) return undefined;
  return identityToken ? { username, password, identityToken } : { username, password };
}

/** Result of a detailed lookup: credentials and where they came from. */
export interface CredentialsLookup {
  credentials?: Credentials;
  /** File the credentials came from (or whose `credHelpers`/`credsStore` named the helper that gave them). */
  file?: string;
  /** The credential helper that gave them (`NAME` of `docker-credential-NAME`). */
  helper?: string;
}

/**
 * The places credentials are kept, in order: registries.conf's `credential-helpers` (`containers-auth.json` for the
 * auth files, another NAME for `docker-credential-NAME`), `["containers-auth.json"]` by default.
 */
export async function credentialHelpersFor(ctx: SystemContext): Promise<string[]> {
  return (await registriesConfFor(ctx)).credentialHelpers;
}

/**
 * Runs `step` for each of `helpers` in order until one gives a result (not undefined); a helper that fails is passed
 * over, as containers/image does, and the first failure is thrown only when no helper gave a result.
 */
async function firstOf<T>(helpers: string[], step: (helper: string) => Promise<T | undefined>): Promise<T | undefined> {
  let failure: unknown;
  for (const helper of helpers) {
    try {
      const r = await step(helper);
      if (r !== undefined) return r;
    } catch (e) {
      failure ??= e;
    }
  }
  if (failure !== undefined) throw failure;
  return undefined;
}

/**
 * Like {@link lookupCredentials}, also telling which file and helper the credentials came from. The places of
 * {@link credentialHelpersFor} are asked in order: the auth files as {@link lookupIn} says, a helper for the host.
 */
export async function lookupCredentialsDetailed(registry: string, repository: string, ctx: SystemContext): Promise<CredentialsLookup> {
  const host = normalizeRegistryHost(registry);
  const found = await firstOf(await credentialHelpersFor(ctx), async (helper) => {
    if (helper === AUTH_FILES_HELPER) {
      const r = await lookupIn(authPaths(ctx), registry, repository);
      return r.credentials ? r : undefined;
    }
    const credentials = await helperGet(helper, host);
    return credentials ? { credentials, helper } : undefined;
  });
  return found ?? {};
}

/**
 * Credentials for `registry/repository` from one Docker-format `config.json` only (`--compat-auth-file`; no other
 * file is read), with the same key matching as {@link lookupCredentials}.
 */
export async function lookupCredentialsInFile(file: string, registry: string, repository: string): Promise<Credentials | undefined> {
  return (await lookupIn([{ path: file, legacy: false }], registry, repository)).credentials;
}

/**
 * The key Docker's `config.json` uses for a `login` key (`https://index.docker.io/v1/` for Docker Hub).
 * @throws FerryError(E_USAGE) for a key naming a namespace, which Docker's format cannot hold.
 */
export function dockerCompatKey(key: string): string {
  if (key.includes('/')) {
    throw new FerryError(ErrorCode.Usage, `credentials cannot be recorded in Docker-compatible format with namespaced key "${key}"`);
  }
  return key === 'docker.io' ? 'https://index.docker.io/v1/' : key;
}

/** The `credHelpers` entry of `c` for `host` (Docker Hub may be written under its Docker CLI names). */
function credHelperFor(c: AuthFileContents, host: string): string | undefined {
  const h = c.credHelpers;
  if (typeof h !== 'object' || h === null) return undefined;
  const names = host === 'docker.io' ? [host, 'index.docker.io', 'https://index.docker.io/v1/'] : [host];
  for (const n of names) if (Object.hasOwn(h, n) && typeof h[n] === 'string' && h[n] !== '') return h[n];
  return undefined;
}

/** The `credsStore` of `c`, if it names one. */
function credsStoreOf(c: AuthFileContents): string | undefined {
  return typeof c.credsStore === 'string' && c.credsStore !== '' ? c.credsStore : undefined;
}

/**
 * Looks through `paths` in order; in each file, as containers/image: a `credHelpers` entry for the host decides
 * (the helper is asked for the host, never a namespace; if it has nothing, the next file is read), else the most
 * specific `auths` key, else an `auths` key written as a URL. Then, as Docker does, a `credsStore` is asked for the
 * host (containers/image ignores `credsStore`, so it comes after the file's own entries: ferry never picks other
 * credentials than skopeo where skopeo finds some).
 */
async function lookupIn(paths: AuthPath[], registry: string, repository: string): Promise<CredentialsLookup> {
  const host = normalizeRegistryHost(registry);
  const keys = authKeys(host, repository);
  for (const p of paths) {
    const c = await readAuthFile(p);
    if (!c) continue;
    const helper = credHelperFor(c, host);
    if (helper) {
      const creds = await helperGet(helper, host);
      if (creds) return { credentials: creds, file: p.path, helper };
      continue;
    }
    const auths = c.auths ?? {};
    for (const k of keys) {
      const e = Object.hasOwn(auths, k) ? auths[k] : undefined;
      const creds = e && decodeEntry(e, p.path, k);
      if (creds) return { credentials: creds, file: p.path };
    }
    for (const [k, e] of Object.entries(auths)) {
      if (normalizeFileKey(k, p.legacy) !== host) continue;
      const creds = decodeEntry(e, p.path, k);
      if (creds) return { credentials: creds, file: p.path };
    }
    const store = credsStoreOf(c);
    if (store) {
      const creds = await helperGet(store, host);
      if (creds) return { credentials: creds, file: p.path, helper: store };
    }
  }
  return {};
}

/**
 * Credentials for `registry/repository` from the auth files, most specific key first (`host/ns/repo`, `host/ns`,
 * `host`), then keys written as URLs (`https://index.docker.io/v1/` matches `docker.io`), with credential helpers
 * (`credHelpers`, `credsStore`) as {@link lookupIn} says. `ctx.credentials` and `ctx.noCreds` are not consulted here
 * (see the client).
 * @throws FerryError(E_CONFIG) for a file that is not valid JSON; FerryError(E_CREDENTIAL_HELPER) for a helper that
 * is missing or fails.
 */
export async function lookupCredentials(registry: string, repository: string, ctx: SystemContext): Promise<Credentials | undefined> {
  return (await lookupCredentialsDetailed(registry, repository, ctx)).credentials;
}

/**
 * Refuses to edit an auth file that is not a regular file: a symbolic link would be replaced by the rename (or, read
 * through, lend its target's contents), a device or a FIFO would be replaced (`--authfile /dev/null`), and a FIFO's
 * read would wait for a writer. A missing file is fine.
 */
async function checkEditable(file: string): Promise<void> {
  await checkReplaceable(file, `auth file ${file}`, { code: ErrorCode.Config });
}

async function readForUpdate(file: string): Promise<AuthFileContents> {
  await checkEditable(file);
  const c = await readAuthFile({ path: file, legacy: false });
  return c ?? {};
}

/** Writes `contents` to `file` atomically: a temp file in the same folder (mode 0600), fsync, rename. Folder mode 0700 when created. */
async function writeAtomically(file: string, contents: AuthFileContents): Promise<void> {
  const dir = dirname(file);
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new FerryError(ErrorCode.Io, `creating ${dir}: ${(e as Error).message}`, { cause: e });
  }
  const tmp = join(dir, `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(JSON.stringify(contents, null, '\t') + '\n');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await chmod(tmp, 0o600);
    await checkEditable(file);
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    if (e instanceof FerryError) throw e;
    throw new FerryError(ErrorCode.Io, `writing auth file ${file}: ${(e as Error).message}`, { cause: e });
  }
}

/** Where a write went: the file's `auths`, or a credential helper. */
export interface StoredIn {
  /** The helper (`NAME` of `docker-credential-NAME`) that holds the credentials, if a helper does. */
  helper?: string;
}

/** The registry host of a login key (`host` or `host/ns/repo`) and whether it names a namespace. */
function splitKey(key: string): { host: string; namespaced: boolean } {
  const i = key.indexOf('/');
  return i < 0 ? { host: key, namespaced: false } : { host: key.slice(0, i), namespaced: true };
}

/** The helper that holds `host`'s credentials for the file `c`: its `credHelpers` entry, else its `credsStore`. */
function helperOfFile(c: AuthFileContents, host: string): string | undefined {
  return credHelperFor(c, host) ?? credsStoreOf(c);
}

function namespacedHelperError(helper: string, key: string): FerryError {
  return new FerryError(ErrorCode.Usage, `credentials for the namespaced key "${key}" cannot be stored in credential helper docker-credential-${helper}, which holds whole registries only`);
}

/**
 * Stores credentials for `key` (`host` or `host/ns/repo`; `fileKey` is its spelling in the file, see
 * {@link dockerCompatKey}) in the first of `helpers` (registries.conf's `credential-helpers`, see
 * {@link credentialHelpersFor}) that takes them. In `file` (`containers-auth.json`), every other entry and top-level
 * field is kept; when the file names a helper for the host (`credHelpers`, else `credsStore`), that helper stores them
 * (for the host) and the file is not changed. A helper holds whole registries only: a namespaced key goes to the file.
 * @throws FerryError(E_USAGE) for a namespaced key no place can hold; FerryError(E_CREDENTIAL_HELPER) when every
 *         place failed (the first failure).
 */
export async function saveCredentials(
  file: string,
  fileKey: string,
  creds: { username: string; password: string },
  key = fileKey,
  helpers: string[] = [AUTH_FILES_HELPER],
): Promise<StoredIn> {
  const { host, namespaced } = splitKey(key);
  const stored = await firstOf(helpers, async (helper): Promise<StoredIn> => {
    if (helper === AUTH_FILES_HELPER) return saveInFile(file, fileKey, creds, key);
    if (namespaced) throw namespacedHelperError(helper, key);
    await helperStore(helper, host, creds);
    return { helper };
  });
  return stored!;
}

async function saveInFile(file: string, fileKey: string, creds: { username: string; password: string }, key: string): Promise<StoredIn> {
  const c = await readForUpdate(file);
  const { host, namespaced } = splitKey(key);
  const helper = helperOfFile(c, host);
  if (helper) {
    if (namespaced) throw namespacedHelperError(helper, key);
    await helperStore(helper, host, creds);
    return { helper };
  }
  const auths = { ...(c.auths ?? {}) };
  auths[fileKey] = { auth: Buffer.from(`${creds.username}:${creds.password}`, 'utf8').toString('base64') };
  await writeAtomically(file, { ...c, auths });
  return {};
}

/**
 * Removes the credentials of `key` (`fileKey` as in {@link saveCredentials}) from every one of `helpers`: from
 * `file`, the helper it names for the host and the `auths` entry; from a helper, its entry for the host (a namespaced
 * key is never in a helper). False if none had any.
 * @throws FerryError(E_CREDENTIAL_HELPER) when a helper fails (the others are still cleared; the file is then left as
 *         it was when its own helper failed).
 */
export async function removeCredentials(file: string, fileKey: string, key = fileKey, helpers: string[] = [AUTH_FILES_HELPER]): Promise<boolean> {
  const { host, namespaced } = splitKey(key);
  let removed = false;
  await everyOf(helpers, async (helper) => {
    if (helper === AUTH_FILES_HELPER) removed = (await removeFromFile(file, fileKey, key)) || removed;
    else if (!namespaced) removed = (await helperErase(helper, host)) || removed;
  });
  return removed;
}

/** Runs `step` for every one of `helpers`; the first failure is thrown once all have run. */
async function everyOf(helpers: string[], step: (helper: string) => Promise<void>): Promise<void> {
  let failure: unknown;
  for (const helper of helpers) {
    try {
      await step(helper);
    } catch (e) {
      failure ??= e;
    }
  }
  if (failure !== undefined) throw failure;
}

async function removeFromFile(file: string, fileKey: string, key: string): Promise<boolean> {
  const c = await readForUpdate(file);
  const { host, namespaced } = splitKey(key);
  const helper = helperOfFile(c, host);
  const erased = helper && !namespaced ? await helperErase(helper, host) : false;
  if (!c.auths || !Object.hasOwn(c.auths, fileKey)) return erased;
  const auths = { ...c.auths };
  delete auths[fileKey];
  await writeAtomically(file, { ...c, auths });
  return true;
}

/**
 * Removes every stored credential from every one of `helpers`. From `file`: each registry of its `credHelpers` is
 * erased from its helper, every entry its `credsStore` lists is erased from it, then `auths` and `credHelpers` are
 * emptied (as containers/image does; other fields, `credsStore` included, are kept; a missing file is fine). From a
 * helper: every server it lists (a helper that is not installed has nothing to remove).
 * @throws FerryError(E_CREDENTIAL_HELPER) when a helper fails (the file is then left as it was).
 */
export async function removeAllCredentials(file: string, helpers: string[] = [AUTH_FILES_HELPER]): Promise<void> {
  await everyOf(helpers, async (helper) => {
    if (helper === AUTH_FILES_HELPER) return removeAllFromFile(file);
    let servers: string[];
    try {
      servers = await helperList(helper);
    } catch (e) {
      if (e instanceof MissingHelperError) return;
      throw e;
    }
    for (const server of servers) await helperErase(helper, server);
  });
}

async function removeAllFromFile(file: string): Promise<void> {
  await checkEditable(file);
  const c = await readAuthFile({ path: file, legacy: false });
  if (!c) return;
  if (typeof c.credHelpers === 'object' && c.credHelpers !== null) {
    for (const [registry, helper] of Object.entries(c.credHelpers)) if (typeof helper === 'string' && helper !== '') await helperErase(helper, registry);
  }
  const store = credsStoreOf(c);
  if (store) for (const server of await helperList(store)) await helperErase(store, server);
  const rest = { ...c };
  delete rest.auths;
  delete rest.credHelpers;
  await writeAtomically(file, { ...rest, auths: {} });
}
