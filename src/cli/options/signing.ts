/**
 * Signing flags of `copy` and `sync` (skopeo's): `--sign-by KEY` (simple signing with a key of the GnuPG keyring),
 * `--sign-by-sigstore-private-key FILE`, `--sign-by-sigstore PARAMFILE`, `--sign-passphrase-file`,
 * `--sign-identity`. Keys are loaded and unlocked once, before anything is copied; without a passphrase file a
 * protected key's passphrase is asked on the terminal.
 */
import type { Options } from 'yargs';
import type { CliContext } from '../command.js';
import { FerryError, ErrorCode } from '../../errors.js';
import type { ManifestSigner } from '../../signature/signer.js';
import { VERSION } from '../../version.js';

export const signingFlags: Record<string, Options> = {
  'sign-by': { type: 'string', describe: 'sign the image with the GnuPG key KEY (fingerprint, key ID or e-mail address)', requiresArg: true },
  'sign-by-sigstore-private-key': { type: 'string', describe: 'sign the image with the sigstore private key in FILE', requiresArg: true },
  'sign-by-sigstore': { type: 'string', describe: 'sign the image as the sigstore parameter file PARAMFILE says', requiresArg: true },
  'sign-passphrase-file': { type: 'string', describe: 'read the passphrase of the signing key from the first line of FILE', requiresArg: true },
  'sign-identity': { type: 'string', describe: 'the identity to sign the image as (full name with tag or digest; default: the destination)', requiresArg: true },
};

const usage = (m: string) => new FerryError(ErrorCode.Usage, m);

/** What the signing flags ask for. */
export interface SigningChoice {
  signers: ManifestSigner[];
  signIdentity?: string;
}

/**
 * Checks `--sign-identity`: a full name (`host/repo:tag` or `@digest`) written as containers/image's canonical form.
 * @throws FerryError(E_USAGE)
 */
export async function checkSignIdentity(s: string): Promise<string> {
  const { parseNormalizedName, fullString } = await import('../../reference/name.js');
  const n = parseNormalizedName(s);
  if (n.tag === undefined && n.digest === undefined) throw usage(`--sign-identity ${s}: must be a fully specified reference (with a tag or digest)`);
  if (fullString(n) !== s) throw usage(`--sign-identity ${s}: must be a full name, e.g. ${fullString(n)}`);
  return s;
}

function isPassphraseMissing(e: unknown): boolean {
  return e instanceof FerryError && e.code === ErrorCode.Signature && /protected by a passphrase/.test(e.message) && !/Bad passphrase/.test(e.message);
}

/** Asks for a passphrase on the terminal, or fails naming the flag. */
async function askPassphrase(cli: CliContext, what: string): Promise<string> {
  const { ask } = await import('../prompt.js');
  return ask(cli.io, `Passphrase for ${what}: `, { secret: true, flag: '--sign-passphrase-file' });
}

async function gpgSigner(name: string, passphrase: string | undefined, cli: CliContext): Promise<ManifestSigner> {
  const { resolveGpgSecretKey } = await import('../../signature/gpg.js');
  const { loadSigningKey } = await import('../../signature/keys.js');
  const { simpleSigningSigner } = await import('../../signature/signers.js');
  const env = cli.io.env;
  const fingerprint = await resolveGpgSecretKey(name, { env, signal: cli.signal });
  let key;
  try {
    key = await loadSigningKey({ fingerprint, passphrase, env, signal: cli.signal });
  } catch (e) {
    if (passphrase !== undefined || !isPassphraseMissing(e)) throw e;
    if (!(cli.io.stdin as NodeJS.ReadStream).isTTY) {
      throw new FerryError(ErrorCode.Signature, `signing key ${fingerprint} is protected by a passphrase: give it with --sign-passphrase-file`, { cause: e });
    }
    key = await loadSigningKey({ fingerprint, passphrase: await askPassphrase(cli, `key ${fingerprint}`), env, signal: cli.signal });
  }
  return simpleSigningSigner(key, `ferry ${VERSION}`);
}

async function sigstoreKeySigner(file: string, passphrase: string | undefined, cli: CliContext): Promise<ManifestSigner> {
  const { readInputFile } = await import('../../signature/keys.js');
  const { decryptPrivateKey } = await import('../../signature/sigstore/key.js');
  const { sigstoreSigner } = await import('../../signature/signers.js');
  const bytes = await readInputFile(file, 'sigstore private key', cli.signal);
  if (bytes.length > 4 * 1024 * 1024) throw new FerryError(ErrorCode.Signature, `${file}: larger than 4 MiB`);
  const pass = passphrase ?? (await askPassphrase(cli, file));
  const key = await decryptPrivateKey(bytes.toString('utf8'), pass, file);
  return sigstoreSigner(key, `ferry ${VERSION}`);
}

/**
 * The signers the flags ask for (none without signing flags), keys loaded and unlocked.
 * @throws FerryError(E_USAGE) for conflicting flags; E_SIGNATURE / E_CONFIG / E_UNSUPPORTED for keys that cannot be used.
 */
export async function signingFromArgs(args: Record<string, unknown>, cli: CliContext): Promise<SigningChoice> {
  const signBy = args['sign-by'] as string | undefined;
  const sigstoreKey = args['sign-by-sigstore-private-key'] as string | undefined;
  const paramFile = args['sign-by-sigstore'] as string | undefined;
  const passFile = args['sign-passphrase-file'] as string | undefined;
  const identity = args['sign-identity'] as string | undefined;
  const out: SigningChoice = { signers: [] };
  if (signBy === undefined && sigstoreKey === undefined && paramFile === undefined) {
    if (passFile !== undefined) throw usage('--sign-passphrase-file needs --sign-by or --sign-by-sigstore-private-key');
    if (identity !== undefined) throw usage('--sign-identity needs a signing flag (--sign-by, --sign-by-sigstore-private-key, --sign-by-sigstore)');
    return out;
  }
  if (passFile !== undefined && signBy !== undefined && sigstoreKey !== undefined) {
    throw usage('only one of --sign-by and --sign-by-sigstore-private-key can be used with --sign-passphrase-file');
  }
  if (identity !== undefined) out.signIdentity = await checkSignIdentity(identity);
  const { readPassphraseFile } = await import('../../signature/keys.js');
  const passphrase = passFile !== undefined ? await readPassphraseFile(passFile, cli.signal) : undefined;
  if (signBy !== undefined) out.signers.push(await gpgSigner(signBy, passphrase, cli));
  if (paramFile !== undefined) {
    const { readSigstoreParamFile } = await import('../../signature/signers.js');
    const params = await readSigstoreParamFile(paramFile, cli.signal);
    const pass = params.privateKeyPassphraseFile !== undefined ? await readPassphraseFile(params.privateKeyPassphraseFile, cli.signal) : undefined;
    out.signers.push(await sigstoreKeySigner(params.privateKeyFile!, pass, cli));
  }
  if (sigstoreKey !== undefined) out.signers.push(await sigstoreKeySigner(sigstoreKey, passphrase, cli));
  return out;
}
