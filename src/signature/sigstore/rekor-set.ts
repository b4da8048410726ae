/**
 * Verifying a Rekor SET (signed entry timestamp), the `dev.sigstore.cosign/bundle` annotation of a cosign signature
 * layer, as containers/image's `signature/internal/rekor_set.go`. Must match it, hence written here:
 * - the annotation is `{"SignedEntryTimestamp":<base64>,"Payload":<JSON>}`, exactly those keys;
 * - the SET is an ECDSA (ASN.1 DER) signature, by one of the Rekor public keys, over the SHA-256 of the RFC 8785
 *   canonical JSON of `Payload` (keys sorted by UTF-16 code units, ECMAScript number and string forms);
 * - the canonical payload has exactly `body` (base64), `integratedTime`, `logIndex` (integers) and `logID` (string);
 * - `body` is a Rekor `hashedrekord` entry of apiVersion `0.0.1`: its `spec.signature.publicKey.content` must be a
 *   single PEM block whose DER equals the signing key's (or certificate's), its `spec.signature.content` the layer's
 *   signature, and `spec.data.hash` (`sha256` only) the SHA-256 of the layer's payload;
 * - `integratedTime` (seconds since the epoch) is the time at which a Fulcio certificate must be valid; one beyond
 *   what a Date holds (±8.64e12 s) is refused, since an invalid Date would compare as inside every validity period.
 * Documents with duplicate keys are refused (containers/image's canonicalizer refuses them too).
 */
import { createHash, verify, type KeyObject } from 'node:crypto';
import { FerryError, ErrorCode } from '../../errors.js';
import { assertNoDuplicateKeys } from '../strict-json.js';
import { decodeGoBase64 } from './verify.js';
import { pemBlocks } from './x509.js';

/** The layer annotation holding the Rekor SET. */
export const SIGSTORE_SET_ANNOTATION = 'dev.sigstore.cosign/bundle';
/** The largest SET annotation accepted (Rekor bodies are a few KiB). */
export const MAX_SET_BYTES = 1 << 20;

/** The largest integratedTime (seconds from the epoch, either way) a Date can represent. */
const MAX_DATE_SECONDS = 8.64e12;

function refused(reason: string): FerryError {
  return new FerryError(ErrorCode.Signature, `Rekor SET: ${reason}`);
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

/** JSON.parse, refusing duplicate keys and lone surrogates (which have no canonical form). */
function parseStrict(text: string, what: string): Json {
  let v: Json;
  try {
    v = JSON.parse(text) as Json;
  } catch (e) {
    throw refused(`${what}: ${e instanceof Error ? e.message : String(e)}`);
  }
  assertNoDuplicateKeys(text, (k) => refused(`${what}: duplicate key ${JSON.stringify(k)}`));
  return v;
}

/** How deeply the SET payload may nest (Rekor's is 1 level deep). */
const MAX_JSON_DEPTH = 32;

/** RFC 8785 (JCS) canonical JSON of a parsed value. */
export function canonicalJSON(v: Json, depth = 0): string {
  if (depth > MAX_JSON_DEPTH) throw refused('the SET payload is nested too deeply');
  if (v === null || typeof v === 'boolean') return JSON.stringify(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw refused('number out of range');
    return JSON.stringify(v);
  }
  if (typeof v === 'string') {
    if (/\p{Surrogate}/u.test(v)) throw refused('invalid Unicode in a string');
    return JSON.stringify(v);
  }
  if (Array.isArray(v)) return `[${v.map((x) => canonicalJSON(x, depth + 1)).join(',')}]`;
  return `{${Object.keys(v)
    .sort()
    .map((k) => `${canonicalJSON(k)}:${canonicalJSON(v[k]!, depth + 1)}`)
    .join(',')}}`;
}

function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Go's `[]byte` in JSON: standard base64 with padding (line breaks ignored). */
function bytesField(v: Json | undefined, what: string): Buffer {
  const bytes = typeof v === 'string' ? decodeGoBase64(v) : undefined;
  if (bytes === undefined) throw refused(`${what} is not base64`);
  return bytes;
}

function exactFields(o: Json, keys: string[], what: string): JsonObject {
  if (!isObject(o)) throw refused(`${what} is not a JSON object`);
  for (const k of Object.keys(o)) if (!keys.includes(k)) throw refused(`${what}: unknown key ${JSON.stringify(k)}`);
  for (const k of keys) if (!Object.hasOwn(o, k)) throw refused(`${what}: key ${JSON.stringify(k)} missing`);
  return o;
}

function intField(v: Json | undefined, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw refused(`${what} is not an integer`);
  return v;
}

/**
 * The DER of the single PEM block of `pem`, as Go's `pem.Decode` followed by a check that nothing follows it.
 * @throws FerryError naming `what`.
 */
export function singlePEM(pem: Buffer | string, what: string): Buffer {
  const text = typeof pem === 'string' ? pem : pem.toString('latin1');
  const m = /-----END ([A-Z0-9 ]+)-----[ \t\r]*(?:\n|$)/.exec(text);
  const blocks = pemBlocks(text);
  if (blocks.length === 0 || m === null) throw refused(`${what} is not in PEM format`);
  if (text.slice(m.index + m[0].length).length !== 0) throw refused(`${what} has trailing data`);
  return blocks[0]!.der;
}

function field(o: JsonObject, path: string[], what: string): Json {
  let cur: Json = o;
  for (const k of path) {
    if (!isObject(cur) || !Object.hasOwn(cur, k) || cur[k] === null) throw refused(`missing "${path.slice(0, path.indexOf(k) + 1).join('.')}" field in ${what}`);
    cur = cur[k]!;
  }
  return cur;
}

export interface RekorSETInput {
  /** The Rekor public keys (ECDSA); the SET must verify with one of them. */
  rekorKeys: KeyObject[];
  /** The SET annotation. */
  set: string;
  /** The DER of the signing public key (SubjectPublicKeyInfo) or certificate that the entry must name. */
  keyOrCertDER: Buffer;
  /** The layer's signature (decoded). */
  signature: Buffer;
  /** The layer's payload. */
  payload: Buffer;
}

/**
 * Verifies a Rekor SET (see the top of this file).
 * @returns the entry's integrated time.
 * @throws FerryError(E_SIGNATURE) `Rekor SET: …` naming what failed.
 */
export function verifyRekorSET(input: RekorSETInput): Date {
  if (input.set.length > MAX_SET_BYTES) throw refused(`the ${SIGSTORE_SET_ANNOTATION} annotation is over ${MAX_SET_BYTES} bytes`);
  const outer = exactFields(parseStrict(input.set, 'the SET annotation'), ['SignedEntryTimestamp', 'Payload'], 'the SET annotation');
  const set = bytesField(outer['SignedEntryTimestamp'], 'SignedEntryTimestamp');
  const canonical = Buffer.from(canonicalJSON(outer['Payload']!), 'utf8');
  if (input.rekorKeys.length === 0) throw refused('no Rekor public key');
  const signedByRekor = input.rekorKeys.some((k) => {
    try {
      return verify('sha256', canonical, k, set);
    } catch {
      return false;
    }
  });
  if (!signedByRekor) throw refused('cryptographic signature verification of the SET failed (no Rekor public key verifies it)');

  // parse the canonical bytes that were verified, not the delivered ones
  const p = exactFields(JSON.parse(canonical.toString('utf8')) as Json, ['body', 'integratedTime', 'logIndex', 'logID'], 'the SET payload');
  const body = bytesField(p['body'], 'the SET payload body');
  const integratedTime = intField(p['integratedTime'], 'integratedTime');
  intField(p['logIndex'], 'logIndex');
  if (typeof p['logID'] !== 'string') throw refused('logID is not a string');

  const entry = parseStrict(body.toString('utf8'), 'the Rekor entry body');
  if (!isObject(entry)) throw refused('the Rekor entry body is not a JSON object');
  if (entry['kind'] !== 'hashedrekord') throw refused(`unsupported Rekor entry kind ${JSON.stringify(entry['kind'] ?? '')} (only hashedrekord is accepted)`);
  if (entry['apiVersion'] === undefined || entry['apiVersion'] === null) throw refused('missing Rekor SET Payload API version');
  if (entry['apiVersion'] !== '0.0.1') throw refused(`unsupported hashedrekord version ${JSON.stringify(entry['apiVersion'])}`);
  const spec = entry['spec'];
  if (!isObject(spec)) throw refused('the hashedrekord spec is not a JSON object');
  const what = 'hashedrekord';

  const entryKey = singlePEM(bytesField(field(spec, ['signature', 'publicKey', 'content'], what), 'signature.publicKey.content'), 'the publicKey in the Rekor SET');
  if (!entryKey.equals(input.keyOrCertDER)) throw refused('the publicKey in the Rekor SET does not match the signing key or certificate');
  const entrySig = bytesField(field(spec, ['signature', 'content'], what), 'signature.content');
  if (!entrySig.equals(input.signature)) throw refused('the signature in the Rekor SET does not match the layer signature');
  const algorithm = field(spec, ['data', 'hash', 'algorithm'], what);
  if (algorithm !== 'sha256') throw refused(`unexpected "data.hash.algorithm" value ${JSON.stringify(algorithm)}`);
  const value = field(spec, ['data', 'hash', 'value'], what);
  if (typeof value !== 'string' || value.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(value)) throw refused('invalid "data.hash.value" field in hashedrekord');
  if (!Buffer.from(value, 'hex').equals(createHash('sha256').update(input.payload).digest())) {
    throw refused('the payload hash in the Rekor SET does not match the signature payload');
  }
  // a Date holds ±8.64e15 ms; past that it is NaN, which no validity comparison would refuse
  if (Math.abs(integratedTime) > MAX_DATE_SECONDS) throw refused(`integratedTime ${integratedTime} is out of range`);
  return new Date(integratedTime * 1000);
}
