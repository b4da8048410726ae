/**
 * A trust policy (containers-policy.json(5)) as data: what `config/policy.ts` reads from policy.json and what
 * `signature/policy/evaluate.ts` checks images against. Mirrors containers/image's `signature/policy_types.go`.
 */

/** Where key material comes from: exactly one of a file, several files, inline data, several inline data. */
export type KeySource = { path: string } | { paths: string[] } | { data: Buffer } | { datas: Buffer[] };

/** How the identity a signature claims must relate to the image (`signedIdentity`). */
export type ReferenceMatch =
  | { type: 'matchExact' }
  | { type: 'matchRepoDigestOrExact' }
  | { type: 'matchRepository' }
  | { type: 'exactReference'; dockerReference: string }
  | { type: 'exactRepository'; dockerRepository: string }
  | { type: 'remapIdentity'; prefix: string; signedPrefix: string };

/** `keyType` values of `signedBy`; only `GPGKeys` is implemented (as in containers/image). */
export type SignedByKeyType = 'GPGKeys' | 'signedByGPGKeys' | 'X509Certificates' | 'signedByX509CAs';

/** A single file or a single inline value (`…Path` / `…Data`). */
export type SingleSource = { path: string } | { data: Buffer };

/** `fulcio`: certificates issued by a Fulcio CA to an OIDC identity. */
export interface FulcioRoot {
  /** The Fulcio CA certificates (PEM): `caPath` or `caData`. */
  ca: SingleSource;
  /** The OIDC issuer the certificate must record. */
  oidcIssuer: string;
  /** The e-mail address the certificate must name. */
  subjectEmail: string;
}

/** `pki`: certificates issued by a private CA. At least one of the subject fields is set. */
export interface PKIRoot {
  /** The trusted roots (PEM): `caRootsPath` or `caRootsData`. */
  caRoots: SingleSource;
  /** Trusted intermediates (PEM): `caIntermediatesPath` or `caIntermediatesData`. */
  caIntermediates?: SingleSource;
  subjectEmail?: string;
  subjectHostname?: string;
}

/** The sigstore trust roots besides public keys. */
export interface SigstoreCertificateRoots {
  fulcio?: FulcioRoot;
  pki?: PKIRoot;
  /** `rekorPublicKey*`: the Rekor keys whose SET the signature must carry. */
  rekor?: KeySource;
}

/** One requirement; an image is allowed when every requirement of its scope accepts it. */
export type PolicyRequirement =
  | { type: 'insecureAcceptAnything' }
  | { type: 'reject' }
  | { type: 'signedBy'; keyType: SignedByKeyType; keys: KeySource; signedIdentity: ReferenceMatch }
  | { type: 'signedBaseLayer'; baseLayerIdentity: ReferenceMatch }
  | { type: 'sigstoreSigned'; keys?: KeySource; roots: SigstoreCertificateRoots; signedIdentity: ReferenceMatch };

/** A non-empty list of requirements. */
export type PolicyRequirements = readonly PolicyRequirement[];

/** A whole policy: the default requirements and, per transport name, requirements per scope. */
export interface Policy {
  default: PolicyRequirements;
  /** Transport name → scope → requirements. Scopes of unknown transports are kept unchecked, as containers/image. */
  transports: ReadonlyMap<string, ReadonlyMap<string, PolicyRequirements>>;
}

/** A parsed docker reference as distribution's `ParseNormalizedNamed` returns it (no default tag added). */
export interface NamedReference {
  /** `domain/path`, e.g. `docker.io/library/busybox`. */
  name: string;
  tag?: string;
  digest?: string;
}

/**
 * The docker-name parser the policy code uses: `ParseNormalizedNamed` semantics (`busybox` →
 * `docker.io/library/busybox`), no default tag. Handed in by the caller (cli/options/policy.ts builds it over
 * reference/name.ts).
 * @throws any error for a name that does not parse.
 */
export type ParseDockerReference = (s: string) => NamedReference;
