/**
 * One writer per blob and repository within this process. When a job pushes several images into one repository at
 * once (sync with parallel images), two of them must not upload or mount the same blob there at the same time: the
 * second one wastes the transfer, and a registry rewrites the repository's link to the blob while the other image's
 * manifest PUT may be reading it (distribution's filesystem storage truncates and rewrites the link file: the manifest
 * is then refused with "blob unknown to registry"). The first destination to miss a blob claims it; the others wait
 * for the claim to end and find the blob there.
 *
 * A job also remembers which blobs it wrote to (or found in, or mounted into) a repository, with their sizes, per
 * context object (a command builds one and gives it to every destination it opens, as `util/context-memo.ts` says):
 * a later image of the same job that uses one of them asks the registry nothing about it. Images that share layers
 * are common in a sync, and the registry would only confirm what the job did moments before.
 */
import type { SystemContext } from '../../types/context.js';

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

/** Blobs a job knows to be in a repository (by {@link claimKey}), with their sizes, per context object. */
const present = new WeakMap<SystemContext, Map<string, number>>();

/** Notes that the blob of `key` is in its repository, `size` bytes long (written, found or mounted there by this job). */
export function notePresent(ctx: SystemContext, key: string, size: number): void {
  let known = present.get(ctx);
  if (!known) present.set(ctx, (known = new Map()));
  known.set(key, size);
}

/** The size of the blob of `key` if the job of `ctx` saw it in its repository, else undefined. */
export function knownPresent(ctx: SystemContext, key: string): number | undefined {
  return present.get(ctx)?.get(key);
}
