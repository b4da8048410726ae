/**
 * Running GnuPG (`gpg`) to find and export keys of the user's keyring; ferry does its OpenPGP work itself. Key names
 * are resolved by gpg itself (`--list-secret-keys NAME`), so whatever gpg accepts names a key: a fingerprint, a long or
 * short key ID, an e-mail address, part of a user ID.
 */
import { spawn } from 'node:child_process';
import { FerryError, ErrorCode } from '../errors.js';

/** Options of {@link exportFromGpg}. */
export interface GpgExportOptions {
  /** Environment of the gpg process (`GNUPGHOME`, `PATH`, …). Default: `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** A passphrase to hand to gpg (loopback pinentry), for exporting a protected secret key. */
  passphrase?: string;
  /** Aborting kills gpg. */
  signal?: AbortSignal;
}

/**
 * Exports the key with fingerprint `fingerprint` from the GnuPG keyring (`gpg --export`, or
 * `--export-secret-keys` when `secret`) as binary OpenPGP packets. gpg runs in batch mode with the loopback
 * pinentry, so it never prompts.
 * @returns the exported bytes: empty if the keyring has no such key.
 * @throws FerryError(E_SIGNATURE) if gpg cannot be run or fails (its last error line included),
 *   E_ABORTED if `signal` aborts.
 */
export async function exportFromGpg(fingerprint: string, secret: boolean, opts: GpgExportOptions = {}): Promise<Buffer> {
  const args = ['--batch', '--no-tty', '--pinentry-mode', 'loopback'];
  if (opts.passphrase !== undefined) args.push('--passphrase-fd', '0');
  args.push(secret ? '--export-secret-keys' : '--export', fingerprint);
  const what = `exporting ${secret ? 'secret' : 'public'} key ${fingerprint} from the GnuPG keyring`;
  if (opts.signal?.aborted) throw new FerryError(ErrorCode.Aborted, `${what}: aborted`, { cause: opts.signal.reason });
  return new Promise((resolve, reject) => {
    const child = spawn('gpg', args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const onAbort = () => child.kill('SIGKILL');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => {});
    child.stdin.end(opts.passphrase !== undefined ? opts.passphrase + '\n' : undefined);
    child.on('error', (e: NodeJS.ErrnoException) => {
      opts.signal?.removeEventListener('abort', onAbort);
      const hint = e.code === 'ENOENT' ? 'gpg is not installed (give the key as a file instead)' : e.message;
      reject(new FerryError(ErrorCode.Signature, `${what}: ${hint}`, { cause: e }));
    });
    child.on('close', (code) => {
      opts.signal?.removeEventListener('abort', onAbort);
      if (opts.signal?.aborted) {
        reject(new FerryError(ErrorCode.Aborted, `${what}: aborted`, { cause: opts.signal.reason }));
      } else if (code !== 0) {
        const text = Buffer.concat(err).toString('utf8');
        const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
        if (/Bad passphrase/.test(text)) reject(new FerryError(ErrorCode.Signature, `${what}: Bad passphrase`));
        else if (/can't get input|No passphrase given|Operation cancelled/i.test(text)) reject(new FerryError(ErrorCode.Signature, `${what}: the key is protected by a passphrase, and none was given`));
        else reject(new FerryError(ErrorCode.Signature, `${what}: gpg failed (exit status ${code})${lines.length ? `: ${lines.at(-1)}` : ''}`));
      } else {
        resolve(Buffer.concat(out));
      }
    });
  });
}

/** Runs gpg with `args`, resolving to its exit status, stdout and stderr. */
function runGpg(args: string[], opts: GpgExportOptions): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('gpg', ['--batch', '--no-tty', ...args], { env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    const onAbort = () => child.kill('SIGKILL');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (b: Buffer) => {
      size += b.length;
      // a keyring listing of one name is small; a runaway one is cut off
      if (size > 16 * 1024 * 1024) child.kill('SIGKILL');
      else out.push(b);
    });
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: NodeJS.ErrnoException) => {
      opts.signal?.removeEventListener('abort', onAbort);
      reject(new FerryError(ErrorCode.Signature, `running gpg: ${e.code === 'ENOENT' ? 'gpg is not installed' : e.message}`, { cause: e }));
    });
    child.on('close', (code) => {
      opts.signal?.removeEventListener('abort', onAbort);
      if (opts.signal?.aborted) reject(new FerryError(ErrorCode.Aborted, 'running gpg: aborted', { cause: opts.signal.reason }));
      else resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

/** A secret key as `gpg --with-colons --list-secret-keys` lists it. */
interface ListedKey {
  fingerprint: string;
  subkeys: string[];
}

function parseColons(text: string): ListedKey[] {
  const keys: ListedKey[] = [];
  let last: 'sec' | 'ssb' | undefined;
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === 'sec' || f[0] === 'ssb') last = f[0];
    else if (f[0] === 'fpr' && last !== undefined) {
      const fpr = (f[9] ?? '').toUpperCase();
      if (last === 'sec') keys.push({ fingerprint: fpr, subkeys: [] });
      else keys.at(-1)?.subkeys.push(fpr);
      last = undefined;
    } else if (f[0] !== 'grp' && f[0] !== 'uid' && f[0] !== 'uat') last = undefined;
  }
  return keys;
}

/**
 * The fingerprint of the secret key `name` names, resolved by gpg the way `gpg --local-user NAME` resolves it: a
 * fingerprint, a long or short key ID (`0x` prefix and a trailing `!` allowed), an e-mail address or part of a user
 * ID. A name that is a subkey's fingerprint or key ID gives that subkey's fingerprint; any other, the primary key's.
 * @throws FerryError(E_SIGNATURE) if gpg knows no secret key by that name, or more than one.
 */
export async function resolveGpgSecretKey(name: string, opts: GpgExportOptions = {}): Promise<string> {
  if (name.trim() === '') throw new FerryError(ErrorCode.Usage, 'empty signing key name');
  const r = await runGpg(['--with-colons', '--fixed-list-mode', '--list-secret-keys', '--', name], opts);
  const keys = r.code === 0 ? parseColons(r.stdout) : [];
  if (keys.length === 0) {
    const reason = r.stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '').at(-1);
    throw new FerryError(ErrorCode.Signature, `no secret key ${JSON.stringify(name)} in the GnuPG keyring${reason && !/No secret key/i.test(reason) ? ` (${reason})` : ''}`);
  }
  if (keys.length > 1) {
    throw new FerryError(ErrorCode.Signature, `signing key name ${JSON.stringify(name)} is ambiguous: it names ${keys.length} secret keys (${keys.map((k) => k.fingerprint).join(', ')})`);
  }
  const key = keys[0]!;
  const hex = name.trim().replace(/!$/, '').replace(/^0x/i, '').replace(/\s+/g, '').toUpperCase();
  if (/^[0-9A-F]{8,64}$/.test(hex)) {
    const sub = key.subkeys.find((s) => s.endsWith(hex));
    if (sub !== undefined && !key.fingerprint.endsWith(hex)) return sub;
  }
  return key.fingerprint;
}
