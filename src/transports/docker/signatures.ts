/**
 * Where the signatures of a `docker://` image live, from registries.d: simple signatures in the lookaside (the
 * configured one, else skopeo's built-in default), sigstore signatures as attachments in the repository when the
 * scope says `use-sigstore-attachments: true`.
 */
import { FerryError, ErrorCode } from '../../errors.js';
import type { RegistryClient } from '../../registry/client.js';
import { signatureFromBlob } from '../../signature/blob.js';
import { checkLookasideWritable, readLookasideSignatures, writeLookasideSignatures } from '../../signature/lookaside.js';
import { builtinLookaside, loadRegistriesD, lookasideBase, usesSigstoreAttachments, type DockerScopes } from '../../config/registries-d.js';
import { memoizedPerContext } from '../../util/context-memo.js';
import type { OpOptions, SystemContext } from '../../types/context.js';
import type { DockerReference } from './reference.js';

/** The signature locations of one image. */
export interface SignatureLocations {
  /** Base URL simple signatures are read from. */
  lookasideRead: string;
  /** Base URL simple signatures are written to. */
  lookasideWrite: string;
  /** Whether sigstore attachments are read and written. */
  sigstoreAttachments: boolean;
}

/** Reads registries.d (`ctx.registriesDirPath`, else the default directories) for `ref`. */
export async function signatureLocations(ref: DockerReference, ctx: SystemContext): Promise<SignatureLocations> {
  // read once per command (context), not once per image of a sync
  const key = `registries.d\0${ctx.registriesDirPath ?? ''}\0${ctx.homeDir ?? ''}`;
  const config = await memoizedPerContext(ctx, key, () => loadRegistriesD({ registriesDirPath: ctx.registriesDirPath, homeDir: ctx.homeDir }));
  const scopes: DockerScopes = [ref.policyIdentity(), ...ref.policyNamespaces()];
  const fallback = builtinLookaside(ctx.homeDir);
  return {
    lookasideRead: lookasideBase(config, scopes, false) ?? fallback,
    lookasideWrite: lookasideBase(config, scopes, true) ?? fallback,
    sigstoreAttachments: usesSigstoreAttachments(config, scopes),
  };
}

/** The signatures of `manifestDigest`: the lookaside's, then the sigstore attachments' (where enabled). */
export async function readDockerSignatures(
  ref: DockerReference,
  client: RegistryClient,
  locations: SignatureLocations,
  manifestDigest: string,
  ctx: SystemContext,
  opts: OpOptions,
): Promise<Buffer[]> {
  const sigs = await readLookasideSignatures(locations.lookasideRead, ref.name.path, manifestDigest, ctx, opts);
  if (locations.sigstoreAttachments) {
    const { readSigstoreAttachments } = await import('../../signature/sigstore/attachments.js');
    sigs.push(...(await readSigstoreAttachments(client, manifestDigest, opts)));
  }
  return sigs;
}

/**
 * Checks that `signatures` can be stored at `locations`, before anything is written.
 * @throws FerryError(E_UNSUPPORTED) for sigstore signatures where attachments are not enabled, or simple signatures
 *   with a lookaside that cannot be written.
 */
export function checkDockerSignatures(ref: DockerReference, locations: SignatureLocations, signatures: Buffer[]): void {
  let sigstore = 0;
  for (const b of signatures) if (signatureFromBlob(b).kind === 'sigstore') sigstore++;
  if (sigstore > 0 && !locations.sigstoreAttachments) {
    throw new FerryError(ErrorCode.Unsupported, `${ref.toString()}: storing sigstore signatures needs use-sigstore-attachments: true for this registry in registries.d`);
  }
  if (signatures.length > sigstore) checkLookasideWritable(locations.lookasideWrite);
}

/**
 * Stores `signatures` of `manifestDigest`: simple signatures in the lookaside, sigstore ones as attachments.
 * @throws FerryError(E_UNSUPPORTED) for sigstore signatures where attachments are not enabled.
 */
export async function writeDockerSignatures(
  ref: DockerReference,
  client: RegistryClient,
  locations: SignatureLocations,
  manifestDigest: string,
  signatures: Buffer[],
  opts: OpOptions,
): Promise<void> {
  checkDockerSignatures(ref, locations, signatures);
  const sigstore: Buffer[] = [];
  const simple: Buffer[] = [];
  for (const b of signatures) (signatureFromBlob(b).kind === 'sigstore' ? sigstore : simple).push(b);
  if (sigstore.length > 0) {
    const { writeSigstoreAttachments } = await import('../../signature/sigstore/attachments.js');
    await writeSigstoreAttachments(client, manifestDigest, sigstore, opts);
  }
  await writeLookasideSignatures(locations.lookasideWrite, ref.name.path, manifestDigest, simple, opts);
}
