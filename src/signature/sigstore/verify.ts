/**
 * Verifying a sigstore (cosign) signature with public keys: the signature annotation is base64 over the payload
 * bytes, signed with SHA-256 (ECDSA as ASN.1 DER, RSA PKCS#1 v1.5) or Ed25519, as cosign signs. The payload is parsed
 * only after the signature verified.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { FerryError, ErrorCode } from '../../errors.js';
import type { SigstoreSignature } from '../blob.js';
import { parseSigstorePayload, SIGSTORE_SIGNATURE_ANNOTATION, type SigstorePayload } from './payload.js';

function refused(reason: string, cause?: unknown): FerryError {
  return new FerryError(ErrorCode.Signature, reason, { cause });
}

/**
 * Parses PEM public keys (`PUBLIC KEY`, as cosign writes them; `RSA PUBLIC KEY` too).
 * @throws FerryError(E_SIGNATURE) `parsing <what> N: …` for a blob that holds no public key.
 */
export function parseSigstorePublicKeys(pems: Buffer[], what = 'public key'): KeyObject[] {
  return pems.map((pem, i) => {
    const text = pem.toString('utf8');
    if (!/-----BEGIN (?:RSA )?PUBLIC KEY-----/.test(text)) throw refused(`parsing ${what} ${i + 1}: no PEM public key found`);
    try {
      return createPublicKey({ key: text, format: 'pem' });
    } catch (e) {
      throw refused(`parsing ${what} ${i + 1}: ${e instanceof Error ? e.message : String(e)}`, e);
    }
  });
}

/**
 * Go's `base64.StdEncoding.DecodeString` (what containers/image decodes the signature annotation and JSON `[]byte`
 * with): padded standard base64, where carriage returns and line feeds are ignored. Undefined if invalid.
 */
export function decodeGoBase64(s: string): Buffer | undefined {
  const b64 = s.replace(/[\r\n]/g, '');
  if (b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) return undefined;
  return Buffer.from(b64, 'base64');
}

function verifyWith(key: KeyObject, payload: Buffer, signature: Buffer): boolean {
  const type = key.asymmetricKeyType;
  if (type === 'ed25519') return verify(null, payload, key, signature);
  if (type === 'ec' || type === 'rsa') return verify('sha256', payload, key, signature);
  throw new Error(`unsupported public key type ${String(type)}`);
}

/**
 * Verifies `sig` with any of `publicKeys`, then parses its payload.
 * @throws FerryError(E_SIGNATURE) for a missing annotation, bad base64, a signature no key verifies, or a malformed payload.
 */
export function verifySigstoreSignature(sig: SigstoreSignature, publicKeys: KeyObject[]): SigstorePayload {
  const b64 = sig.untrustedAnnotations[SIGSTORE_SIGNATURE_ANNOTATION];
  if (b64 === undefined) throw refused(`missing ${SIGSTORE_SIGNATURE_ANNOTATION} annotation`);
  const signature = decodeGoBase64(b64);
  if (signature === undefined) throw refused('base64 decoding of the signature failed');
  if (publicKeys.length === 0) throw refused('need at least one public key to verify the sigstore payload, but got 0');
  const failures: string[] = [];
  for (const [i, key] of publicKeys.entries()) {
    let ok = false;
    try {
      ok = verifyWith(key, sig.untrustedPayload, signature);
      if (!ok) failures.push(`public key ${i + 1}: the signature does not verify`);
    } catch (e) {
      failures.push(`public key ${i + 1}: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (ok) return parseSigstorePayload(sig.untrustedPayload);
  }
  throw refused(`cryptographic signature verification failed: ${failures.join(', ')}`);
}
