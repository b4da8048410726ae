/** Verifying simple signing signatures (containers-signature(5)): the OpenPGP signature first, then the payload. */
import type * as OpenPgp from 'openpgp';
import { openpgp } from './openpgp.js';
import { FerryError, ErrorCode } from '../errors.js';
import { manifestDigest } from '../manifest/manifest-digest.js';
import { digestOf, parseDigest } from '../util/digest.js';
import { parsePayload, type SignaturePayload } from './payload.js';
import type { NamedReference, ParseDockerReference } from '../config/policy-types.js';

/** The outcome of a verified OpenPGP signed message. */
export interface VerifiedMessage {
  /** The signed content (now trusted to come from the key). */
  content: Buffer;
  /** Fingerprint (upper-case hex) of the (sub)key that made the signature. */
  signingFingerprint: string;
  /** Fingerprint (upper-case hex) of that key's primary key (equal to `signingFingerprint` without subkeys). */
  primaryFingerprint: string;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function refused(reason: string, cause?: unknown): FerryError {
  return new FerryError(ErrorCode.Signature, reason, { cause });
}

/**
 * Verifies a non-detached OpenPGP signed message (binary or armored) made by one of `keys`, and returns its
 * content with the signer. Exactly one signature is accepted, and it must verify (valid, not expired, by a key
 * that is valid and allowed to sign at the signature's time).
 * @throws FerryError(E_SIGNATURE) naming why the message is refused: not OpenPGP, not signed, several
 *   signatures, made by a key not among `keys`, or a signature that does not verify.
 */
export async function verifySignedMessage(signature: Uint8Array, keys: OpenPgp.PublicKey[]): Promise<VerifiedMessage> {
  const pgp = await openpgp();
  let msg: OpenPgp.Message<Uint8Array>;
  try {
    const head = Buffer.from(signature.subarray(0, 64)).toString('latin1').trimStart();
    // packets openpgp.js does not know (a one-pass signature packet of an unknown version…) are errors, as in gpg
    const config = { ignoreUnsupportedPackets: false };
    msg = head.startsWith('-----BEGIN PGP')
      ? ((await pgp.readMessage({ armoredMessage: Buffer.from(signature).toString('utf8'), config })) as OpenPgp.Message<Uint8Array>)
      : await pgp.readMessage({ binaryMessage: signature, config });
  } catch (e) {
    throw refused(`invalid signature: not an OpenPGP signed message (${message(e)})`, e);
  }
  let result: Awaited<ReturnType<typeof OpenPgp.verify<Uint8Array>>>;
  try {
    result = await pgp.verify({ message: msg, verificationKeys: keys, format: 'binary' });
  } catch (e) {
    throw refused(`invalid signature: ${message(e)}`, e);
  }
  if (result.signatures.length !== 1) {
    throw refused(result.signatures.length === 0 ? 'invalid signature: the message is not signed' : `invalid signature: expected one signature, found ${result.signatures.length}`);
  }
  const sig = result.signatures[0]!;
  const signer = keys.find((k) => k.getKeys(sig.keyID).length > 0);
  if (!signer) {
    const known = keys.map((k) => k.getFingerprint().toUpperCase()).join(', ');
    throw refused(`signature made by key ID ${sig.keyID.toHex().toUpperCase()}, which is not among the public keys (${known || 'none'})`);
  }
  try {
    await sig.verified;
  } catch (e) {
    throw refused(`signature verification failed: ${message(e)}`, e);
  }
  const signingKey = signer.getKeys(sig.keyID)[0]!;
  const signingFingerprint = signingKey.getFingerprint().toUpperCase();
  await assertValidNow(signer, sig.keyID, signingFingerprint);
  return {
    content: Buffer.from(result.data),
    signingFingerprint,
    primaryFingerprint: signer.getFingerprint().toUpperCase(),
  };
}

/**
 * Refuses a signature whose key is not valid now, as gpgme does (KEYEXPIRED, KEYREVOKED, WRONG_KEY_USAGE): openpgp.js
 * checks the key at the signature's creation time only, and that time is chosen by the signer, so an old key that
 * has expired, been revoked or lost its signing capability since could otherwise still sign, with a backdated
 * signature. The primary key must be valid now (a valid self-signature, not expired, not revoked), and the key that
 * signed must be a signing key now: its current self-signature or subkey binding allows signing, it is not expired
 * and not revoked.
 */
async function assertValidNow(primary: OpenPgp.PublicKey, keyID: OpenPgp.KeyID, fingerprint: string): Promise<void> {
  try {
    await primary.getSigningKey(keyID, new Date());
  } catch (e) {
    throw refused(`signature made by key ${fingerprint}, which is not valid now: ${message(e)}`, e);
  }
}

/** Whether `manifest` has `digest` (computed like registries do, signed schema1 manifests included for sha256). */
export function manifestMatchesDigest(manifest: Buffer, digest: string): boolean {
  const { algorithm } = parseDigest(digest);
  return (algorithm === 'sha256' ? manifestDigest(manifest) : digestOf(manifest, algorithm)) === digest;
}

/** `name[:tag][@digest]` of a parsed reference: equal for references that name the same image the same way. */
function normalized(r: NamedReference): string {
  return r.name + (r.tag !== undefined ? `:${r.tag}` : '') + (r.digest !== undefined ? `@${r.digest}` : '');
}

/** Options of {@link verifyDockerManifestSignature}. */
export interface VerifyDockerManifestSignatureOptions {
  /** The signature (an OpenPGP signed message). */
  signature: Uint8Array;
  /** The manifest bytes the signature must be for. */
  manifest: Buffer;
  /** The identity the signature must claim; both are compared in normalized form, as skopeo's standalone-verify does. */
  dockerReference: string;
  /** The docker-name parser (`ParseNormalizedNamed` semantics: `busybox` is `docker.io/library/busybox`). */
  parseDockerReference: ParseDockerReference;
  /** Fingerprints (normalized) of the keys allowed to have signed, or `any` for any of `keys`. */
  expectedFingerprints: string[] | 'any';
  /** The public keys to verify with. */
  keys: OpenPgp.PublicKey[];
}

/** A signature that passed every check. */
export interface VerifiedDockerManifestSignature {
  /** The expected fingerprint that matched (the signing key's own, or its primary key's). */
  fingerprint: string;
  /** The verified payload. */
  payload: SignaturePayload;
}

/**
 * Verifies a simple signing signature of a manifest: the OpenPGP signature first (by one of `keys`, whose
 * fingerprint — of the signing subkey or of its primary key — is expected), only then the payload, parsed
 * strictly; then that it is for `manifest`'s digest and claims `dockerReference` (both normalized: `busybox:1` and
 * `docker.io/library/busybox:1` are the same).
 * @throws FerryError(E_INVALID_REFERENCE) if `dockerReference` is not a valid reference; E_SIGNATURE with the reason
 *   for refusing the signature.
 */
export async function verifyDockerManifestSignature(opts: VerifyDockerManifestSignatureOptions): Promise<VerifiedDockerManifestSignature> {
  let expected: NamedReference;
  try {
    expected = opts.parseDockerReference(opts.dockerReference);
  } catch (e) {
    throw new FerryError(ErrorCode.InvalidReference, `invalid docker reference ${JSON.stringify(opts.dockerReference)}: ${message(e)}`, { cause: e });
  }
  const verified = await verifySignedMessage(opts.signature, opts.keys);
  const candidates = [verified.signingFingerprint, verified.primaryFingerprint];
  const fingerprint = opts.expectedFingerprints === 'any' ? verified.signingFingerprint : candidates.find((f) => (opts.expectedFingerprints as string[]).includes(f));
  if (fingerprint === undefined) {
    throw refused(`signature by key ${verified.signingFingerprint} does not match the expected fingerprints ${(opts.expectedFingerprints as string[]).join(', ')}`);
  }
  const payload = parsePayload(verified.content);
  if (!manifestMatchesDigest(opts.manifest, payload.dockerManifestDigest)) {
    throw refused(`signature is for manifest digest ${payload.dockerManifestDigest}, which does not match the manifest (${manifestDigest(opts.manifest)})`);
  }
  let signed: NamedReference | undefined;
  try {
    signed = opts.parseDockerReference(payload.dockerReference);
  } catch {
    signed = undefined;
  }
  if (signed === undefined || normalized(signed) !== normalized(expected)) {
    throw refused(`signature is for docker reference ${JSON.stringify(payload.dockerReference)}, not ${JSON.stringify(opts.dockerReference)}`);
  }
  return { fingerprint, payload };
}
