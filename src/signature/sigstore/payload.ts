/**
 * The payload of a sigstore (cosign) signature: cosign's simple signing JSON
 * (`{"critical":{"identity":{"docker-reference":…},"image":{"docker-manifest-digest":…},"type":"cosign container image signature"},"optional":…}`),
 * parsed as strictly as containers/image does (`signature/internal/sigstore_payload.go`): exact fields in `critical`,
 * `optional` may be null and may hold other keys.
 */
import { FerryError, ErrorCode } from '../../errors.js';
import { isDigest } from '../../util/digest.js';
import { goMarshal } from '../../manifest/go-json.js';
import { assertNoDuplicateKeys } from '../strict-json.js';

/** `critical.type` of cosign signatures. */
export const SIGSTORE_SIGNATURE_TYPE = 'cosign container image signature';
/** The media type of cosign signature layers. */
export const SIGSTORE_SIGNATURE_MIME_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
/** The annotation holding the base64 signature of the payload. */
export const SIGSTORE_SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';

/** What a sigstore payload claims (trusted only once its signature has been verified). */
export interface SigstorePayload {
  dockerManifestDigest: string;
  dockerReference: string;
  creator?: string;
  timestamp?: number;
}

/**
 * The payload bytes as containers/image writes them (Go's encoding of its map: keys sorted, no spaces, HTML-safe
 * escapes) — what cosign and containers/image verify, hence written by hand in that order.
 */
export function encodeSigstorePayload(p: Required<SigstorePayload>): Buffer {
  const doc = {
    critical: {
      identity: { 'docker-reference': p.dockerReference },
      image: { 'docker-manifest-digest': p.dockerManifestDigest },
      type: SIGSTORE_SIGNATURE_TYPE,
    },
    optional: { creator: p.creator, timestamp: p.timestamp },
  };
  return Buffer.from(goMarshal(doc), 'utf8');
}

function invalid(reason: string): FerryError {
  return new FerryError(ErrorCode.Signature, `invalid sigstore payload: ${reason}`);
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function exact(v: unknown, where: string, keys: readonly string[]): Obj {
  if (!isObj(v)) throw invalid(`${where} is not a JSON object`);
  for (const k of Object.keys(v)) if (!keys.includes(k)) throw invalid(`unknown key ${JSON.stringify(k)} in ${where}`);
  for (const k of keys) if (!Object.hasOwn(v, k)) throw invalid(`key ${JSON.stringify(k)} missing in ${where}`);
  return v;
}

function str(o: Obj, key: string, where: string): string {
  const v = o[key];
  if (typeof v !== 'string') throw invalid(`${where}.${key} is not a string`);
  return v;
}

/**
 * Parses a verified payload.
 * @throws FerryError(E_SIGNATURE) for anything but the exact shape.
 */
export function parseSigstorePayload(bytes: Buffer): SigstorePayload {
  const text = bytes.toString('utf8');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw invalid((e as Error).message);
  }
  assertNoDuplicateKeys(text, (k) => invalid(`duplicate key ${JSON.stringify(k)}`));
  const top = exact(doc, 'the payload', ['critical', 'optional']);
  const critical = exact(top['critical'], 'critical', ['type', 'image', 'identity']);
  const type = str(critical, 'type', 'critical');
  if (type !== SIGSTORE_SIGNATURE_TYPE) throw invalid(`unrecognized signature type ${JSON.stringify(type)}`);
  const digest = str(exact(critical['image'], 'critical.image', ['docker-manifest-digest']), 'docker-manifest-digest', 'critical.image');
  if (!isDigest(digest)) throw invalid(`invalid docker-manifest-digest ${JSON.stringify(digest)}`);
  const out: SigstorePayload = {
    dockerManifestDigest: digest,
    dockerReference: str(exact(critical['identity'], 'critical.identity', ['docker-reference']), 'docker-reference', 'critical.identity'),
  };
  const optional = top['optional'];
  if (optional !== null) {
    if (!isObj(optional)) throw invalid('optional is not a JSON object');
    if (Object.hasOwn(optional, 'creator')) out.creator = str(optional, 'creator', 'optional');
    if (Object.hasOwn(optional, 'timestamp')) {
      const ts = optional['timestamp'];
      if (typeof ts !== 'number' || !Number.isSafeInteger(ts)) throw invalid('optional.timestamp is not an integer');
      out.timestamp = ts;
    }
  }
  return out;
}
