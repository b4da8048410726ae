/** Running GnuPG (`gpg`) to export keys from the user's keyring; ferry does its OpenPGP work itself. */
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
        const lines = Buffer.concat(err).toString('utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '');
        reject(new FerryError(ErrorCode.Signature, `${what}: gpg failed (exit status ${code})${lines.length ? `: ${lines.at(-1)}` : ''}`));
      } else {
        resolve(Buffer.concat(out));
      }
    });
  });
}
