/**
 * `signedIdentity`: whether the identity a signature claims is acceptable for an image, as containers/image's
 * `policy_reference_match.go` decides it.
 */
import { manifestMatchesDigest } from '../verify.js';
import type { PolicyImage } from './image.js';
import type { NamedReference, ParseDockerReference, ReferenceMatch } from '../../config/policy-types.js';

const nameOnly = (r: NamedReference) => r.tag === undefined && r.digest === undefined;

/** `name[:tag][@digest]`. */
export function referenceString(r: NamedReference): string {
  return r.name + (r.tag !== undefined ? `:${r.tag}` : '') + (r.digest !== undefined ? `@${r.digest}` : '');
}

/** matchRepoDigestOrExact on parsed values: a tagged image needs the same name and tag; a digested one the same repository. */
function repoDigestOrExact(intended: NamedReference, signed: NamedReference): boolean {
  if (nameOnly(signed)) return false;
  if (intended.tag !== undefined) return referenceString(signed) === referenceString(intended);
  if (intended.digest !== undefined) return signed.name === intended.name;
  return false;
}

function tryParse(parse: ParseDockerReference, s: string): NamedReference | undefined {
  try {
    return parse(s);
  } catch {
    return undefined;
  }
}

/** `remapIdentity`: `intended` with `prefix` replaced by `signedPrefix` when its repository is `prefix` or below it. */
function remap(m: { prefix: string; signedPrefix: string }, intended: NamedReference, parse: ParseDockerReference): NamedReference | undefined {
  const name = intended.name;
  const matches = name.length === m.prefix.length ? name === m.prefix : name.startsWith(m.prefix) && name[m.prefix.length] === '/';
  if (!matches) return intended;
  const full = referenceString(intended);
  const rewritten = full.replace(m.prefix, m.signedPrefix);
  // containers/image parses the result with ParseNamed: it must already be in normalized form
  const parsed = tryParse(parse, rewritten);
  return parsed !== undefined && referenceString(parsed) === rewritten ? parsed : undefined;
}

/**
 * Whether a signature claiming `signedReference` is accepted for an image whose own docker reference is
 * `imageReference` (undefined when its transport has none: then only `exactReference` and `exactRepository` can match).
 */
export function identityMatches(m: ReferenceMatch, imageReference: string | undefined, signedReference: string, parse: ParseDockerReference): boolean {
  const signed = tryParse(parse, signedReference);
  if (signed === undefined) return false;
  switch (m.type) {
    case 'exactReference': {
      const intended = tryParse(parse, m.dockerReference);
      return intended !== undefined && !nameOnly(intended) && !nameOnly(signed) && referenceString(signed) === referenceString(intended);
    }
    case 'exactRepository': {
      const intended = tryParse(parse, m.dockerRepository);
      return intended !== undefined && signed.name === intended.name;
    }
    default:
      break;
  }
  const intended = imageReference === undefined ? undefined : tryParse(parse, imageReference);
  if (intended === undefined) return false;
  switch (m.type) {
    case 'matchExact':
      return !nameOnly(intended) && !nameOnly(signed) && referenceString(signed) === referenceString(intended);
    case 'matchRepoDigestOrExact':
      return repoDigestOrExact(intended, signed);
    case 'matchRepository':
      return signed.name === intended.name;
    case 'remapIdentity': {
      const remapped = remap(m, intended, parse);
      return remapped !== undefined && repoDigestOrExact(remapped, signed);
    }
  }
}

/**
 * Why a verified signature's claims do not fit `image` (containers/image's wording), or undefined when they do: the
 * manifest digest it names must be the image's, and the identity it names must match by `signedIdentity`.
 */
export function claimsRejection(
  signedIdentity: ReferenceMatch,
  image: PolicyImage,
  claims: { dockerManifestDigest: string; dockerReference: string },
  parse: ParseDockerReference,
): string | undefined {
  if (!manifestMatchesDigest(image.manifest, claims.dockerManifestDigest)) return `Signature for digest ${claims.dockerManifestDigest} does not match`;
  if (!identityMatches(signedIdentity, image.dockerReference, claims.dockerReference, parse)) {
    return `Signature for identity ${JSON.stringify(claims.dockerReference)} is not accepted`;
  }
  return undefined;
}
