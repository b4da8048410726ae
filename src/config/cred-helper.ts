/**
 * Docker credential helpers: the `docker-credential-NAME get|store|erase|list` protocol of
 * github.com/docker/docker-credential-helpers, which `credHelpers` and `credsStore` in auth files name.
 *
 * A helper is a program on `$PATH`. `get` and `erase` read the server (a registry host) on stdin; `store` reads
 * `{"ServerURL","Username","Secret"}`; `get` answers the same object and `list` a `{server: username}` object on stdout.
 * A helper that cannot find an entry exits non-zero with the text `credentials not found in native keychain`.
 *
 * What a helper prints may hold secrets (its answer) or echo its input: none of it is ever put in an error message,
 * and its stderr is discarded. Errors name the helper, the action and the registry only.
 *
 * A helper that has not answered within {@link helperTimeoutMs} (60 s, or `FERRY_CREDENTIAL_HELPER_TIMEOUT`
 * seconds) is killed and the action fails: containers/image waits forever, but a helper stuck on a locked keychain
 * must not hang a sync. The wait is generous because a helper may ask for a passphrase.
 */
import { FerryError, ErrorCode } from '../errors.js';
import type { Credentials } from './auth-file.js';

/** The largest answer read from a helper (a `list` of many registries stays far below). */
const MAX_OUTPUT = 1 << 20;

/** The environment variable that sets the helper timeout, in seconds (0: none). */
export const HELPER_TIMEOUT_ENV = 'FERRY_CREDENTIAL_HELPER_TIMEOUT';

/** How long a helper may take to answer by default. */
const DEFAULT_HELPER_TIMEOUT_MS = 60_000;

/**
 * How long a helper may take to answer, in ms (Infinity for none): `FERRY_CREDENTIAL_HELPER_TIMEOUT` seconds, else 60 s.
 * @throws FerryError(E_CONFIG) for a value that is not a number of seconds.
 */
export function helperTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const v = env[HELPER_TIMEOUT_ENV];
  if (v === undefined || v === '') return DEFAULT_HELPER_TIMEOUT_MS;
  if (!/^\d+(\.\d+)?$/.test(v.trim())) {
    throw new FerryError(ErrorCode.Config, `${HELPER_TIMEOUT_ENV}=${JSON.stringify(v.slice(0, 32))}: expected a number of seconds`);
  }
  const ms = Number(v) * 1000;
  return ms === 0 ? Infinity : Math.max(1, Math.round(ms));
}

/** The message every helper of docker-credential-helpers prints for a missing entry. */
const NOT_FOUND = 'credentials not found in native keychain';

/** The username a helper returns with an identity (refresh) token in `Secret`. */
const TOKEN_USERNAME = '<token>';

type Action = 'get' | 'store' | 'erase' | 'list';

interface HelperResult {
  /** Exit status (null when killed by a signal). */
  status: number | null;
  stdout: Buffer;
}

/** `docker-credential-NAME`, refusing names that would run something else than a program looked up on `$PATH`. */
export function helperProgram(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._+-]*$/.test(name)) {
    throw new FerryError(ErrorCode.Config, `invalid credential helper name ${JSON.stringify(name.slice(0, 64))}`);
  }
  return `docker-credential-${name}`;
}

/** A helper program that is not installed (not found in `$PATH`). */
export class MissingHelperError extends FerryError {
  constructor(program: string) {
    super(ErrorCode.CredentialHelper, `credential helper ${program} not found in $PATH`);
  }
}

function failure(program: string, action: Action, server: string | undefined, why: string): FerryError {
  const what = server === undefined ? `${action}` : `${action} for ${server}`;
  return new FerryError(ErrorCode.CredentialHelper, `credential helper ${program} failed (${what}): ${why}`);
}

async function runHelper(name: string, action: Action, input: string, server: string | undefined): Promise<HelperResult> {
  const program = helperProgram(name);
  const timeoutMs = helperTimeoutMs();
  // loaded here, not with the module: every registry command imports this module, few run a helper, and initializing
  // node:child_process (and dgram with it) is a measurable part of a command's start-up
  const { spawn } = await import('node:child_process');
  return new Promise<HelperResult>((resolve, reject) => {
    const child = spawn(program, [action], { stdio: ['pipe', 'pipe', 'ignore'] });
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    // On timeout the helper is killed and the action fails at once: a process the helper started may still hold
    // its stdout open, so waiting for the pipe to close could last as long as that process.
    const timer = Number.isFinite(timeoutMs)
      ? setTimeout(() => {
          child.kill('SIGKILL');
          child.stdout.destroy();
          reject(failure(program, action, server, `no answer within ${formatSeconds(timeoutMs)} (${HELPER_TIMEOUT_ENV})`));
        }, timeoutMs)
      : undefined;
    child.stdout.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_OUTPUT) {
        tooLarge = true;
        child.kill('SIGKILL');
        return;
      }
      chunks.push(c);
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (e.code === 'ENOENT') reject(new MissingHelperError(program));
      else reject(failure(program, action, server, e.code ?? 'cannot run it'));
    });
    // a helper that exits without reading its input closes the pipe: that is its business, not an error here
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
    child.on('close', (status) => {
      clearTimeout(timer);
      if (tooLarge) reject(failure(program, action, server, `answer larger than ${MAX_OUTPUT} bytes`));
      else resolve({ status, stdout: Buffer.concat(chunks) });
    });
  });
}

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

function isNotFound(r: HelperResult): boolean {
  return r.status !== 0 && r.stdout.toString('utf8').trim() === NOT_FOUND;
}

function exitText(r: HelperResult): string {
  return r.status === null ? 'killed by a signal' : `exit status ${r.status}`;
}

/**
 * Credentials for `server` (a registry host, `docker.io` for Docker Hub) from helper `name`; undefined when the
 * helper has none. A `<token>` username means an identity token, as containers/image reads it.
 * @throws FerryError(E_CREDENTIAL_HELPER) when the helper is missing, fails or answers something that is not its JSON.
 */
export async function helperGet(name: string, server: string): Promise<Credentials | undefined> {
  const program = helperProgram(name);
  const r = await runHelper(name, 'get', server, server);
  if (isNotFound(r)) return undefined;
  if (r.status !== 0) throw failure(program, 'get', server, exitText(r));
  let j: { Username?: unknown; Secret?: unknown };
  try {
    j = JSON.parse(r.stdout.toString('utf8')) as typeof j;
  } catch {
    throw failure(program, 'get', server, 'its answer is not JSON');
  }
  if (typeof j !== 'object' || j === null || typeof j.Secret !== 'string' || (j.Username !== undefined && typeof j.Username !== 'string')) {
    throw failure(program, 'get', server, 'its answer has no "Secret" string');
  }
  const username = (j.Username as string | undefined) ?? '';
  if (username === TOKEN_USERNAME) return { username: '', password: '', identityToken: j.Secret };
  if (username === '' && j.Secret === '') return undefined;
  return { username, password: j.Secret };
}

/** Stores credentials for `server` in helper `name`. @throws FerryError(E_CREDENTIAL_HELPER) */
export async function helperStore(name: string, server: string, creds: { username: string; password: string }): Promise<void> {
  const input = JSON.stringify({ ServerURL: server, Username: creds.username, Secret: creds.password });
  const r = await runHelper(name, 'store', input, server);
  if (r.status !== 0) throw failure(helperProgram(name), 'store', server, exitText(r));
}

/**
 * Erases the entry for `server` from helper `name`: true if it had one, false if not.
 * @throws FerryError(E_CREDENTIAL_HELPER)
 */
export async function helperErase(name: string, server: string): Promise<boolean> {
  const r = await runHelper(name, 'erase', server, server);
  if (isNotFound(r)) return false;
  if (r.status !== 0) throw failure(helperProgram(name), 'erase', server, exitText(r));
  return true;
}

/** The servers helper `name` holds credentials for. @throws FerryError(E_CREDENTIAL_HELPER) */
export async function helperList(name: string): Promise<string[]> {
  const program = helperProgram(name);
  const r = await runHelper(name, 'list', '', undefined);
  if (r.status !== 0) throw failure(program, 'list', undefined, exitText(r));
  let j: unknown;
  try {
    j = JSON.parse(r.stdout.toString('utf8'));
  } catch {
    throw failure(program, 'list', undefined, 'its answer is not JSON');
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw failure(program, 'list', undefined, 'its answer is not a JSON object');
  return Object.keys(j);
}
