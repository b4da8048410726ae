/**
 * The JSON payload of a simple signing signature (containers-signature(5), "atomic container signature"):
 * writing it byte-for-byte as containers/image does, and parsing it as strictly as containers/image does.
 */
import { FerryError, ErrorCode } from '../errors.js';
import { parseDigest } from '../util/digest.js';
import { assertNoDuplicateKeys } from './strict-json.js';
import { goMarshal } from '../manifest/go-json.js';

/** The `critical.type` of every simple signing payload. */
export const SIGNATURE_TYPE = 'atomic container signature';

/** What a simple signing payload says. Untrusted until its OpenPGP signature has been verified. */
export interface SignaturePayload {
  /** `critical.image.docker-manifest-digest`: the digest of the signed manifest. */
  dockerManifestDigest: string;
  /** `critical.identity.docker-reference`: the name the image is signed as. */
  dockerReference: string;
  /** `optional.creator`, e.g. `ferry 0.1.0` (absent if the signer did not write one). */
  creator?: string;
  /** `optional.timestamp`: seconds since the Unix epoch (absent if the signer did not write one). */
  timestamp?: number;
}

/**
 * The payload bytes, as containers/image writes them (Go's `json.Marshal` of maps): keys sorted
 * (`critical` {`identity`, `image`, `type`}, `optional` {`creator`, `timestamp`}), no spaces, `<`, `>`, `&`,
 * U+2028 and U+2029 escaped as `\u003c`…
 * @throws FerryError(E_SIGNATURE) if the digest or the reference is empty, or the timestamp is not an integer.
 */
export function encodePayload(p: SignaturePayload): Buffer {
  if (!p.dockerManifestDigest || !p.dockerReference) {
    throw new FerryError(ErrorCode.Signature, 'signature payload needs a manifest digest and a docker reference');
  }
  if (p.timestamp !== undefined && !Number.isSafeInteger(p.timestamp)) {
    throw new FerryError(ErrorCode.Signature, `signature timestamp ${p.timestamp} is not an integer`);
  }
  const optional: Record<string, unknown> = {};
  if (p.creator !== undefined) optional['creator'] = p.creator;
  if (p.timestamp !== undefined) optional['timestamp'] = p.timestamp;
  const doc = {
    critical: {
      identity: { 'docker-reference': p.dockerReference },
      image: { 'docker-manifest-digest': p.dockerManifestDigest },
      type: SIGNATURE_TYPE,
    },
    optional,
  };
  return Buffer.from(goMarshal(doc), 'utf8');
}

function invalid(reason: string): FerryError {
  return new FerryError(ErrorCode.Signature, `invalid signature payload: ${reason}`);
}

type JsonObject = Record<string, unknown>;

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Checks that `v` is an object with exactly `fields` (all present, nothing else). */
function exactFields(v: unknown, where: string, fields: readonly string[]): JsonObject {
  if (!isObject(v)) throw invalid(`${where} is not a JSON object`);
  for (const k of Object.keys(v)) if (!fields.includes(k)) throw invalid(`unknown field "${k}" in ${where}`);
  for (const f of fields) if (!Object.hasOwn(v, f)) throw invalid(`missing field "${f}" in ${where}`);
  return v;
}

function stringField(o: JsonObject, key: string, where: string): string {
  const v = o[key];
  if (typeof v !== 'string') throw invalid(`${where}.${key} is not a string`);
  return v;
}

/**
 * Parses payload bytes as strictly as containers/image: the top level and `critical` (and its `image` and
 * `identity`) must have exactly the known fields, no key may appear twice, `critical.type` must be
 * {@link SIGNATURE_TYPE}, the digest must be valid; `optional` may hold anything, but `creator` must be a string
 * and `timestamp` an integer. Call it only on bytes whose signature has been verified.
 * @throws FerryError(E_SIGNATURE) naming what is wrong.
 */
export function parsePayload(bytes: Uint8Array): SignaturePayload {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw invalid('not UTF-8');
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw invalid(`not JSON (${(e as Error).message})`);
  }
  assertNoDuplicateKeys(text, (key) => invalid(`duplicate field "${key}"`));
  const top = exactFields(doc, 'the payload', ['critical', 'optional']);
  const critical = exactFields(top['critical'], 'critical', ['identity', 'image', 'type']);
  const type = critical['type'];
  if (type !== SIGNATURE_TYPE) throw invalid(`unrecognized signature type ${JSON.stringify(type)}`);
  const image = exactFields(critical['image'], 'critical.image', ['docker-manifest-digest']);
  const digest = stringField(image, 'docker-manifest-digest', 'critical.image');
  try {
    parseDigest(digest);
  } catch {
    throw invalid(`invalid docker-manifest-digest ${JSON.stringify(digest)}`);
  }
  const identity = exactFields(critical['identity'], 'critical.identity', ['docker-reference']);
  const out: SignaturePayload = {
    dockerManifestDigest: digest,
    dockerReference: stringField(identity, 'docker-reference', 'critical.identity'),
  };
  const optional = top['optional'];
  if (!isObject(optional)) throw invalid('optional is not a JSON object');
  if (Object.hasOwn(optional, 'creator')) out.creator = stringField(optional, 'creator', 'optional');
  if (Object.hasOwn(optional, 'timestamp')) {
    const ts = optional['timestamp'];
    if (typeof ts !== 'number' || !Number.isSafeInteger(ts)) throw invalid('optional.timestamp is not an integer');
    out.timestamp = ts;
  }
  return out;
}
