/**
 * Sigstore (cosign) key files: a private key in cosign's encrypted format — PEM `ENCRYPTED SIGSTORE PRIVATE KEY` (or
 * the older `ENCRYPTED COSIGN PRIVATE KEY`) around the JSON
 * `{"kdf":{"name":"scrypt","params":{"N":…,"r":…,"p":…},"salt":B64},"cipher":{"name":"nacl/secretbox","nonce":B64},"ciphertext":B64}`,
 * where the ciphertext is the PKCS#8 DER key sealed by NaCl secretbox under scrypt(passphrase, salt) — and the public
 * key as a PEM `PUBLIC KEY` (PKIX). cosign and skopeo read what is written here and the reverse, so the format is
 * hand-written to match theirs.
 *
 * secretbox (XSalsa20-Poly1305) is not in node:crypto; it comes from tweetnacl, a small, audited, dependency-free
 * port of the NaCl reference code (scrypt, ECDSA and key encodings are node:crypto's).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, scrypt, type KeyObject } from 'node:crypto';
import { FerryError, ErrorCode } from '../../errors.js';

/** The PEM type of private keys written (read: this one and the older cosign one). */
export const SIGSTORE_PRIVATE_KEY_PEM_TYPE = 'ENCRYPTED SIGSTORE PRIVATE KEY';
const COSIGN_PRIVATE_KEY_PEM_TYPE = 'ENCRYPTED COSIGN PRIVATE KEY';
/** scrypt parameters written, as cosign's. */
const SCRYPT = { N: 32768, r: 8, p: 1 };
/** The largest scrypt cost accepted when reading (memory 128·N·r bytes). */
const MAX_SCRYPT_MEMORY = 1024 * 1024 * 1024;

function keyError(message: string, cause?: unknown): FerryError {
  return new FerryError(ErrorCode.Signature, message, cause === undefined ? undefined : { cause });
}

async function nacl(): Promise<typeof import('tweetnacl')> {
  const m = (await import('tweetnacl')) as typeof import('tweetnacl') & { default?: typeof import('tweetnacl') };
  return m.default ?? m;
}

function deriveKey(passphrase: string, salt: Buffer, p: { N: number; r: number; p: number }): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(Buffer.from(passphrase, 'utf8'), salt, 32, { N: p.N, r: p.r, p: p.p, maxmem: 128 * p.N * p.r * 2 + 1024 * 1024 }, (err, key) => {
      if (err) reject(keyError(`deriving the key encryption key: ${err.message}`, err));
      else resolve(key);
    });
  });
}

/** Go's pem.Encode: base64 in lines of 64 characters. */
export function pemEncode(type: string, der: Buffer): string {
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${type}-----\n${b64}\n-----END ${type}-----\n`;
}

/** The first PEM block of `text`: its type and bytes. */
export function pemDecode(text: string): { type: string; bytes: Buffer } | undefined {
  const m = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/.exec(text);
  if (!m) return undefined;
  const body = m[2]!.split(/\r?\n/).filter((l) => l.trim() !== '' && !l.includes(':')).join('');
  if (!/^[A-Za-z0-9+/=\s]*$/.test(body)) return undefined;
  return { type: m[1]!, bytes: Buffer.from(body, 'base64') };
}

/** A generated key pair, as files would hold it. */
export interface SigstoreKeyPair {
  /** `PUBLIC KEY` PEM. */
  publicKeyPem: string;
  /** `ENCRYPTED SIGSTORE PRIVATE KEY` PEM. */
  privateKeyPem: string;
}

/** Encrypts a PKCS#8 DER private key with `passphrase` into cosign's PEM. */
export async function encryptPrivateKey(pkcs8: Buffer, passphrase: string): Promise<string> {
  const salt = randomBytes(32);
  const nonce = randomBytes(24);
  const key = await deriveKey(passphrase, salt, SCRYPT);
  const sealed = (await nacl()).secretbox(new Uint8Array(pkcs8), new Uint8Array(nonce), new Uint8Array(key));
  const json =
    `{"kdf":{"name":"scrypt","params":{"N":${SCRYPT.N},"r":${SCRYPT.r},"p":${SCRYPT.p}},"salt":"${salt.toString('base64')}"},` +
    `"cipher":{"name":"nacl/secretbox","nonce":"${nonce.toString('base64')}"},"ciphertext":"${Buffer.from(sealed).toString('base64')}"}`;
  return pemEncode(SIGSTORE_PRIVATE_KEY_PEM_TYPE, Buffer.from(json));
}

/** Generates an ECDSA P-256 key pair (what cosign and skopeo generate), the private key encrypted with `passphrase`. */
export async function generateSigstoreKeyPair(passphrase: string): Promise<SigstoreKeyPair> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const der = privateKey.export({ format: 'der', type: 'pkcs8' });
  return {
    publicKeyPem: pemEncode('PUBLIC KEY', publicKey.export({ format: 'der', type: 'spki' })),
    privateKeyPem: await encryptPrivateKey(der, passphrase),
  };
}

function b64Field(v: unknown, what: string): Buffer {
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) throw keyError(`invalid sigstore private key: ${what} is not base64`);
  return Buffer.from(v, 'base64');
}

/**
 * Decrypts a private key in cosign's format. `source` names it in messages.
 * @throws FerryError(E_SIGNATURE) for another format, unsupported parameters, or a wrong passphrase.
 */
export async function decryptPrivateKey(text: string, passphrase: string, source: string): Promise<KeyObject> {
  const pem = pemDecode(text);
  if (!pem || (pem.type !== SIGSTORE_PRIVATE_KEY_PEM_TYPE && pem.type !== COSIGN_PRIVATE_KEY_PEM_TYPE)) {
    throw keyError(`${source} is not a sigstore private key (expected a PEM "${SIGSTORE_PRIVATE_KEY_PEM_TYPE}" block)`);
  }
  let doc: { kdf?: { name?: unknown; params?: { N?: unknown; r?: unknown; p?: unknown }; salt?: unknown }; cipher?: { name?: unknown; nonce?: unknown }; ciphertext?: unknown };
  try {
    doc = JSON.parse(pem.bytes.toString('utf8')) as typeof doc;
  } catch (e) {
    throw keyError(`${source}: invalid sigstore private key: ${(e as Error).message}`, e);
  }
  if (doc?.kdf?.name !== 'scrypt') throw keyError(`${source}: unsupported key derivation ${JSON.stringify(doc?.kdf?.name)}`);
  if (doc.cipher?.name !== 'nacl/secretbox') throw keyError(`${source}: unsupported cipher ${JSON.stringify(doc.cipher?.name)}`);
  const { N, r, p } = doc.kdf.params ?? {};
  if (!Number.isSafeInteger(N) || !Number.isSafeInteger(r) || !Number.isSafeInteger(p) || (N as number) < 2 || ((N as number) & ((N as number) - 1)) !== 0 || (r as number) < 1 || (p as number) < 1 || (p as number) > 16) {
    throw keyError(`${source}: invalid scrypt parameters`);
  }
  if (128 * (N as number) * (r as number) > MAX_SCRYPT_MEMORY) throw keyError(`${source}: scrypt parameters need more than ${MAX_SCRYPT_MEMORY} bytes of memory`);
  const salt = b64Field(doc.kdf.salt, 'salt');
  const nonce = b64Field(doc.cipher.nonce, 'nonce');
  const ciphertext = b64Field(doc.ciphertext, 'ciphertext');
  if (nonce.length !== 24) throw keyError(`${source}: invalid sigstore private key: the nonce is not 24 bytes`);
  const key = await deriveKey(passphrase, salt, { N: N as number, r: r as number, p: p as number });
  const opened = (await nacl()).secretbox.open(new Uint8Array(ciphertext), new Uint8Array(nonce), new Uint8Array(key));
  if (!opened) throw keyError(`${source}: cannot decrypt the sigstore private key: wrong passphrase?`);
  try {
    return createPrivateKey({ key: Buffer.from(opened), format: 'der', type: 'pkcs8' });
  } catch (e) {
    throw keyError(`${source}: the decrypted sigstore private key is not a PKCS#8 key: ${(e as Error).message}`, e);
  }
}

/**
 * Reads a `PUBLIC KEY` PEM (PKIX).
 * @throws FerryError(E_SIGNATURE) for anything else.
 */
export function readSigstorePublicKey(text: string, source: string): KeyObject {
  const pem = pemDecode(text);
  if (!pem || pem.type !== 'PUBLIC KEY') throw keyError(`${source} is not a PEM public key`);
  try {
    return createPublicKey({ key: pem.bytes, format: 'der', type: 'spki' });
  } catch (e) {
    throw keyError(`${source}: invalid public key: ${(e as Error).message}`, e);
  }
}
