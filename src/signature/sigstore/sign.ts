/**
 * Creating sigstore signatures with a private key (containers/image `signature/sigstore`): the payload
 * (./payload.ts) signed with SHA-256 (ECDSA: an ASN.1 DER signature), the signature base64 in the layer annotation
 * `dev.cosignproject.cosign/signature`.
 */
import { sign as cryptoSign, type KeyObject } from 'node:crypto';
import { FerryError, ErrorCode } from '../../errors.js';
import { manifestDigest } from '../../manifest/manifest-digest.js';
import { signatureToBlob } from '../blob.js';
import { encodeSigstorePayload, SIGSTORE_SIGNATURE_ANNOTATION, SIGSTORE_SIGNATURE_MIME_TYPE } from './payload.js';

/** Signs `data` with `key` as sigstore does: SHA-256, ECDSA/RSA PKCS#1 v1.5 signatures; Ed25519 signs the data itself. */
export function signWithKey(key: KeyObject, data: Buffer): Buffer {
  const type = key.asymmetricKeyType;
  if (type === 'ed25519') return cryptoSign(null, data, key);
  if (type === 'ec' || type === 'rsa') return cryptoSign('sha256', data, key);
  throw new FerryError(ErrorCode.Signature, `sigstore signing with ${type ?? 'this'} keys is not supported`);
}

/**
 * A sigstore signature of `manifest` for `dockerReference`, in the storage form (signature/blob.ts).
 * @param date the payload timestamp (default now).
 */
export function signSigstore(manifest: Buffer, dockerReference: string, key: KeyObject, creator: string, date: Date = new Date()): Buffer {
  if (!dockerReference) throw new FerryError(ErrorCode.Signature, 'a sigstore signature needs a docker reference');
  const payload = encodeSigstorePayload({
    dockerManifestDigest: manifestDigest(manifest),
    dockerReference,
    creator,
    timestamp: Math.floor(date.getTime() / 1000),
  });
  const signature = signWithKey(key, payload);
  return signatureToBlob({
    kind: 'sigstore',
    untrustedMIMEType: SIGSTORE_SIGNATURE_MIME_TYPE,
    untrustedPayload: payload,
    untrustedAnnotations: { [SIGSTORE_SIGNATURE_ANNOTATION]: signature.toString('base64') },
  });
}
