/**
 * One writer per blob and repository within this process. When a job pushes several images into one repository at
 * once (sync with parallel images), two of them must not upload or mount the same blob there at the same time: the
 * second one wastes the transfer, and a registry rewrites the repository's link to the blob while the other image's
 * manifest PUT may be reading it (distribution's filesystem storage truncates and rewrites the link file: the manifest
 * is then refused with "blob unknown to registry"). The first destination to miss a blob claims it; the others wait
 * for the claim to end and look again (HEAD), finding the blob there.
 */

interface Claim {
  readonly done: Promise<void>;
  end(): void;
}

const claims = new Map<string, Claim>();

/** The key of `digest` in `repository` of `registry`. */
export function claimKey(registry: string, repository: string, digest: string): string {
  return `${registry}/${repository}@${digest}`;
}

/** The claim another destination holds on `key`, to wait for, or undefined when nobody holds one. */
export function claimHeldElsewhere(key: string): Promise<void> | undefined {
  return claims.get(key)?.done;
}

/**
 * Claims `key` (nobody must hold it: see {@link claimHeldElsewhere}). Returns the function that ends the claim; call it
 * once the blob is written (or the attempt failed, or the destination closes); further calls do nothing.
 */
export function claimBlob(key: string): () => void {
  let end!: () => void;
  const done = new Promise<void>((resolve) => (end = resolve));
  const claim: Claim = { done, end };
  claims.set(key, claim);
  return () => {
    if (claims.get(key) === claim) claims.delete(key);
    claim.end();
  };
}
