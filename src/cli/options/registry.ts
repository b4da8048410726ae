import type { Options } from 'yargs';
import type { SystemContext } from '../../types/context.js';
import { FerryError, ErrorCode } from '../../errors.js';
import { parseDuration } from './duration.js';

/** Which side of an operation a flag group belongs to: plain (`--creds`), source (`--src-creds`) or destination (`--dest-creds`). */
export type Side = '' | 'src-' | 'dest-';

const sideName = (side: Side) => (side === 'src-' ? 'source ' : side === 'dest-' ? 'destination ' : '');

/** skopeo's hidden short names of `--src-creds` / `--dest-creds`, accepted by every command with per-side flags. */
const CREDS_ALIAS: Record<Side, string | undefined> = { '': undefined, 'src-': 'screds', 'dest-': 'dcreds' };

/**
 * `--authfile` for commands with two sides (copy, sync): one file for both, as skopeo; `--src-authfile` and
 * `--dest-authfile` take precedence for their side.
 */
export const sharedAuthFileFlag: Record<string, Options> = {
  authfile: { type: 'string', describe: 'path of the authentication file for both sides (--src-authfile and --dest-authfile take precedence)', requiresArg: true },
};

/** The registry access flags of one side: credentials, TLS and auth file. */
export function registryFlags(side: Side): Record<string, Options> {
  const s = sideName(side);
  const alias = CREDS_ALIAS[side];
  return {
    ...(alias ? { [alias]: { type: 'string', describe: `alias of --${side}creds`, requiresArg: true, hidden: true } satisfies Options } : {}),
    [`${side}authfile`]: { type: 'string', describe: `path of the ${s}authentication file`, requiresArg: true },
    [`${side}creds`]: { type: 'string', describe: `use USERNAME[:PASSWORD] for accessing the ${s}registry`, requiresArg: true },
    [`${side}username`]: { type: 'string', describe: `username for accessing the ${s}registry`, requiresArg: true },
    [`${side}password`]: { type: 'string', describe: `password for accessing the ${s}registry`, requiresArg: true },
    [`${side}registry-token`]: { type: 'string', describe: `bearer token for accessing the ${s}registry`, requiresArg: true },
    [`${side}no-creds`]: { type: 'boolean', describe: `access the ${s}registry anonymously` },
    [`${side}tls-verify`]: { type: 'boolean', describe: `require HTTPS and verify certificates when talking to the ${s}registry`, defaultDescription: 'true, unless registries.conf says insecure' },
    [`${side}cert-dir`]: { type: 'string', describe: `use certificates at PATH (*.crt, *.cert, *.key) to connect to the ${s}registry`, requiresArg: true },
  };
}

/** `--retry-times` and `--retry-delay`, shared by every command that talks to a registry. */
export const retryFlags: Record<string, Options> = {
  'retry-times': { type: 'number', describe: 'number of times to retry on network errors, 429 and 5xx', requiresArg: true, defaultDescription: '3' },
  'retry-delay': { type: 'string', describe: 'fixed delay between retries (e.g. 500ms, 2s)', requiresArg: true, defaultDescription: 'exponential backoff from 1s' },
  'max-requests-per-second': { type: 'string', describe: 'send at most N requests a second to registry HOST[:PORT] (HOST=N; repeat for more hosts)', requiresArg: true },
};

/** Parses `--max-requests-per-second HOST=N` (one or repeated) into a rate by host. */
export function parseMaxRequestsPerSecond(value: string | string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of (Array.isArray(value) ? value : [value]).map(String)) {
    const i = item.lastIndexOf('=');
    const host = item.slice(0, Math.max(0, i)).trim().toLowerCase();
    const rate = item.slice(i + 1).trim();
    const n = Number(rate);
    if (i <= 0 || host === '' || /[\s/]/.test(host) || rate === '' || !Number.isFinite(n) || n <= 0) {
      throw new FerryError(ErrorCode.Usage, `invalid --max-requests-per-second "${item}": expected HOST[:PORT]=N with N > 0`);
    }
    out[host] = n;
  }
  return out;
}

type Args = Record<string, unknown>;

/**
 * `USERNAME[:PASSWORD]` as skopeo reads `--creds`: split at the first colon; without one, the whole value is the
 * user name and the password is empty (skopeo does not prompt). Empty values and an empty user name are refused.
 */
export function parseCreds(value: string, flag: string): { username: string; password: string } {
  if (value === '') throw new FerryError(ErrorCode.Usage, `${flag}: credentials can't be empty`);
  const i = value.indexOf(':');
  if (i === 0) throw new FerryError(ErrorCode.Usage, `${flag}: username can't be empty`);
  return i < 0 ? { username: value, password: '' } : { username: value.slice(0, i), password: value.slice(i + 1) };
}

/** Builds the SystemContext of one side from parsed flags and the global ones. */
export function contextFromArgs(args: Args, side: Side, env: NodeJS.ProcessEnv): SystemContext {
  const get = <T>(name: string): T | undefined => args[`${side}${name}`] as T | undefined;
  const ctx: SystemContext = {};
  const authFile = get<string>('authfile') ?? (side ? (args['authfile'] as string | undefined) : undefined) ?? env.REGISTRY_AUTH_FILE;
  if (authFile) ctx.authFile = authFile;
  const alias = CREDS_ALIAS[side];
  const creds = get<string>('creds') ?? (alias ? (args[alias] as string | undefined) : undefined);
  const username = get<string>('username');
  const password = get<string>('password');
  if (creds !== undefined && (username !== undefined || password !== undefined)) {
    throw new FerryError(ErrorCode.Usage, `--${side}creds and --${side}username/--${side}password are mutually exclusive`);
  }
  if (creds !== undefined) {
    ctx.credentials = parseCreds(creds, `--${side}creds`);
  } else if (username !== undefined || password !== undefined) {
    // skopeo asks both to be given, not to be non-empty
    if (username === undefined || password === undefined) throw new FerryError(ErrorCode.Usage, `--${side}username and --${side}password must be given together`);
    ctx.credentials = { username, password };
  }
  const token = get<string>('registry-token');
  if (token !== undefined) ctx.registryToken = token;
  if (get<boolean>('no-creds')) {
    if (ctx.credentials || ctx.registryToken) {
      throw new FerryError(ErrorCode.Usage, `--${side}no-creds cannot be combined with credentials`);
    }
    ctx.noCreds = true;
  }
  const tlsVerify = get<boolean>('tls-verify');
  if (tlsVerify !== undefined) ctx.tlsVerify = tlsVerify;
  const certDir = get<string>('cert-dir');
  if (certDir) ctx.certDir = certDir;
  const retryTimes = args['retry-times'] as number | undefined;
  if (retryTimes !== undefined) {
    if (!Number.isInteger(retryTimes) || retryTimes < 0) throw new FerryError(ErrorCode.Usage, '--retry-times must be a non-negative integer');
    ctx.retryTimes = retryTimes;
  }
  const retryDelay = args['retry-delay'] as string | undefined;
  if (retryDelay !== undefined) ctx.retryDelayMs = parseDuration(retryDelay, '--retry-delay');
  const maxRate = args['max-requests-per-second'] as string | string[] | undefined;
  if (maxRate !== undefined) ctx.maxRequestsPerSecond = parseMaxRequestsPerSecond(maxRate);
  const registriesConf = args['registries-conf'] as string | undefined;
  if (registriesConf) ctx.registriesConf = registriesConf;
  const registriesD = args['registries.d'] as string | undefined;
  if (registriesD) ctx.registriesDirPath = registriesD;
  const os = args['override-os'] as string | undefined;
  const architecture = args['override-arch'] as string | undefined;
  const variant = args['override-variant'] as string | undefined;
  if (os || architecture || variant) ctx.platform = { os, architecture, variant };
  const tmpDir = (args['tmpdir'] as string | undefined) || env.TMPDIR;
  if (tmpDir) ctx.tmpDir = tmpDir;
  return ctx;
}
