/**
 * The storage form of one image signature, as containers/image persists it (`internal/signature`): what `dir:`
 * writes to `signature-N`, what containers-storage keeps in its `signatures` big-data item, and what
 * {@link ImageSource.getSignatures} / {@link ImageDestination.putSignatures} carry.
 *
 * Must match containers/image byte for byte (skopeo and podman read what ferry writes), hence hand-written:
 * - a simple-signing signature is stored as it is (the OpenPGP message; no marker, for old `dir:` images);
 * - any other format is a zero byte, the format name, a newline, then the format's own bytes; for `sigstore-json`
 *   those bytes are Go's JSON of `{"mimeType":…,"payload":<base64>,"annotations":{…}}` (that key order, map keys
 *   sorted, no spaces).
 */
import { FerryError, ErrorCode } from '../errors.js';
import { goMarshal } from '../manifest/go-json.js';

/** A simple-signing (OpenPGP) signature: the signed message, unverified. */
export interface SimpleSigningSignature {
  kind: 'simple-signing';
  /** The OpenPGP signed message (binary), as produced by gpg or openpgp.js. */
  untrustedSignature: Buffer;
}

/** A sigstore signature, as stored in a cosign attachment layer: its media type, payload and annotations, unverified. */
export interface SigstoreSignature {
  kind: 'sigstore';
  /** The layer media type (`application/vnd.dev.cosign.simplesigning.v1+json`). */
  untrustedMIMEType: string;
  /** The signed payload (the layer's bytes). */
  untrustedPayload: Buffer;
  /** The layer's annotations, among them `dev.cosignproject.cosign/signature` (base64). */
  untrustedAnnotations: Record<string, string>;
}

/** One signature, parsed from its storage form. */
export type Signature = SimpleSigningSignature | SigstoreSignature;

const SIGSTORE_FORMAT = 'sigstore-json';

/**
 * First bytes of an OpenPGP message that containers/image recognizes as a simple signature stored without marker:
 * compressed data, one-pass signature or signature packets (old and new packet formats), and armor.
 */
const OPENPGP_FIRST_BYTES = new Set([0xa0, 0xa1, 0xa2, 0xa3, 0xc8, 0x90, 0x91, 0x92, 0x3d, 0xc4, 0x88, 0x89, 0x8a, 0x8b, 0xc2]);

function invalid(message: string): FerryError {
  return new FerryError(ErrorCode.Signature, message);
}

/** The storage form of `sig`. */
export function signatureToBlob(sig: Signature): Buffer {
  if (sig.kind === 'simple-signing') return sig.untrustedSignature;
  const json = goMarshal({
    mimeType: sig.untrustedMIMEType,
    payload: sig.untrustedPayload.toString('base64'),
    annotations: new Map(Object.entries(sig.untrustedAnnotations)),
  });
  return Buffer.concat([Buffer.from([0]), Buffer.from(`${SIGSTORE_FORMAT}\n`), Buffer.from(json)]);
}

/**
 * Parses a signature's storage form.
 * @throws FerryError(E_SIGNATURE) for an empty blob, an unknown format, or a malformed sigstore record.
 */
export function signatureFromBlob(blob: Buffer): Signature {
  if (blob.length === 0) throw invalid('empty signature blob');
  const first = blob[0] as number;
  if (OPENPGP_FIRST_BYTES.has(first)) return { kind: 'simple-signing', untrustedSignature: blob };
  if (first !== 0) {
    // armored OpenPGP messages are accepted as simple signing too, as containers/image does
    if (blob.subarray(0, 64).toString('latin1').trimStart().startsWith('-----BEGIN PGP')) return { kind: 'simple-signing', untrustedSignature: blob };
    throw invalid('unrecognized signature format');
  }
  const nl = blob.indexOf(0x0a, 1);
  if (nl < 0) throw invalid('invalid signature blob: no format name');
  const format = blob.subarray(1, nl).toString('utf8');
  if (format === 'simple-signing') return { kind: 'simple-signing', untrustedSignature: blob.subarray(nl + 1) };
  if (format !== SIGSTORE_FORMAT) throw invalid(`unsupported signature format ${JSON.stringify(format)}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(blob.subarray(nl + 1).toString('utf8'));
  } catch (e) {
    throw invalid(`invalid sigstore signature record: ${(e as Error).message}`);
  }
  const rec = parsed as { mimeType?: unknown; payload?: unknown; annotations?: unknown };
  if (typeof parsed !== 'object' || parsed === null || typeof rec.mimeType !== 'string' || typeof rec.payload !== 'string') {
    throw invalid('invalid sigstore signature record: mimeType and payload are required');
  }
  const annotations: Record<string, string> = {};
  if (rec.annotations !== undefined && rec.annotations !== null) {
    if (typeof rec.annotations !== 'object' || Array.isArray(rec.annotations)) throw invalid('invalid sigstore signature record: annotations is not an object');
    for (const [k, v] of Object.entries(rec.annotations)) {
      if (typeof v !== 'string') throw invalid(`invalid sigstore signature record: annotation ${JSON.stringify(k)} is not a string`);
      annotations[k] = v;
    }
  }
  return { kind: 'sigstore', untrustedMIMEType: rec.mimeType, untrustedPayload: Buffer.from(rec.payload, 'base64'), untrustedAnnotations: annotations };
}
