/**
 * Loading OpenPGP keys for simple signing: private keys from a file or the GnuPG keyring (for signing), public
 * keys from files or the GnuPG keyring (for verifying).
 */
import type * as OpenPgp from 'openpgp';
import { openpgp } from './openpgp.js';
import { FerryError, ErrorCode } from '../errors.js';
import { exportFromGpg } from './gpg.js';
import { MAX_JSON_BYTES, readBoundedFile } from '../util/bounded-read.js';

/** Key files (armored or binary keyrings) are read whole up to this size: 64 MiB. */
const MAX_KEY_FILE_BYTES = 64 * 1024 * 1024;

/** A private key ready to sign with: decrypted, with the (sub)key chosen. */
export interface SigningKey {
  /** The decrypted key. */
  key: OpenPgp.PrivateKey;
  /** The key ID of the (sub)key that signs. */
  signingKeyId: OpenPgp.KeyID;
  /** The fingerprint (upper-case hex) of the (sub)key that signs. */
  signingFingerprint: string;
  /** The fingerprint (upper-case hex) of the primary key. */
  primaryFingerprint: string;
}

/** Options of {@link loadSigningKey}. */
export interface LoadSigningKeyOptions {
  /** The fingerprint of the key to sign with (normalized): the primary key or a signing subkey. */
  fingerprint: string;
  /** A file holding the private key (armored or binary). Without it, the key is exported from the GnuPG keyring. */
  keyFile?: string;
  /** The passphrase of a protected key. */
  passphrase?: string;
  /** Environment for gpg (`GNUPGHOME`). */
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

const upper = (s: string) => s.toUpperCase();

function isArmored(bytes: Buffer): boolean {
  return bytes.subarray(0, 64).toString('latin1').trimStart().startsWith('-----BEGIN PGP');
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Reads a file of at most `limit` bytes (default 4 MiB), mapping failures to FerryError (E_NOT_FOUND for a
 * missing file, E_TOO_LARGE, E_IO otherwise). `what` names the file's role in the message.
 */
export async function readInputFile(file: string, what: string, signal?: AbortSignal, limit = MAX_JSON_BYTES): Promise<Buffer> {
  try {
    return await readBoundedFile(file, { what: `${what} ${file}`, signal, limit });
  } catch (e) {
    if (e instanceof FerryError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if ((e as Error).name === 'AbortError') throw new FerryError(ErrorCode.Aborted, `reading ${what} ${file}: aborted`, { cause: e });
    throw new FerryError(code === 'ENOENT' ? ErrorCode.NotFound : ErrorCode.Io, `reading ${what} ${file}: ${code === 'ENOENT' ? 'no such file' : message(e)}`, { cause: e });
  }
}

/**
 * The passphrase in a file: its first line, without the line break (as skopeo's --passphrase-file).
 * @throws FerryError(E_NOT_FOUND / E_IO) if the file cannot be read.
 */
export async function readPassphraseFile(file: string, signal?: AbortSignal): Promise<string> {
  const text = (await readInputFile(file, 'passphrase file', signal)).toString('utf8');
  return text.split('\n', 1)[0]!.replace(/\r$/, '');
}

async function parsePrivateKeys(bytes: Buffer, source: string): Promise<OpenPgp.PrivateKey[]> {
  const pgp = await openpgp();
  try {
    return isArmored(bytes)
      ? await pgp.readPrivateKeys({ armoredKeys: bytes.toString('utf8') })
      : await pgp.readPrivateKeys({ binaryKeys: new Uint8Array(bytes) });
  } catch (e) {
    throw new FerryError(ErrorCode.Signature, `${source} holds no usable OpenPGP private key: ${message(e)}`, { cause: e });
  }
}

/**
 * Loads the private key `fingerprint` names, from `keyFile` or from the GnuPG keyring (`gpg
 * --export-secret-keys`, honouring `GNUPGHOME`; the passphrase is handed to gpg), decrypts it with the
 * passphrase if it is protected, and picks the (sub)key that signs: the one the fingerprint names if it is a
 * subkey, else the key's valid signing key.
 * @throws FerryError(E_SIGNATURE) if no key has that fingerprint, the key is protected and no or a wrong
 *   passphrase is given, or the key cannot sign; E_NOT_FOUND / E_IO if `keyFile` cannot be read.
 */
export async function loadSigningKey(opts: LoadSigningKeyOptions): Promise<SigningKey> {
  const { fingerprint } = opts;
  let bytes: Buffer;
  let source: string;
  if (opts.keyFile !== undefined) {
    bytes = await readInputFile(opts.keyFile, 'private key', opts.signal, MAX_KEY_FILE_BYTES);
    source = opts.keyFile;
  } else {
    try {
      bytes = await exportFromGpg(fingerprint, true, { env: opts.env, passphrase: opts.passphrase, signal: opts.signal });
    } catch (e) {
      // gpg asks for the passphrase of a protected key even to export it, and cannot in batch mode
      if (opts.passphrase !== undefined || !(e instanceof FerryError) || e.code !== ErrorCode.Signature) throw e;
      throw new FerryError(e.code, `${e.message} (a key protected by a passphrase needs --passphrase-file)`, { cause: e.cause });
    }
    source = 'the GnuPG keyring';
    if (bytes.length === 0) throw new FerryError(ErrorCode.Signature, `no secret key with fingerprint ${fingerprint} in the GnuPG keyring`);
  }
  const keys = await parsePrivateKeys(bytes, source);
  let found: { key: OpenPgp.PrivateKey; subkeyId?: OpenPgp.KeyID } | undefined;
  for (const key of keys) {
    if (upper(key.getFingerprint()) === fingerprint) found = { key };
    else {
      const sub = key.getSubkeys().find((s) => upper(s.getFingerprint()) === fingerprint);
      if (sub) found = { key, subkeyId: sub.getKeyID() };
    }
    if (found) break;
  }
  if (!found) {
    const held = keys.map((k) => upper(k.getFingerprint())).join(', ');
    throw new FerryError(ErrorCode.Signature, `${source} has no private key with fingerprint ${fingerprint} (it holds ${held || 'none'})`);
  }
  let key = found.key;
  const pgp = await openpgp();
  if (!key.isDecrypted()) {
    if (opts.passphrase === undefined) {
      throw new FerryError(ErrorCode.Signature, `private key ${fingerprint} is protected by a passphrase: give it with --passphrase-file`);
    }
    try {
      key = await pgp.decryptKey({ privateKey: key, passphrase: opts.passphrase });
    } catch (e) {
      throw new FerryError(ErrorCode.Signature, `cannot unlock private key ${fingerprint}: wrong passphrase?`, { cause: e });
    }
  }
  let signing: Awaited<ReturnType<OpenPgp.PrivateKey['getSigningKey']>>;
  try {
    signing = await key.getSigningKey(found.subkeyId);
  } catch (e) {
    throw new FerryError(ErrorCode.Signature, `key ${fingerprint} cannot sign: ${message(e)}`, { cause: e });
  }
  return {
    key,
    signingKeyId: signing.getKeyID(),
    signingFingerprint: upper(signing.getFingerprint()),
    primaryFingerprint: upper(key.getFingerprint()),
  };
}

/** Options of {@link loadVerificationKeys}. */
export interface LoadVerificationKeysOptions {
  /** The fingerprints to export from the GnuPG keyring (normalized); used only without `publicKeyFiles`. */
  fingerprints: string[];
  /** Files holding public keys (armored or binary, any number of keys each). */
  publicKeyFiles?: string[];
  /** Environment for gpg (`GNUPGHOME`). */
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

/** One ASCII-armored key block (public or private). */
const ARMORED_KEY_BLOCK = /-----BEGIN PGP (PUBLIC|PRIVATE) KEY BLOCK-----[\s\S]*?-----END PGP \1 KEY BLOCK-----/g;

/**
 * Every public key in `bytes` (private keys are reduced to their public part): a binary keyring (its first byte is an
 * OpenPGP packet tag), else text holding any number of armored key blocks, with any text around and between them, as
 * gpg imports it (`cat a.asc b.asc > keys.asc` holds both keys).
 * @throws FerryError(E_SIGNATURE) naming `source` if the bytes hold no OpenPGP key.
 */
export async function parsePublicKeys(bytes: Buffer, source: string): Promise<OpenPgp.PublicKey[]> {
  const pgp = await openpgp();
  try {
    let keys: OpenPgp.Key[];
    if (bytes.length > 0 && (bytes[0]! & 0x80) !== 0) keys = await pgp.readKeys({ binaryKeys: new Uint8Array(bytes) });
    else {
      const blocks = bytes.toString('utf8').match(ARMORED_KEY_BLOCK);
      if (blocks === null) throw new Error('neither a binary keyring nor an armored key block');
      keys = [];
      for (const armoredKeys of blocks) keys.push(...(await pgp.readKeys({ armoredKeys })));
    }
    return keys.map((k) => (k.isPrivate() ? k.toPublic() : k));
  } catch (e) {
    throw new FerryError(ErrorCode.Signature, `${source} holds no usable OpenPGP public key: ${message(e)}`, { cause: e });
  }
}

/**
 * Loads the public keys to verify with: every key of `publicKeyFiles` when given, else each fingerprint's key
 * exported from the GnuPG keyring (`gpg --export`, honouring `GNUPGHOME`).
 * @throws FerryError(E_SIGNATURE) if a file holds no public key or the keyring lacks a fingerprint;
 *   E_NOT_FOUND / E_IO if a file cannot be read.
 */
export async function loadVerificationKeys(opts: LoadVerificationKeysOptions): Promise<OpenPgp.PublicKey[]> {
  const keys: OpenPgp.PublicKey[] = [];
  if (opts.publicKeyFiles && opts.publicKeyFiles.length > 0) {
    for (const file of opts.publicKeyFiles) keys.push(...(await parsePublicKeys(await readInputFile(file, 'public key', opts.signal, MAX_KEY_FILE_BYTES), file)));
    return keys;
  }
  for (const fpr of opts.fingerprints) {
    const bytes = await exportFromGpg(fpr, false, { env: opts.env, signal: opts.signal });
    if (bytes.length === 0) throw new FerryError(ErrorCode.Signature, `no public key with fingerprint ${fpr} in the GnuPG keyring`);
    keys.push(...(await parsePublicKeys(bytes, 'the GnuPG keyring')));
  }
  return keys;
}
