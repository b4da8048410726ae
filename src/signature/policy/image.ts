/** What policy evaluation needs to know about one image. */

/** One image as the policy sees it: its scopes, its identity, its verified manifest and its (unverified) signatures. */
export interface PolicyImage {
  /** The transport name (`docker`, `dir`, …): the section of policy.json that applies. */
  transport: string;
  /** The most specific scope (`ImageReference.policyIdentity`). */
  identity: string;
  /** The less specific scopes, most specific first (`ImageReference.policyNamespaces`). */
  namespaces: readonly string[];
  /** The image's name for messages (`docker://host/repo:tag`). */
  name: string;
  /** The docker reference the image is known by, if its transport has one (matched against signed identities). */
  dockerReference: string | undefined;
  /** The top-level manifest bytes, already verified against the digest the reference pins (if any). */
  manifest: Buffer;
  /** The signatures of the top-level manifest in their storage form (`signature/blob.ts`); read only when a requirement needs them. */
  signatures(): Promise<Buffer[]>;
}
