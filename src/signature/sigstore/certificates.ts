/**
 * The certificate-based sigstore trust roots of policy.json's `sigstoreSigned`, as containers/image
 * (`signature/fulcio_cert.go`, `signature/pki_cert.go`): they turn a signature's certificate annotations into the
 * public key its payload must verify with, or refuse it with the reason.
 * - Fulcio: the Rekor SET must verify first (./rekor-set.ts) and name the leaf certificate; the leaf must then chain
 *   to the Fulcio CA at the SET's integrated time (./x509.ts), hold the OIDC issuer extension (v1: the raw issuer
 *   bytes; v2: a DER string; if both, they must agree) equal to `oidcIssuer`, and `subjectEmail` among its SAN
 *   e-mail addresses.
 * - PKI: the leaf must chain to `caRoots`, through the configured and the annotated intermediates, now; it must have
 *   `subjectEmail` among its SAN e-mail addresses and match `subjectHostname` (each if given).
 * In both, the chain annotation's last certificate is taken to be the root and not used, as containers/image does;
 * a trust root without an identity to match (empty issuer, e-mail or host) is refused, as its validation does.
 */
import type { KeyObject } from 'node:crypto';
import { FerryError, ErrorCode } from '../../errors.js';
import { derString, parseDer } from './der.js';
import { MAX_SET_BYTES, SIGSTORE_SET_ANNOTATION, singlePEM, verifyRekorSET } from './rekor-set.js';
import {
  certificatesFromPEM,
  matchesHostname,
  OID_FULCIO_ISSUER_V1,
  OID_FULCIO_ISSUER_V2,
  verifyCertificateChain,
  type Certificate,
} from './x509.js';

/** The layer annotations holding the signing certificate and its chain (PEM). */
export const SIGSTORE_CERTIFICATE_ANNOTATION = 'dev.sigstore.cosign/certificate';
export const SIGSTORE_CHAIN_ANNOTATION = 'dev.sigstore.cosign/chain';
/** The largest certificate and chain annotations accepted. */
const MAX_CERTIFICATE_ANNOTATION = 64 << 10;
const MAX_CHAIN_ANNOTATION = 1 << 20;

function refused(reason: string): FerryError {
  return new FerryError(ErrorCode.Signature, reason);
}

export interface FulcioTrust {
  roots: Certificate[];
  oidcIssuer: string;
  subjectEmail: string;
}

export interface PKITrust {
  roots: Certificate[];
  intermediates: Certificate[];
  subjectEmail?: string;
  subjectHostname?: string;
}

/** What the certificate checks need from the signature layer. */
export interface SignatureMaterial {
  annotations: Record<string, string>;
  /** The decoded signature. */
  signature: Buffer;
  payload: Buffer;
}

function annotation(sig: SignatureMaterial, key: string, max: number, required: true): string;
function annotation(sig: SignatureMaterial, key: string, max: number, required: false): string | undefined;
function annotation(sig: SignatureMaterial, key: string, max: number, required: boolean): string | undefined {
  const v = Object.hasOwn(sig.annotations, key) ? sig.annotations[key] : undefined;
  if (v === undefined) {
    if (required) throw refused(`missing ${key} annotation`);
    return undefined;
  }
  if (v.length > max) throw refused(`the ${key} annotation is over ${max} bytes`);
  return v;
}

function leafOf(pem: string): Certificate {
  const certs = certificatesFromPEM(pem, 'parsing leaf certificate');
  if (certs.length === 0) throw refused('no certificate found in signature certificate data');
  if (certs.length > 1) throw refused('unexpected multiple certificates present in signature certificate data');
  return certs[0]!;
}

/** The annotated chain without its last certificate (the root, which must come from the policy). */
function chainIntermediates(sig: SignatureMaterial): Certificate[] {
  const chain = annotation(sig, SIGSTORE_CHAIN_ANNOTATION, MAX_CHAIN_ANNOTATION, false);
  if (chain === undefined || chain.length === 0) return [];
  return certificatesFromPEM(chain, 'loading certificate chain').slice(0, -1);
}

/** The OIDC issuer Fulcio recorded in `cert` (bytes: v1 holds them unparsed). */
export function fulcioIssuer(cert: Certificate): Buffer {
  const v1 = cert.extensions.get(OID_FULCIO_ISSUER_V1)?.value;
  const v2ext = cert.extensions.get(OID_FULCIO_ISSUER_V2)?.value;
  let v2: Buffer | undefined;
  if (v2ext !== undefined) {
    try {
      v2 = Buffer.from(derString(parseDer(v2ext), 'OIDC issuer v2 extension'), 'utf8');
    } catch (e) {
      throw refused(`invalid ASN.1 in OIDC issuer v2 extension: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (v1 !== undefined && v2 !== undefined && !v1.equals(v2)) {
    throw refused(`inconsistent OIDC issuer extension values: v1 ${JSON.stringify(v1.toString('utf8'))}, v2 ${JSON.stringify(v2.toString('utf8'))}`);
  }
  const issuer = v1 ?? v2;
  if (issuer === undefined) throw refused('Fulcio certificate is missing the issuer extension');
  return issuer;
}

function requireEmail(leaf: Certificate, email: string): void {
  if (!leaf.emails.includes(email)) throw refused(`required e-mail ${JSON.stringify(email)} not found in the certificate (got ${JSON.stringify(leaf.emails)})`);
}

/**
 * Verifies a keyless (Fulcio + Rekor) signature's certificate.
 * @returns the leaf's public key, which the payload signature must verify with.
 * @throws FerryError(E_SIGNATURE) naming what failed.
 */
export function verifyFulcioSignature(trust: FulcioTrust, rekorKeys: KeyObject[], sig: SignatureMaterial): KeyObject {
  // as containers/image's trust root validation: an empty requirement would match an empty value
  if (trust.oidcIssuer === '' || trust.subjectEmail === '') throw refused('Fulcio use set up without OIDC issuer or subject email');
  const set = annotation(sig, SIGSTORE_SET_ANNOTATION, MAX_SET_BYTES, true);
  const certPEM = annotation(sig, SIGSTORE_CERTIFICATE_ANNOTATION, MAX_CERTIFICATE_ANNOTATION, true);
  const certDER = singlePEM(certPEM, 'the certificate to be matched against the publicKey in the Rekor SET');
  const integrated = verifyRekorSET({ rekorKeys, set, keyOrCertDER: certDER, signature: sig.signature, payload: sig.payload });
  const intermediates = chainIntermediates(sig);
  const leaf = leafOf(certPEM);
  verifyCertificateChain(leaf, { roots: trust.roots, intermediates, at: integrated, ignoreCriticalSAN: true });
  const issuer = fulcioIssuer(leaf);
  if (!issuer.equals(Buffer.from(trust.oidcIssuer, 'utf8'))) {
    throw refused(`unexpected Fulcio OIDC issuer ${JSON.stringify(issuer.toString('utf8'))} (the policy requires ${JSON.stringify(trust.oidcIssuer)})`);
  }
  requireEmail(leaf, trust.subjectEmail);
  return leaf.publicKey;
}

/**
 * Verifies a signature's certificate against a PKI trust root, now.
 * @returns the leaf's public key.
 * @throws FerryError(E_SIGNATURE) naming what failed.
 */
export function verifyPKISignature(trust: PKITrust, sig: SignatureMaterial, now: Date = new Date()): KeyObject {
  if ((trust.subjectEmail ?? '') === '' && (trust.subjectHostname ?? '') === '') throw refused('PKI use set up without subject email or subject hostname');
  if (trust.subjectEmail === '' || trust.subjectHostname === '') throw refused('PKI use set up with an empty subject email or hostname');
  const certPEM = annotation(sig, SIGSTORE_CERTIFICATE_ANNOTATION, MAX_CERTIFICATE_ANNOTATION, true);
  const intermediates = [...trust.intermediates, ...chainIntermediates(sig)];
  const leaf = leafOf(certPEM);
  verifyCertificateChain(leaf, { roots: trust.roots, intermediates, at: now });
  if (trust.subjectEmail !== undefined) requireEmail(leaf, trust.subjectEmail);
  if (trust.subjectHostname !== undefined && !matchesHostname(leaf, trust.subjectHostname)) {
    throw refused(`unexpected subject hostname: the certificate is not valid for ${JSON.stringify(trust.subjectHostname)}`);
  }
  return leaf.publicKey;
}

