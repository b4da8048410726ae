/**
 * What a simple signing signature claims, read without verifying it (skopeo
 * `untrusted-signature-dump-without-verification`, containers/image `GetUntrustedSignatureInformationWithoutVerifying`).
 * Nothing here is trusted: it is for looking at a signature, never for deciding anything.
 */
import type * as OpenPgp from 'openpgp';
import { FerryError, ErrorCode } from '../errors.js';
import { signatureFromBlob } from './blob.js';
import { openpgp } from './openpgp.js';
import { parsePayload } from './payload.js';
import { quoteGo } from '../manifest/go-json.js';

/** The claims of a signature, unverified. */
export interface UntrustedSignatureInformation {
  dockerManifestDigest: string;
  dockerReference: string;
  creator?: string;
  /** Seconds since the epoch. */
  timestamp?: number;
  /** The 16-hex-digit key ID the signature names (upper case). */
  shortKeyIdentifier: string;
}

const invalid = (m: string, cause?: unknown) => new FerryError(ErrorCode.Signature, m, { cause });

/**
 * Reads a simple signing signature (an OpenPGP signed message, or its storage form) without verifying it.
 * @throws FerryError(E_SIGNATURE) if it is not a signed OpenPGP message or its payload is malformed.
 */
export async function untrustedSignatureInformation(blob: Buffer): Promise<UntrustedSignatureInformation> {
  const sig = signatureFromBlob(blob);
  if (sig.kind !== 'simple-signing') throw invalid('not a simple signing signature (a sigstore signature)');
  const pgp = await openpgp();
  let msg: OpenPgp.Message<Uint8Array>;
  try {
    const bytes = sig.untrustedSignature;
    msg = bytes.subarray(0, 64).toString('latin1').trimStart().startsWith('-----BEGIN PGP')
      ? ((await pgp.readMessage({ armoredMessage: bytes.toString('utf8') })) as OpenPgp.Message<Uint8Array>)
      : await pgp.readMessage({ binaryMessage: new Uint8Array(bytes) });
    msg = await msg.unwrapCompressed();
  } catch (e) {
    throw invalid(`not an OpenPGP message: ${e instanceof Error ? e.message : String(e)}`, e);
  }
  const ids = msg.getSigningKeyIDs();
  if (ids.length === 0) throw invalid('The input is not a signature');
  const data = msg.getLiteralData();
  if (!(data instanceof Uint8Array)) throw invalid('The input is not a signature');
  const payload = parsePayload(Buffer.from(data));
  const out: UntrustedSignatureInformation = {
    dockerManifestDigest: payload.dockerManifestDigest,
    dockerReference: payload.dockerReference,
    shortKeyIdentifier: ids[0]!.toHex().toUpperCase(),
  };
  if (payload.creator !== undefined) out.creator = payload.creator;
  if (payload.timestamp !== undefined) out.timestamp = payload.timestamp;
  return out;
}

/** A Unix time as Go's `time.Time` marshals it (RFC 3339 in the local time zone, `Z` for UTC). */
export function goLocalTime(seconds: number): string {
  const d = new Date(seconds * 1000);
  const offset = -d.getTimezoneOffset();
  const local = new Date(d.getTime() + offset * 60_000).toISOString().replace(/\.\d{3}Z$/, '');
  if (offset === 0) return `${local}Z`;
  const abs = Math.abs(offset);
  return `${local}${offset < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/**
 * The information as skopeo prints it: Go's `json.MarshalIndent` with 4 spaces, fields in skopeo's order, `null` for
 * what the signature does not say. Hand-written because it must match skopeo byte for byte.
 */
export function formatUntrustedSignatureInformation(info: UntrustedSignatureInformation): string {
  return [
    '{',
    `    "UntrustedDockerManifestDigest": ${quoteGo(info.dockerManifestDigest)},`,
    `    "UntrustedDockerReference": ${quoteGo(info.dockerReference)},`,
    `    "UntrustedCreatorID": ${info.creator !== undefined ? quoteGo(info.creator) : 'null'},`,
    `    "UntrustedTimestamp": ${info.timestamp !== undefined ? quoteGo(goLocalTime(info.timestamp)) : 'null'},`,
    `    "UntrustedShortKeyIdentifier": ${quoteGo(info.shortKeyIdentifier)}`,
    '}',
  ].join('\n');
}
