/** The signers a copy can use (see {@link ManifestSigner}): simple signing with an OpenPGP key, sigstore with a private key. */
import type { KeyObject } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { FerryError, ErrorCode } from '../errors.js';
import type { SigningKey } from './keys.js';
import { readInputFile } from './keys.js';
import { signDockerManifest } from './sign.js';
import type { ManifestSigner } from './signer.js';
import { signSigstore } from './sigstore/sign.js';

/** Simple signing (containers-signature(5)) with an unlocked OpenPGP key; the storage form is the message itself. */
export function simpleSigningSigner(key: SigningKey, creator: string): ManifestSigner {
  return {
    kind: 'simple-signing',
    sign: (manifest, dockerReference) => signDockerManifest({ manifest, dockerReference, key, creator }),
  };
}

/** Sigstore signing with a decrypted private key. */
export function sigstoreSigner(key: KeyObject, creator: string): ManifestSigner {
  return {
    kind: 'sigstore',
    sign: async (manifest, dockerReference) => signSigstore(manifest, dockerReference, key, creator),
  };
}

/** What a `--sign-by-sigstore` parameter file says (containers-sigstore-signing-params.yaml(5)). */
export interface SigstoreSigningParams {
  privateKeyFile?: string;
  privateKeyPassphraseFile?: string;
  /** Present when the file asks for Fulcio (keyless) certificates. */
  fulcio?: unknown;
  rekorURL?: string;
}

const PARAM_KEYS = new Set(['privateKeyFile', 'privateKeyPassphraseFile', 'fulcio', 'rekorURL']);

/**
 * Reads a sigstore signing parameter file. Only signing with a private key works offline: a file asking for
 * Fulcio or Rekor is refused with the reason.
 * @throws FerryError(E_CONFIG) for a malformed file; E_UNSUPPORTED for Fulcio/Rekor.
 */
export async function readSigstoreParamFile(file: string, signal?: AbortSignal): Promise<SigstoreSigningParams> {
  const bytes = await readInputFile(file, 'sigstore signing parameter file', signal);
  if (bytes.length > 4 * 1024 * 1024) throw new FerryError(ErrorCode.Config, `${file}: larger than 4 MiB`);
  let doc: unknown;
  try {
    doc = parseYaml(bytes.toString('utf8'), { uniqueKeys: true, maxAliasCount: 100 });
  } catch (e) {
    throw new FerryError(ErrorCode.Config, `parsing ${file}: ${(e as Error).message.split('\n')[0]}`, { cause: e });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new FerryError(ErrorCode.Config, `${file}: expected a mapping`);
  const m = doc as Record<string, unknown>;
  for (const k of Object.keys(m)) if (!PARAM_KEYS.has(k)) throw new FerryError(ErrorCode.Config, `${file}: unknown field ${JSON.stringify(k)}`);
  const str = (k: string): string | undefined => {
    const v = m[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string' || v === '') throw new FerryError(ErrorCode.Config, `${file}: ${k} must be a non-empty string`);
    return v;
  };
  const out: SigstoreSigningParams = {};
  const pk = str('privateKeyFile');
  const pp = str('privateKeyPassphraseFile');
  const rekor = str('rekorURL');
  if (pk !== undefined) out.privateKeyFile = pk;
  if (pp !== undefined) out.privateKeyPassphraseFile = pp;
  if (rekor !== undefined) out.rekorURL = rekor;
  if (m['fulcio'] !== undefined && m['fulcio'] !== null) out.fulcio = m['fulcio'];
  if (out.fulcio !== undefined) {
    throw new FerryError(ErrorCode.Unsupported, `${file}: Fulcio (keyless) signing needs an OIDC login and the Fulcio service over the network, which ferry does not do: use privateKeyFile`);
  }
  if (out.rekorURL !== undefined) {
    throw new FerryError(ErrorCode.Unsupported, `${file}: uploading to a Rekor transparency log needs the network, which ferry does not do: remove rekorURL`);
  }
  if (out.privateKeyFile === undefined) throw new FerryError(ErrorCode.Config, `${file}: no signing method: privateKeyFile is required`);
  return out;
}
