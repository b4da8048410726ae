/** Creating simple signing signatures (containers-signature(5)). */
import type * as OpenPgp from 'openpgp';
import { openpgp } from './openpgp.js';
import { FerryError, ErrorCode } from '../errors.js';
import { manifestDigest } from '../manifest/manifest-digest.js';
import { encodePayload } from './payload.js';
import type { SigningKey } from './keys.js';

/**
 * Signs `payload` as a non-detached, binary (not armored) OpenPGP signed message — one-pass signature, literal
 * data, signature — as gpgme's normal-mode sign does.
 * @param date the signature's creation time (default now).
 * @throws FerryError(E_SIGNATURE) if OpenPGP signing fails.
 */
export async function signPayload(payload: Uint8Array, key: SigningKey, date: Date = new Date()): Promise<Buffer> {
  const pgp = await openpgp();
  try {
    const message = await pgp.createMessage({ binary: payload, format: 'binary', date });
    const signed = await pgp.sign({
      message,
      signingKeys: key.key,
      signingKeyIDs: key.signingKeyId,
      format: 'binary',
      date,
    });
    return Buffer.from(signed);
  } catch (e) {
    throw new FerryError(ErrorCode.Signature, `signing with key ${key.signingFingerprint} failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

/** Options of {@link signDockerManifest}. */
export interface SignDockerManifestOptions {
  /** The manifest bytes exactly as stored (its digest is what is signed). */
  manifest: Buffer;
  /** The identity to sign the image as (`critical.identity.docker-reference`), written as given. */
  dockerReference: string;
  /** The key to sign with. */
  key: SigningKey;
  /** `optional.creator`, e.g. `ferry 0.1.0`. */
  creator: string;
  /** The signing time (payload timestamp and OpenPGP creation time). Default now. */
  date?: Date;
}

/**
 * A simple signing signature of a manifest: the payload (manifest digest as registries compute it, schema1
 * included; the docker reference; creator; timestamp) signed by `key`.
 * @throws FerryError(E_SIGNATURE) for an empty reference or a signing failure; E_INVALID_MANIFEST for a malformed
 *   signed schema1 manifest.
 */
export async function signDockerManifest(opts: SignDockerManifestOptions): Promise<Buffer> {
  const date = opts.date ?? new Date();
  const payload = encodePayload({
    dockerManifestDigest: manifestDigest(opts.manifest),
    dockerReference: opts.dockerReference,
    creator: opts.creator,
    timestamp: Math.floor(date.getTime() / 1000),
  });
  return signPayload(payload, opts.key, date);
}
