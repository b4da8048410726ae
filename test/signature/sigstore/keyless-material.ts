/**
 * Test material for keyless (Fulcio + Rekor) and PKI sigstore signatures, generated fresh with openssl and
 * node:crypto: a CA root and intermediate, leaf certificates carrying Fulcio's OIDC issuer extensions and SAN
 * e-mails, a Rekor key, and signature layers whose Rekor SET is a real signature over a real hashedrekord entry.
 */
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { signatureToBlob } from '../../../src/signature/blob.js';
import { manifestDigest } from '../../../src/manifest/manifest-digest.js';
import { encodeSigstorePayload, SIGSTORE_SIGNATURE_ANNOTATION, SIGSTORE_SIGNATURE_MIME_TYPE } from '../../../src/signature/sigstore/payload.js';
import { canonicalJSON } from '../../../src/signature/sigstore/rekor-set.js';
import { run } from '../../harness/procs.js';

export const ISSUER = 'https://oidc.example.com';
export const EMAIL = 'signer@example.com';

async function openssl(dir: string, args: string[]): Promise<void> {
  const r = await run('openssl', args, { cwd: dir });
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

function ecKey(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

async function keyFile(dir: string, name: string, key: KeyObject): Promise<string> {
  const p = join(dir, `${name}.key`);
  await writeFile(p, key.export({ type: 'pkcs8', format: 'pem' }));
  return p;
}

export interface LeafOptions {
  /** Fulcio issuer v1 (raw bytes) and/or v2 (UTF8String) extensions. */
  issuerV1?: string;
  issuerV2?: string;
  email?: string;
  /** Extended key usage (openssl syntax); none if null. */
  eku?: string | null;
  dns?: string;
  /** More extension lines (openssl syntax). */
  extra?: string[];
  /** The signature digest (default sha256). */
  digest?: string;
}

export interface CA {
  dir: string;
  rootPEM: string;
  rootKey: string;
  intermediatePEM: string;
  intermediateKey: string;
  intermediatePath: string;
}

/** A root (10 years) and an intermediate (code signing only, path length 0), as Fulcio's. */
export async function makeCA(dir: string, name: string): Promise<CA> {
  const rootKey = await keyFile(dir, `${name}-root`, ecKey().privateKey);
  const intermediateKey = await keyFile(dir, `${name}-int`, ecKey().privateKey);
  await openssl(dir, ['req', '-x509', '-new', '-key', rootKey, '-subj', `/O=${name}/CN=${name} root`, '-days', '3650', '-sha256',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', `${name}-root.pem`]);
  await writeFile(join(dir, `${name}-int.ext`), 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nextendedKeyUsage=codeSigning\n');
  await openssl(dir, ['req', '-new', '-key', intermediateKey, '-subj', `/O=${name}/CN=${name} intermediate`, '-out', `${name}-int.csr`]);
  await openssl(dir, ['x509', '-req', '-in', `${name}-int.csr`, '-CA', `${name}-root.pem`, '-CAkey', rootKey, '-CAcreateserial', '-days', '3650', '-sha256',
    '-extfile', `${name}-int.ext`, '-out', `${name}-int.pem`]);
  return {
    dir,
    rootKey,
    intermediateKey,
    intermediatePath: join(dir, `${name}-int.pem`),
    rootPEM: await readFile(join(dir, `${name}-root.pem`), 'utf8'),
    intermediatePEM: await readFile(join(dir, `${name}-int.pem`), 'utf8'),
  };
}

let serial = 0;

/** A leaf certificate (valid from now for `days`) issued by `ca`'s intermediate; returns its PEM and private key. */
export async function makeLeaf(ca: CA, opts: LeafOptions, days = 1): Promise<{ pem: string; key: KeyObject; path: string; keyPath: string }> {
  const { privateKey } = ecKey();
  const name = `leaf${++serial}`;
  const key = await keyFile(ca.dir, name, privateKey);
  const lines = ['keyUsage=critical,digitalSignature', 'basicConstraints=critical,CA:FALSE'];
  const san = [opts.email !== undefined ? `email:${opts.email}` : '', opts.dns !== undefined ? `DNS:${opts.dns}` : ''].filter((s) => s).join(',');
  if (san) lines.push(`subjectAltName=critical,${san}`);
  const eku = opts.eku === undefined ? 'codeSigning' : opts.eku;
  if (eku !== null) lines.push(`extendedKeyUsage=${eku}`);
  if (opts.issuerV1 !== undefined) lines.push(`1.3.6.1.4.1.57264.1.1=DER:${Buffer.from(opts.issuerV1).toString('hex').replace(/(..)(?!$)/g, '$1:')}`);
  if (opts.issuerV2 !== undefined) lines.push(`1.3.6.1.4.1.57264.1.8=ASN1:UTF8String:${opts.issuerV2}`);
  lines.push(...(opts.extra ?? []));
  await writeFile(join(ca.dir, `${name}.ext`), `${lines.join('\n')}\n`);
  await openssl(ca.dir, ['req', '-new', '-key', key, '-subj', '/O=sigstore.dev', '-out', `${name}.csr`]);
  await openssl(ca.dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', ca.intermediatePath, '-CAkey', ca.intermediateKey,
    '-CAcreateserial', '-days', String(days), `-${opts.digest ?? 'sha256'}`, '-extfile', `${name}.ext`, '-out', `${name}.pem`]);
  return { pem: await readFile(join(ca.dir, `${name}.pem`), 'utf8'), key: privateKey, path: join(ca.dir, `${name}.pem`), keyPath: key };
}

export interface RekorEntry {
  /** The PEM the entry names (certificate, or public key). */
  publicKeyPEM: string;
  signature: Buffer;
  /** What the entry hashes (default: the real payload). */
  hashedPayload: Buffer;
  integratedTime: number;
}

/** A `dev.sigstore.cosign/bundle` annotation: a hashedrekord entry, signed by `rekorKey`. */
export function makeSET(rekorKey: KeyObject, e: RekorEntry): string {
  const body = {
    apiVersion: '0.0.1',
    kind: 'hashedrekord',
    spec: {
      data: { hash: { algorithm: 'sha256', value: createHash('sha256').update(e.hashedPayload).digest('hex') } },
      signature: { content: e.signature.toString('base64'), publicKey: { content: Buffer.from(e.publicKeyPEM).toString('base64') } },
    },
  };
  const payload = { body: Buffer.from(JSON.stringify(body)).toString('base64'), integratedTime: e.integratedTime, logIndex: 42, logID: 'c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d' };
  const set = sign('sha256', Buffer.from(canonicalJSON(payload)), rekorKey);
  return JSON.stringify({ SignedEntryTimestamp: set.toString('base64'), Payload: payload });
}

export interface SignatureParts {
  payload: Buffer;
  signature: Buffer;
}

/** The sigstore payload for `manifest` as `reference`, signed with `key`. */
export function signPayload(manifest: Buffer, reference: string, key: KeyObject): SignatureParts {
  const payload = encodeSigstorePayload({ dockerManifestDigest: manifestDigest(manifest), dockerReference: reference, creator: 'ferry test', timestamp: Math.floor(Date.now() / 1000) });
  return { payload, signature: sign('sha256', payload, key) };
}

/** A signature layer in storage form, with `annotations` besides the signature. */
export function signatureBlob(parts: SignatureParts, annotations: Record<string, string>): Buffer {
  return signatureToBlob({
    kind: 'sigstore',
    untrustedMIMEType: SIGSTORE_SIGNATURE_MIME_TYPE,
    untrustedPayload: parts.payload,
    untrustedAnnotations: { [SIGSTORE_SIGNATURE_ANNOTATION]: parts.signature.toString('base64'), ...annotations },
  });
}
