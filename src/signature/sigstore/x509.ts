/**
 * X.509 certificates for sigstore signatures (Fulcio and PKI): parsing what node:crypto's X509Certificate does not
 * expose, and verifying a leaf against trusted roots at a given time as Go's `crypto/x509` `Certificate.Verify`
 * does for containers/image (`signature/fulcio_cert.go`, `signature/pki_cert.go`). Must match Go's rules, hence
 * written here:
 * - a chain is leaf → untrusted intermediates → a trusted root, each child's issuer name equal (byte for byte) to its
 *   parent's subject name and its signature verified with the parent's key (SHA-256/384/512 RSA, RSA-PSS with Go's
 *   parameters only, ECDSA or Ed25519; SHA-1 and MD5 are refused, as Go does); a leaf that is itself a trusted root
 *   is a chain of one;
 * - certificates are read as strictly as Go reads them where it matters: the inner and outer signature algorithms
 *   byte for byte equal, BOOLEANs 0x00 or 0xff, minimal INTEGERs, extensions only in version 3, public keys only of
 *   the types Go parses (RSA, ECDSA on P-224/256/384/521, Ed25519);
 * - every certificate of the chain, root included, must be valid at the given time (notBefore ≤ t ≤ notAfter);
 * - intermediates must be CAs (basic constraints), and a path length limit is enforced (on roots too, CA or not);
 * - the extended key usage: every certificate that has the extension must allow code signing (or any usage); one
 *   without the extension allows every usage (so, as Go, a leaf without it passes);
 * - a critical extension ferry does not handle refuses the certificate; name constraints (which Go enforces) are
 *   not implemented, so a certificate carrying them is refused whether critical or not (fails closed);
 * - duplicate extensions are refused (as Go ≥ 1.19 does when parsing).
 */
import { X509Certificate, type KeyObject } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import { FerryError, ErrorCode } from '../../errors.js';
import { children, derBoolean, derError, derSmallInteger, derString, derTime, expectTag, oidString, parseDer, TAG, type Der } from './der.js';

/** Fulcio's OIDC issuer extensions: v1 holds the raw issuer bytes, v2 a DER string. */
export const OID_FULCIO_ISSUER_V1 = '1.3.6.1.4.1.57264.1.1';
export const OID_FULCIO_ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';
const OID_KEY_USAGE = '2.5.29.15';
const OID_SAN = '2.5.29.17';
const OID_BASIC_CONSTRAINTS = '2.5.29.19';
const OID_NAME_CONSTRAINTS = '2.5.29.30';
const OID_CERT_POLICIES = '2.5.29.32';
const OID_EKU = '2.5.29.37';
const OID_EKU_ANY = '2.5.29.37.0';
export const OID_EKU_CODE_SIGNING = '1.3.6.1.5.5.7.3.3';
/** Critical extensions whose meaning ferry applies (or that carry no constraint Go would enforce). */
const HANDLED_CRITICAL = new Set([OID_KEY_USAGE, OID_SAN, OID_BASIC_CONSTRAINTS, OID_CERT_POLICIES, OID_EKU, '2.5.29.14', '2.5.29.35']);

/** Signature algorithms Go's crypto/x509 verifies (not SHA-1, not MD5), by OID; RSASSA-PSS is read from its parameters. */
const SIGNATURE_ALGORITHMS = new Map([
  ['1.2.840.113549.1.1.11', 'sha256WithRSAEncryption'],
  ['1.2.840.113549.1.1.12', 'sha384WithRSAEncryption'],
  ['1.2.840.113549.1.1.13', 'sha512WithRSAEncryption'],
  ['1.2.840.10045.4.3.2', 'ecdsa-with-SHA256'],
  ['1.2.840.10045.4.3.3', 'ecdsa-with-SHA384'],
  ['1.2.840.10045.4.3.4', 'ecdsa-with-SHA512'],
  ['1.3.101.112', 'Ed25519'],
]);
const OID_RSA_PSS = '1.2.840.113549.1.1.10';
const OID_MGF1 = '1.2.840.113549.1.1.8';
/** RSASSA-PSS hashes Go accepts, with the salt length each requires (the hash length). */
const PSS_HASHES = new Map<string, [name: string, saltLength: number]>([
  ['2.16.840.1.101.3.4.2.1', ['SHA256-RSAPSS', 32]],
  ['2.16.840.1.101.3.4.2.2', ['SHA384-RSAPSS', 48]],
  ['2.16.840.1.101.3.4.2.3', ['SHA512-RSAPSS', 64]],
]);
/** The elliptic curves Go's crypto/x509 parses public keys on (node:crypto's names). */
const EC_CURVES = new Set(['secp224r1', 'prime256v1', 'secp384r1', 'secp521r1']);

/** Limits: PEM inputs and certificates per input (untrusted annotations; trusted files), chain length and signature checks while building chains. */
const UNTRUSTED_LIMITS = { bytes: 1 << 20, certificates: 64 };
const TRUSTED_LIMITS = { bytes: 4 << 20, certificates: 4096 };
const MAX_CHAIN_LENGTH = 10;
const MAX_SIGNATURE_CHECKS = 100;

function refused(reason: string): FerryError {
  return new FerryError(ErrorCode.Signature, reason);
}

export interface Extension {
  critical: boolean;
  value: Buffer;
}

/** A parsed certificate. */
export interface Certificate {
  x509: X509Certificate;
  raw: Buffer;
  issuer: Buffer;
  subject: Buffer;
  notBefore: Date;
  notAfter: Date;
  /** The signature algorithm's OID. */
  signatureAlgorithm: string;
  /** The signature algorithm's name if Go's crypto/x509 verifies it (with these parameters), else undefined. */
  acceptedAlgorithm: string | undefined;
  extensions: Map<string, Extension>;
  isCA: boolean;
  /** The basic constraints path length limit, if any. */
  maxPathLen?: number;
  /** The extended key usages, undefined without the extension. */
  extKeyUsage?: string[];
  emails: string[];
  dnsNames: string[];
  ips: Buffer[];
  /** How many URI names the SAN holds (read, not matched). */
  uris: number;
  publicKey: KeyObject;
}

function extensionsOf(el: Der): Map<string, Extension> {
  const out = new Map<string, Extension>();
  const seq = expectTag(children(el)[0], TAG.SEQUENCE, 'extensions');
  for (const ext of children(seq)) {
    const parts = children(expectTag(ext, TAG.SEQUENCE, 'extension'));
    const oid = oidString(expectTag(parts[0], TAG.OID, 'extension id'));
    let critical = false;
    let i = 1;
    if (parts[i]?.tag === TAG.BOOLEAN) critical = derBoolean(parts[i++]!, 'extension critical flag');
    const value = expectTag(parts[i], TAG.OCTET_STRING, 'extension value').value;
    if (parts.length !== i + 1) throw derError(`extension ${oid}: unexpected fields`);
    if (out.has(oid)) throw refused(`certificate has a duplicate extension ${oid}`);
    out.set(oid, { critical, value });
  }
  return out;
}

function parseSAN(value: Buffer, cert: Pick<Certificate, 'emails' | 'dnsNames' | 'ips' | 'uris'>): void {
  for (const name of children(expectTag(parseDer(value), TAG.SEQUENCE, 'subject alternative name'))) {
    if (name.tag === 0x81) cert.emails.push(derString({ ...name, tag: TAG.IA5_STRING }, 'e-mail address'));
    else if (name.tag === 0x82) cert.dnsNames.push(derString({ ...name, tag: TAG.IA5_STRING }, 'DNS name'));
    else if (name.tag === 0x86) cert.uris++;
    else if (name.tag === 0x87) {
      if (name.value.length !== 4 && name.value.length !== 16) throw derError('IP address length');
      cert.ips.push(name.value);
    }
  }
}

/** An AlgorithmIdentifier's parameters are absent or NULL. */
function absentOrNull(params: Der | undefined): boolean {
  return params === undefined || (params.tag === 0x05 && params.value.length === 0);
}

/**
 * The name of the signature algorithm `algorithm` (an AlgorithmIdentifier) as Go's crypto/x509 reads it, undefined
 * if Go does not verify it: Ed25519 must have no parameters; RSASSA-PSS must name SHA-256/384/512, MGF1 with the same
 * hash, a salt as long as the hash and the default trailer field (OpenSSL would verify any PSS parameters, SHA-1
 * included).
 */
function acceptedSignatureAlgorithm(algorithm: Der): string | undefined {
  const parts = children(algorithm);
  const id = oidString(expectTag(parts[0], TAG.OID, 'signature algorithm'));
  if (parts.length > 2) return undefined;
  if (id === '1.3.101.112' && parts[1] !== undefined) return undefined;
  if (id !== OID_RSA_PSS) return SIGNATURE_ALGORITHMS.get(id);
  const p = parts[1];
  if (p === undefined || p.tag !== TAG.SEQUENCE) return undefined;
  const fields = children(p);
  const field = (tag: number) => {
    const f = fields.find((x) => x.tag === tag);
    if (f === undefined) return undefined;
    const inner = children(f);
    return inner.length === 1 ? inner[0] : undefined;
  };
  if (fields.some((f) => f.tag < 0xa0 || f.tag > 0xa3) || new Set(fields.map((f) => f.tag)).size !== fields.length) return undefined;
  const hashAI = field(0xa0);
  const mgfAI = field(0xa1);
  const salt = field(0xa2);
  const trailer = fields.some((f) => f.tag === 0xa3) ? field(0xa3) : undefined;
  if (hashAI?.tag !== TAG.SEQUENCE || mgfAI?.tag !== TAG.SEQUENCE || salt === undefined) return undefined;
  const hash = children(hashAI);
  const mgf = children(mgfAI);
  if (hash.length > 2 || !absentOrNull(hash[1]) || mgf.length !== 2 || oidString(expectTag(mgf[0], TAG.OID, 'MGF')) !== OID_MGF1) return undefined;
  if (mgf[1]!.tag !== TAG.SEQUENCE) return undefined;
  const mgfHash = children(mgf[1]!);
  const hashId = oidString(expectTag(hash[0], TAG.OID, 'PSS hash'));
  if (mgfHash.length > 2 || oidString(expectTag(mgfHash[0], TAG.OID, 'MGF1 hash')) !== hashId || !absentOrNull(mgfHash[1])) return undefined;
  if (fields.some((f) => f.tag === 0xa3) && (trailer === undefined || derSmallInteger(trailer, 'PSS trailer field') !== 1)) return undefined;
  const known = PSS_HASHES.get(hashId);
  if (known === undefined || derSmallInteger(salt, 'PSS salt length') !== known[1]) return undefined;
  return known[0];
}

/** Whether Go's crypto/x509 parses and verifies with `key`: RSA (1024 bits or more), ECDSA on the NIST curves, Ed25519. */
function goParsesKey(key: KeyObject): boolean {
  const type = key.asymmetricKeyType;
  // Go (≥ 1.24) refuses to verify with RSA keys under 1024 bits
  if (type === 'rsa') return (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 1024;
  if (type === 'ed25519') return true;
  return type === 'ec' && EC_CURVES.has(key.asymmetricKeyDetails?.namedCurve ?? '');
}

/** Parses one DER certificate. */
export function parseCertificate(der: Buffer): Certificate {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(der);
  } catch (e) {
    throw refused(`parsing certificate: ${e instanceof Error ? e.message : String(e)}`);
  }
  const top = children(expectTag(parseDer(der), TAG.SEQUENCE, 'certificate'));
  const tbs = children(expectTag(top[0], TAG.SEQUENCE, 'tbsCertificate'));
  if (top.length !== 3) throw derError('certificate: unexpected fields');
  const outer = expectTag(top[1], TAG.SEQUENCE, 'signatureAlgorithm');
  const outerAlg = oidString(expectTag(children(outer)[0], TAG.OID, 'signature algorithm'));
  // version: v1 (absent) to v3; only v3 has extensions, which Go ignores otherwise (refused here instead)
  let version = 0;
  if (tbs[0]?.tag === 0xa0) {
    const v = children(tbs[0]);
    if (v.length !== 1) throw derError('version');
    version = derSmallInteger(v[0]!, 'version');
    if (version > 2) throw refused(`invalid certificate version ${version + 1}`);
  }
  let i = tbs[0]?.tag === 0xa0 ? 1 : 0;
  expectTag(tbs[i++], TAG.INTEGER, 'serial number');
  const inner = expectTag(tbs[i++], TAG.SEQUENCE, 'signature');
  if (!inner.raw.equals(outer.raw)) throw refused('certificate signature algorithms disagree');
  const issuer = expectTag(tbs[i++], TAG.SEQUENCE, 'issuer').raw;
  const validity = children(expectTag(tbs[i++], TAG.SEQUENCE, 'validity'));
  if (validity.length !== 2) throw derError('validity');
  const subject = expectTag(tbs[i++], TAG.SEQUENCE, 'subject').raw;
  expectTag(tbs[i++], TAG.SEQUENCE, 'subjectPublicKeyInfo');
  while (version > 0 && tbs[i] !== undefined && (tbs[i]!.tag === 0x81 || tbs[i]!.tag === 0x82)) i++;
  if (tbs[i]?.tag === 0xa3 && version !== 2) throw refused(`a version ${version + 1} certificate has extensions`);
  const extensions = tbs[i] !== undefined && tbs[i]!.tag === 0xa3 ? extensionsOf(tbs[i++]!) : new Map<string, Extension>();
  if (tbs[i - 1]?.tag === 0xa3 && children(tbs[i - 1]!).length !== 1) throw derError('extensions');
  if (i !== tbs.length) throw derError('unexpected fields in tbsCertificate');

  const cert: Certificate = {
    x509,
    raw: der,
    issuer,
    subject,
    notBefore: derTime(validity[0]!),
    notAfter: derTime(validity[1]!),
    signatureAlgorithm: outerAlg,
    acceptedAlgorithm: acceptedSignatureAlgorithm(outer),
    extensions,
    isCA: false,
    emails: [],
    dnsNames: [],
    ips: [],
    uris: 0,
    publicKey: x509.publicKey,
  };
  if (!goParsesKey(cert.publicKey)) {
    const curve = cert.publicKey.asymmetricKeyDetails?.namedCurve;
    throw refused(`unsupported public key type ${String(cert.publicKey.asymmetricKeyType)}${curve !== undefined ? ` (${curve})` : ''}`);
  }
  const bc = extensions.get(OID_BASIC_CONSTRAINTS);
  if (bc !== undefined) {
    const f = children(expectTag(parseDer(bc.value), TAG.SEQUENCE, 'basic constraints'));
    let j = 0;
    if (f[j]?.tag === TAG.BOOLEAN) cert.isCA = derBoolean(f[j++]!, 'basic constraints cA');
    // as Go, the path length limit applies whether or not the certificate says it is a CA (a root need not)
    if (f[j]?.tag === TAG.INTEGER) cert.maxPathLen = derSmallInteger(f[j++]!, 'path length constraint');
    if (j !== f.length) throw derError('basic constraints');
  }
  const eku = extensions.get(OID_EKU);
  if (eku !== undefined) cert.extKeyUsage = children(expectTag(parseDer(eku.value), TAG.SEQUENCE, 'extended key usage')).map(oidString);
  const san = extensions.get(OID_SAN);
  if (san !== undefined) parseSAN(san.value, cert);
  return cert;
}

/** The DER bodies of the PEM blocks of `pem`, with their types, within `limits`. */
export function pemBlocks(pem: Buffer | string, limits = UNTRUSTED_LIMITS): { type: string; der: Buffer }[] {
  const text = typeof pem === 'string' ? pem : pem.toString('latin1');
  if (text.length > limits.bytes) throw refused(`PEM data over ${limits.bytes} bytes`);
  const out: { type: string; der: Buffer }[] = [];
  const re = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\s]*?)-----END \1-----/g;
  for (let m; (m = re.exec(text)) !== null; ) {
    if (out.length >= limits.certificates) throw refused(`more than ${limits.certificates} PEM blocks`);
    const b64 = m[2]!.replace(/\s+/g, '');
    if (b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw refused('invalid base64 in a PEM block');
    out.push({ type: m[1]!, der: Buffer.from(b64, 'base64') });
  }
  return out;
}

/**
 * The certificates of a PEM list, as sigstore's `UnmarshalCertificatesFromPEM`: every block must be a CERTIFICATE
 * that parses, and nothing but white space may follow the last one.
 */
export function certificatesFromPEM(pem: Buffer | string, what: string, trusted = false): Certificate[] {
  const text = typeof pem === 'string' ? pem : pem.toString('latin1');
  const blocks = pemBlocks(text, trusted ? TRUSTED_LIMITS : UNTRUSTED_LIMITS);
  // sigstore's reader fails on text without PEM blocks, and on anything but white space after the last one
  const last = text.lastIndexOf('-----END ');
  if (text.trim() !== '') {
    if (last < 0) throw refused(`${what}: no PEM data`);
    if (!/^-----END [A-Z0-9 ]+-----\s*$/.test(text.slice(last))) throw refused(`${what}: data after the last PEM block`);
  }
  return blocks.map((b, i) => {
    if (b.type !== 'CERTIFICATE') throw refused(`${what}: PEM block ${i + 1} is a ${b.type}, not a CERTIFICATE`);
    try {
      return parseCertificate(b.der);
    } catch (e) {
      throw refused(`${what}: certificate ${i + 1}: ${e instanceof Error ? e.message : String(e)}`);
    }
  });
}

/** Trusted certificates as Go's `CertPool.AppendCertsFromPEM`: unparsable blocks are skipped; none at all is an error. */
export function trustedCertificatesFromPEM(pem: Buffer, what: string): Certificate[] {
  const out: Certificate[] = [];
  for (const b of pemBlocks(pem, TRUSTED_LIMITS)) {
    if (b.type !== 'CERTIFICATE') continue;
    try {
      out.push(parseCertificate(b.der));
    } catch {
      // skipped, as Go does
    }
  }
  if (out.length === 0) throw refused(`error loading ${what}: no certificate found`);
  return out;
}

function iso(d: Date): string {
  if (Number.isNaN(d.getTime())) return 'an invalid time';
  return d.toISOString().replace('.000Z', 'Z');
}

/** Why `cert` cannot be at `position` of a chain at time `at` (undefined if it can). */
function invalidity(cert: Certificate, kind: 'leaf' | 'intermediate' | 'root', intermediatesBelow: number, at: Date, ignoreCriticalSAN: boolean): string | undefined {
  for (const [oid, ext] of cert.extensions) {
    if (oid === OID_NAME_CONSTRAINTS) return `${kind} certificate has name constraints, which ferry does not implement`;
    if (ext.critical && !HANDLED_CRITICAL.has(oid) && !(ignoreCriticalSAN && oid === OID_SAN)) return `${kind} certificate has an unhandled critical extension ${oid}`;
  }
  if (!ignoreCriticalSAN && cert.extensions.get(OID_SAN)?.critical && cert.emails.length + cert.dnsNames.length + cert.ips.length + cert.uris === 0) {
    return `${kind} certificate has a critical subject alternative name ferry cannot read`;
  }
  // written so that an invalid time (NaN) is outside every validity period
  if (!(at.getTime() >= cert.notBefore.getTime() && at.getTime() <= cert.notAfter.getTime())) {
    return `${kind} certificate has expired or is not yet valid: ${iso(at)} is outside ${iso(cert.notBefore)} to ${iso(cert.notAfter)}`;
  }
  if (kind === 'intermediate' && !cert.isCA) return 'an intermediate certificate is not a CA';
  if (kind !== 'leaf' && cert.maxPathLen !== undefined && intermediatesBelow > cert.maxPathLen) return `${kind} certificate path length constraint exceeded`;
  return undefined;
}

function allowsCodeSigning(cert: Certificate): boolean {
  const eku = cert.extKeyUsage;
  return eku === undefined || eku.length === 0 || eku.includes(OID_EKU_ANY) || eku.includes(OID_EKU_CODE_SIGNING);
}

/** Whether `child` was signed by `parent`'s key with an accepted algorithm. */
function signedBy(child: Certificate, parent: Certificate): boolean {
  if (child.acceptedAlgorithm === undefined) return false;
  try {
    return child.x509.verify(parent.publicKey);
  } catch {
    return false;
  }
}

export interface ChainOptions {
  roots: Certificate[];
  intermediates: Certificate[];
  at: Date;
  /** Do not refuse a critical SAN with no name ferry reads (containers/image does so for Fulcio, which matches SANs itself). */
  ignoreCriticalSAN?: boolean;
}

/**
 * Verifies that `leaf` chains to one of `roots` at `at`, allowing code signing (see the top of this file).
 * @throws FerryError(E_SIGNATURE) naming what failed.
 */
export function verifyCertificateChain(leaf: Certificate, opts: ChainOptions): void {
  const ignore = opts.ignoreCriticalSAN === true;
  const bad = invalidity(leaf, 'leaf', 0, opts.at, ignore);
  if (bad !== undefined) throw refused(`verifying leaf certificate failed: ${bad}`);
  if (opts.roots.some((r) => r.raw.equals(leaf.raw))) {
    if (!allowsCodeSigning(leaf)) throw refused('verifying leaf certificate failed: the certificate does not allow code signing');
    return;
  }
  let checks = 0;
  let lastProblem: string | undefined;
  let ekuProblem = false;
  const search = (chain: Certificate[]): boolean => {
    const cert = chain[chain.length - 1]!;
    const candidates: [Certificate, 'root' | 'intermediate'][] = [
      ...opts.roots.map((c) => [c, 'root'] as [Certificate, 'root']),
      ...opts.intermediates.map((c) => [c, 'intermediate'] as [Certificate, 'intermediate']),
    ];
    for (const [parent, kind] of candidates) {
      if (!parent.subject.equals(cert.issuer) || chain.some((c) => c.raw.equals(parent.raw))) continue;
      if (++checks > MAX_SIGNATURE_CHECKS) throw refused('verifying leaf certificate failed: too many signature checks');
      if (!signedBy(cert, parent)) {
        lastProblem ??= cert.acceptedAlgorithm !== undefined ? undefined : `certificate signature algorithm ${cert.signatureAlgorithm} is not accepted`;
        continue;
      }
      const why = invalidity(parent, kind, chain.length - 1, opts.at, false);
      if (why !== undefined) {
        lastProblem = why;
        continue;
      }
      const next = [...chain, parent];
      if (kind === 'root') {
        if (next.every(allowsCodeSigning)) return true;
        ekuProblem = true;
        continue;
      }
      if (next.length < MAX_CHAIN_LENGTH && search(next)) return true;
    }
    return false;
  };
  if (search([leaf])) return;
  if (ekuProblem) throw refused('verifying leaf certificate failed: the certificate chain does not allow code signing');
  throw refused(`verifying leaf certificate failed: certificate signed by unknown authority${lastProblem !== undefined ? ` (${lastProblem})` : ''}`);
}

/** Go's `Certificate.VerifyHostname`: an IP literal against the IP SANs, else a DNS name against the DNS SANs (`*.` wildcards for one label). */
export function matchesHostname(cert: Certificate, host: string): boolean {
  const literal = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const family = isIP(literal);
  if (family !== 0) {
    const list = new BlockList();
    for (const ip of cert.ips) {
      if (ip.length === 4) list.addAddress([...ip].join('.'), 'ipv4');
      else list.addAddress(Array.from({ length: 8 }, (_, i) => ip.readUInt16BE(i * 2).toString(16)).join(':'), 'ipv6');
    }
    return list.check(literal, family === 4 ? 'ipv4' : 'ipv6');
  }
  const h = host.toLowerCase().replace(/\.$/, '');
  if (h === '') return false;
  return cert.dnsNames.some((n) => {
    const p = n.toLowerCase().replace(/\.$/, '');
    if (p === h) return true;
    if (!p.startsWith('*.') || p.length < 3) return false;
    const dot = h.indexOf('.');
    return dot > 0 && h.slice(dot + 1) === p.slice(2);
  });
}
