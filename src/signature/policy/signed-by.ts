/**
 * `signedBy` (simple signing with GPG keys), as containers/image's `policy_eval_signedby.go`: the image is allowed if
 * any of its simple signatures is by one of the keys, for the manifest's digest, and claims an accepted identity.
 */
import type * as OpenPgp from 'openpgp';
import { FerryError, ErrorCode } from '../../errors.js';
import { signatureFromBlob } from '../blob.js';
import { parsePublicKeys } from '../keys.js';
import { parsePayload } from '../payload.js';
import { verifySignedMessage } from '../verify.js';
import { claimsRejection } from './identity.js';
import type { PolicyImage } from './image.js';
import { readKeySource } from './key-sources.js';
import { summarize, type Verdict } from './verdict.js';
import type { ParseDockerReference, PolicyRequirement } from '../../config/policy-types.js';

type SignedBy = Extract<PolicyRequirement, { type: 'signedBy' }>;

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

async function loadKeys(req: SignedBy, signal?: AbortSignal): Promise<OpenPgp.PublicKey[]> {
  const keys: OpenPgp.PublicKey[] = [];
  for (const bytes of await readKeySource(req.keys, 'public key', signal)) keys.push(...(await parsePublicKeys(bytes, 'the policy\'s key')));
  return keys;
}

/** Checks one simple signature; returns why it is not accepted, or undefined when it is. */
async function rejection(req: SignedBy, image: PolicyImage, signature: Buffer, keys: OpenPgp.PublicKey[], parse: ParseDockerReference): Promise<string | undefined> {
  let content: Buffer;
  try {
    content = (await verifySignedMessage(signature, keys)).content;
  } catch (e) {
    return message(e);
  }
  let payload;
  try {
    payload = parsePayload(content);
  } catch (e) {
    return message(e);
  }
  return claimsRejection(req.signedIdentity, image, payload, parse);
}

/** Evaluates a `signedBy` requirement for `image`. */
export async function evaluateSignedBy(req: SignedBy, image: PolicyImage, parse: ParseDockerReference, signal?: AbortSignal): Promise<Verdict> {
  const blobs = await image.signatures();
  const simple: Buffer[] = [];
  for (const blob of blobs) {
    let sig;
    try {
      sig = signatureFromBlob(blob);
    } catch (e) {
      return { allowed: false, reason: message(e) };
    }
    if (sig.kind === 'simple-signing') simple.push(sig.untrustedSignature);
  }
  if (simple.length === 0) return summarize([]);
  if (req.keyType !== 'GPGKeys') return summarize(simple.map(() => `Unimplemented "keyType" value ${JSON.stringify(req.keyType)}`));
  let keys: OpenPgp.PublicKey[];
  try {
    keys = await loadKeys(req, signal);
  } catch (e) {
    if (e instanceof FerryError && e.code === ErrorCode.Aborted) throw e;
    return summarize(simple.map(() => message(e)));
  }
  if (keys.length === 0) return summarize(simple.map(() => 'No public keys imported'));
  const reasons: string[] = [];
  for (const s of simple) {
    const why = await rejection(req, image, s, keys, parse);
    if (why === undefined) return { allowed: true };
    reasons.push(why);
  }
  return summarize(reasons);
}
