import { digestOf } from '../util/digest.js';
import { FerryError, ErrorCode } from '../errors.js';

/**
 * The digest of a manifest as registries compute it: sha256 of the bytes, except for signed
 * Docker schema1 manifests, whose digest covers the payload without the JWS signatures
 * (the bytes up to `formatLength` followed by `formatTail`, both from the protected header).
 */
export function manifestDigest(bytes: Buffer): string {
  return digestOf(manifestPayload(bytes));
}

function manifestPayload(bytes: Buffer): Buffer {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    return bytes; // not JSON: digest the bytes as they are, like skopeo
  }
  const m = parsed as { schemaVersion?: number; signatures?: { protected?: string }[] };
  if (m?.schemaVersion !== 1 || !Array.isArray(m.signatures) || m.signatures.length === 0) return bytes;
  const protectedHeader = m.signatures[0]?.protected;
  if (typeof protectedHeader !== 'string') {
    throw new FerryError(ErrorCode.InvalidManifest, 'signed schema1 manifest: signature has no protected header');
  }
  let header: { formatLength?: number; formatTail?: string };
  try {
    header = JSON.parse(Buffer.from(protectedHeader, 'base64url').toString('utf8'));
  } catch {
    throw new FerryError(ErrorCode.InvalidManifest, 'signed schema1 manifest: protected header is not valid JSON');
  }
  const { formatLength, formatTail } = header;
  if (typeof formatLength !== 'number' || typeof formatTail !== 'string' || formatLength < 0 || formatLength > bytes.length) {
    throw new FerryError(ErrorCode.InvalidManifest, 'signed schema1 manifest: invalid formatLength/formatTail');
  }
  return Buffer.concat([bytes.subarray(0, formatLength), Buffer.from(formatTail, 'base64url')]);
}
