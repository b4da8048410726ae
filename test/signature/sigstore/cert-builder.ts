/**
 * Certificates built field by field (DER written here, signed with node:crypto), for the encodings openssl will not
 * produce: odd BOOLEANs, RSA-PSS parameters, version 1 certificates with extensions, trailing fields. Only what the
 * tests need; every certificate is really signed by the key given as its issuer's.
 */
import { constants, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';

/** One DER element: `tag`, then the definite length, then the contents. */
export function tlv(tag: number, ...contents: Buffer[]): Buffer {
  const body = Buffer.concat(contents);
  const n = body.length;
  const len = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : n < 0x10000 ? Buffer.from([0x82, n >> 8, n & 0xff]) : Buffer.from([0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, body]);
}

export const seq = (...c: Buffer[]) => tlv(0x30, ...c);
export const hex = (h: string) => Buffer.from(h.replace(/[\s:]/g, ''), 'hex');

export function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const out = [40 * arcs[0]! + arcs[1]!];
  for (const a of arcs.slice(2)) {
    const bytes = [a & 0x7f];
    for (let v = Math.floor(a / 128); v > 0; v = Math.floor(v / 128)) bytes.unshift((v & 0x7f) | 0x80);
    out.push(...bytes);
  }
  return tlv(0x06, Buffer.from(out));
}

export const int = (n: number) => tlv(0x02, Buffer.from(n < 0x80 ? [n] : [n >> 8, n & 0xff]));
const NULL = hex('0500');

/** A Name of one CN, as a UTF8String (or PrintableString). */
export const cn = (name: string, printable = false) => seq(tlv(0x31, seq(oid('2.5.4.3'), tlv(printable ? 0x13 : 0x0c, Buffer.from(name)))));

function generalizedTime(d: Date): Buffer {
  return tlv(0x18, Buffer.from(d.toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z')));
}

/** An extension with a raw critical-flag encoding (`criticalDER`: the whole BOOLEAN element, or none). */
export function extension(id: string, value: Buffer, critical: boolean | Buffer = false): Buffer {
  const flag = critical === true ? hex('0101ff') : critical === false ? Buffer.alloc(0) : critical;
  return seq(oid(id), flag, tlv(0x04, value));
}

/** basicConstraints with a raw cA BOOLEAN (or none) and an optional path length. */
export function basicConstraints(caDER: Buffer | undefined, pathLen?: number): Buffer {
  return extension('2.5.29.19', seq(caDER ?? Buffer.alloc(0), pathLen === undefined ? Buffer.alloc(0) : int(pathLen)), true);
}
export const CA_TRUE = hex('0101ff');
export const codeSigningEKU = () => extension('2.5.29.37', seq(oid('1.3.6.1.5.5.7.3.3')));
export const emailSAN = (email: string) => extension('2.5.29.17', seq(tlv(0x81, Buffer.from(email))));

export interface Signer {
  key: KeyObject;
  /** The AlgorithmIdentifier written in the certificate (default: from the key type). */
  algorithm?: Buffer;
  /** How to sign: node:crypto's hash name and options (default: SHA-256). */
  hash?: string | null;
  pss?: { saltLength: number };
}

export const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));
export const SHA256_RSA = seq(oid('1.2.840.113549.1.1.11'), NULL);

/** RSASSA-PSS AlgorithmIdentifier with `hash` (OID) for the message and MGF1, and `saltLength`. */
export function pssAlgorithm(hashOID: string, saltLength: number): Buffer {
  const h = seq(oid(hashOID), NULL);
  return seq(oid('1.2.840.113549.1.1.10'), seq(tlv(0xa0, h), tlv(0xa1, seq(oid('1.2.840.113549.1.1.8'), h)), tlv(0xa2, int(saltLength))));
}

export interface CertSpec {
  issuer: Buffer;
  subject: Buffer;
  publicKey: KeyObject;
  signer: Signer;
  extensions?: Buffer[];
  /** Omit the version field (a version 1 certificate), keeping any extensions. */
  v1?: boolean;
  notBefore?: Date;
  notAfter?: Date;
  /** Bytes appended inside the outer Certificate SEQUENCE. */
  trailing?: Buffer;
  /** The outer signatureAlgorithm, when it is to differ from the TBS one. */
  outerAlgorithm?: Buffer;
}

let serial = 1000;

/** A DER certificate as `spec` says, signed by `spec.signer`. */
export function buildCertificate(spec: CertSpec): Buffer {
  const s = spec.signer;
  const type = s.key.asymmetricKeyType;
  const algorithm = s.algorithm ?? (type === 'ec' ? ECDSA_SHA256 : type === 'ed25519' ? seq(oid('1.3.101.112')) : SHA256_RSA);
  const now = Date.now();
  const tbs = seq(
    spec.v1 === true ? Buffer.alloc(0) : tlv(0xa0, int(2)),
    int(++serial),
    algorithm,
    spec.issuer,
    seq(generalizedTime(spec.notBefore ?? new Date(now - 3600_000)), generalizedTime(spec.notAfter ?? new Date(now + 86400_000))),
    spec.subject,
    spec.publicKey.export({ type: 'spki', format: 'der' }),
    spec.extensions === undefined || spec.extensions.length === 0 ? Buffer.alloc(0) : tlv(0xa3, seq(...spec.extensions)),
  );
  const hash = s.hash === undefined ? (type === 'ed25519' ? null : 'sha256') : s.hash;
  const signature = s.pss !== undefined ? sign(hash, tbs, { key: s.key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: s.pss.saltLength }) : sign(hash, tbs, s.key);
  return seq(tbs, spec.outerAlgorithm ?? algorithm, tlv(0x03, Buffer.from([0]), signature), spec.trailing ?? Buffer.alloc(0));
}

export const pem = (der: Buffer) => `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END CERTIFICATE-----\n`;

export const ecKeys = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });
export const rsaKeys = () => generateKeyPairSync('rsa', { modulusLength: 2048 });
