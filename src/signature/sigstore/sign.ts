/**
 * Creating sigstore signatures with a private key (containers/image `signature/sigstore`): the payload is the JSON
 * `{"critical":{"identity":{"docker-reference":…},"image":{"docker-manifest-digest":…},"type":"cosign container image
 * signature"},"optional":{"creator":…,"timestamp":…}}` (Go's map encoding: keys sorted, no spaces), signed with SHA-256
 * (ECDSA: an ASN.1 DER signature), the signature base64 in the layer annotation `dev.cosignproject.cosign/signature`.
 * The payload bytes must be what containers/image and cosign verify, hence hand-written.
 */
import { sign as cryptoSign, type KeyObject } from 'node:crypto';
import { FerryError, ErrorCode } from '../errors.js';
import { manifestDigest } from '../manifest/manifest-digest.js';
import { signatureToBlob } from './blob.js';

/** The media type of a sigstore signature payload (the attachment layer's). */
export const SIGSTORE_PAYLOAD_MIME_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
/** The annotation holding the base64 signature. */
export const SIGSTORE_SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
/** `critical.type` of sigstore payloads. */
export const SIGSTORE_SIGNATURE_TYPE = 'cosign container image signature';

function goEscape(json: string): string {
  return json.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The payload bytes, as containers/image writes them. */
export function encodeSigstorePayload(p: { dockerManifestDigest: string; dockerReference: string; creator: string; timestamp: number }): Buffer {
  const doc = {
    critical: {
      identity: { 'docker-reference': p.dockerReference },
      image: { 'docker-manifest-digest': p.dockerManifestDigest },
      type: SIGSTORE_SIGNATURE_TYPE,
    },
    optional: { creator: p.creator, timestamp: p.timestamp },
  };
  return Buffer.from(goEscape(JSON.stringify(doc)), 'utf8');
}

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
    untrustedMIMEType: SIGSTORE_PAYLOAD_MIME_TYPE,
    untrustedPayload: payload,
    untrustedAnnotations: { [SIGSTORE_SIGNATURE_ANNOTATION]: signature.toString('base64') },
  });
}
