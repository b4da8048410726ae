/**
 * `sigstoreSigned`, as containers/image's `policy_eval_sigstore.go`: the image is allowed if any of its sigstore
 * signatures is accepted. A signature is accepted when its payload verifies with a trusted public key, is for the
 * manifest's digest and claims an accepted identity; the trusted key is
 * - one of the policy's public keys; with `rekorPublicKey…`, only the one that the signature's Rekor SET names
 *   (a signature without a valid SET is refused);
 * - for `fulcio`, the key of the signature's certificate, once the Rekor SET (required) and the certificate have been
 *   verified (../sigstore/certificates.ts);
 * - for `pki`, the key of the signature's certificate, once it chains to the configured roots.
 * Anything that does not verify refuses the signature, with the reason.
 */
import type { KeyObject } from 'node:crypto';
import { FerryError, ErrorCode } from '../../errors.js';
import { signatureFromBlob, type SigstoreSignature } from '../blob.js';
import { verifyFulcioSignature, verifyPKISignature, type SignatureMaterial } from '../sigstore/certificates.js';
import { SIGSTORE_SIGNATURE_ANNOTATION, SIGSTORE_SIGNATURE_MIME_TYPE } from '../sigstore/payload.js';
import { SIGSTORE_SET_ANNOTATION, verifyRekorSET } from '../sigstore/rekor-set.js';
import { decodeGoBase64, parseSigstorePublicKeys, verifySigstoreSignature } from '../sigstore/verify.js';
import { trustedCertificatesFromPEM, certificatesFromPEM } from '../sigstore/x509.js';
import { claimsRejection } from './identity.js';
import type { PolicyImage } from './image.js';
import { readKeySource } from './key-sources.js';
import { summarize, type Verdict } from './verdict.js';
import type { ParseDockerReference, PolicyRequirement } from '../../config/policy-types.js';
import type { FulcioTrust, PKITrust } from '../sigstore/certificates.js';

type SigstoreSigned = Extract<PolicyRequirement, { type: 'sigstoreSigned' }>;

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** The requirement's trust material, read and parsed (once per evaluation). */
interface TrustRoot {
  publicKeys?: KeyObject[];
  rekorKeys?: KeyObject[];
  fulcio?: FulcioTrust;
  pki?: PKITrust;
}

async function prepareTrustRoot(req: SigstoreSigned, signal?: AbortSignal): Promise<TrustRoot> {
  const out: TrustRoot = {};
  if (req.keys !== undefined) out.publicKeys = parseSigstorePublicKeys(await readKeySource(req.keys, 'public key', signal));
  if (req.roots.rekor !== undefined) {
    const pems = await readKeySource(req.roots.rekor, 'Rekor public key', signal);
    out.rekorKeys = parseSigstorePublicKeys(pems, 'Rekor public key').map((k, i) => {
      if (k.asymmetricKeyType !== 'ec') throw new FerryError(ErrorCode.Signature, `Rekor public key ${i + 1} is not using ECDSA`);
      return k;
    });
  }
  const { fulcio, pki } = req.roots;
  if (fulcio !== undefined) {
    const [ca] = await readKeySource(fulcio.ca, 'Fulcio CA certificate', signal);
    out.fulcio = { roots: trustedCertificatesFromPEM(ca!, 'Fulcio CA certificates'), oidcIssuer: fulcio.oidcIssuer, subjectEmail: fulcio.subjectEmail };
  }
  if (pki !== undefined) {
    const [roots] = await readKeySource(pki.caRoots, 'PKI CA roots', signal);
    const trust: PKITrust = { roots: trustedCertificatesFromPEM(roots!, 'PKI CA roots certificates'), intermediates: [] };
    if (pki.caIntermediates !== undefined) {
      const [intermediates] = await readKeySource(pki.caIntermediates, 'PKI CA intermediates', signal);
      trust.intermediates = certificatesFromPEM(intermediates!, 'loading trusted intermediate certificates', true);
    }
    if (pki.subjectEmail !== undefined) trust.subjectEmail = pki.subjectEmail;
    if (pki.subjectHostname !== undefined) trust.subjectHostname = pki.subjectHostname;
    out.pki = trust;
  }
  if (out.publicKeys === undefined && out.fulcio === undefined && out.pki === undefined) {
    throw new FerryError(ErrorCode.Signature, 'sigstoreSigned without public keys, fulcio or pki');
  }
  return out;
}

function decodedSignature(sig: SigstoreSignature): Buffer {
  const b64 = sig.untrustedAnnotations[SIGSTORE_SIGNATURE_ANNOTATION];
  if (b64 === undefined) throw new FerryError(ErrorCode.Signature, `missing ${SIGSTORE_SIGNATURE_ANNOTATION} annotation`);
  const signature = decodeGoBase64(b64);
  if (signature === undefined) throw new FerryError(ErrorCode.Signature, 'base64 decoding of the signature failed');
  return signature;
}

/** The public key(s) the payload of `sig` must verify with, per the trust root. */
function trustedKeys(trust: TrustRoot, sig: SigstoreSignature): KeyObject[] {
  const material: SignatureMaterial = { annotations: sig.untrustedAnnotations, signature: decodedSignature(sig), payload: sig.untrustedPayload };
  if (trust.fulcio !== undefined) {
    if (trust.rekorKeys === undefined) throw new FerryError(ErrorCode.Signature, 'fulcio needs Rekor public keys');
    return [verifyFulcioSignature(trust.fulcio, trust.rekorKeys, material)];
  }
  if (trust.pki !== undefined) return [verifyPKISignature(trust.pki, material)];
  const keys = trust.publicKeys!;
  if (trust.rekorKeys === undefined) return keys;
  const set = sig.untrustedAnnotations[SIGSTORE_SET_ANNOTATION];
  if (set === undefined) throw new FerryError(ErrorCode.Signature, `missing ${SIGSTORE_SET_ANNOTATION} annotation`);
  const failures: string[] = [];
  for (const key of keys) {
    try {
      verifyRekorSET({ rekorKeys: trust.rekorKeys, set, keyOrCertDER: key.export({ type: 'spki', format: 'der' }), signature: material.signature, payload: material.payload });
      return [key];
    } catch (e) {
      failures.push(message(e));
    }
  }
  throw new FerryError(ErrorCode.Signature, `no public key verified against the Rekor SET: ${failures.join(', ')}`);
}

function rejection(req: SigstoreSigned, trust: TrustRoot, image: PolicyImage, sig: SigstoreSignature, parse: ParseDockerReference): string | undefined {
  let payload;
  try {
    payload = verifySigstoreSignature(sig, trustedKeys(trust, sig));
  } catch (e) {
    return message(e);
  }
  return claimsRejection(req.signedIdentity, image, payload, parse);
}

/** Evaluates a `sigstoreSigned` requirement for `image`. */
export async function evaluateSigstoreSigned(req: SigstoreSigned, image: PolicyImage, parse: ParseDockerReference, signal?: AbortSignal): Promise<Verdict> {
  const sigs: SigstoreSignature[] = [];
  let nonSigstore = 0;
  let nonSignatureAttachments = 0;
  for (const blob of await image.signatures()) {
    let sig;
    try {
      sig = signatureFromBlob(blob);
    } catch (e) {
      return { allowed: false, reason: message(e) };
    }
    if (sig.kind !== 'sigstore') nonSigstore++;
    else if (sig.untrustedMIMEType !== SIGSTORE_SIGNATURE_MIME_TYPE) nonSignatureAttachments++;
    else sigs.push(sig);
  }
  if (sigs.length === 0) {
    const detail = nonSigstore + nonSignatureAttachments > 0 ? ` (${nonSigstore} non-sigstore signatures, ${nonSignatureAttachments} sigstore non-signature attachments)` : '';
    return summarize([], detail);
  }
  let trust: TrustRoot;
  try {
    trust = await prepareTrustRoot(req, signal);
  } catch (e) {
    if (e instanceof FerryError && e.code === ErrorCode.Aborted) throw e;
    return summarize(sigs.map(() => message(e)));
  }
  const reasons: string[] = [];
  for (const sig of sigs) {
    const why = rejection(req, trust, image, sig, parse);
    if (why === undefined) return { allowed: true };
    reasons.push(why);
  }
  return summarize(reasons);
}
