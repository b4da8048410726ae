/** A way to sign image manifests during a copy: simple signing with an OpenPGP key, or sigstore with a private key. */
import type { OpOptions } from '../types/context.js';

/** Signs manifests; made once per command (key loaded and unlocked), used for every manifest the copy writes. */
export interface ManifestSigner {
  /** What the signatures are, for progress lines (`Signing manifest using simple signing`). */
  readonly kind: 'simple-signing' | 'sigstore';
  /**
   * A signature of `manifest` (its bytes exactly as written) for the image named `dockerReference`
   * (`host/repo:tag` or `host/repo@digest`), in containers/image's storage form (signature/blob.ts).
   * @throws FerryError(E_SIGNATURE) if signing fails.
   */
  sign(manifest: Buffer, dockerReference: string, opts?: OpOptions): Promise<Buffer>;
}
