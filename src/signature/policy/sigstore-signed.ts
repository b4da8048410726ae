/**
 * `sigstoreSigned`, as containers/image's `policy_eval_sigstore.go`: the image is allowed if any of its sigstore
 * signatures verifies with one of the public keys, is for the manifest's digest and claims an accepted identity.
 * Fulcio certificates, PKI certificates and Rekor inclusion proofs cannot be checked by ferry: such a requirement
 * refuses every signature, with the reason (never skipped).
 */
import type { KeyObject } from 'node:crypto';
import { FerryError, ErrorCode } from '../../errors.js';
import { signatureFromBlob, type SigstoreSignature } from '../blob.js';
import { SIGSTORE_SIGNATURE_MIME_TYPE } from '../sigstore/payload.js';
import { parseSigstorePublicKeys, verifySigstoreSignature } from '../sigstore/verify.js';
import { claimsRejection } from './identity.js';
import type { PolicyImage } from './image.js';
import { readKeySource } from './key-sources.js';
import { summarize, type Verdict } from './verdict.js';
import type { ParseDockerReference, PolicyRequirement } from '../../config/policy-types.js';

type SigstoreSigned = Extract<PolicyRequirement, { type: 'sigstoreSigned' }>;

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** Why ferry cannot check this requirement, if it cannot. */
function unsupported(req: SigstoreSigned): string | undefined {
  if (req.roots.fulcio !== undefined) return 'sigstoreSigned with "fulcio" needs Fulcio certificate and Rekor checks, which ferry does not implement: refusing the signature';
  if (req.roots.pki !== undefined) return 'sigstoreSigned with "pki" needs X.509 certificate checks, which ferry does not implement: refusing the signature';
  if (req.roots.rekor !== undefined) return 'sigstoreSigned with "rekorPublicKey…" needs Rekor inclusion checks, which ferry does not implement: refusing the signature';
  if (req.keys === undefined) return 'sigstoreSigned without public keys';
  return undefined;
}

function rejection(req: SigstoreSigned, image: PolicyImage, sig: SigstoreSignature, keys: KeyObject[], parse: ParseDockerReference): string | undefined {
  let payload;
  try {
    payload = verifySigstoreSignature(sig, keys);
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
  const cannot = unsupported(req);
  if (cannot !== undefined) return summarize(sigs.map(() => cannot));
  let keys: KeyObject[];
  try {
    keys = parseSigstorePublicKeys(await readKeySource(req.keys!, 'public key', signal));
  } catch (e) {
    if (e instanceof FerryError && e.code === ErrorCode.Aborted) throw e;
    return summarize(sigs.map(() => message(e)));
  }
  const reasons: string[] = [];
  for (const sig of sigs) {
    const why = rejection(req, image, sig, keys, parse);
    if (why === undefined) return { allowed: true };
    reasons.push(why);
  }
  return summarize(reasons);
}
