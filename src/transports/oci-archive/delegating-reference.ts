/**
 * An `oci-archive:PATH:REF` reference that names itself, and is judged by the policy, exactly as the archive
 * reference it wraps, but opens its sources or destinations elsewhere (a batch's staged layout, an archive already
 * open): subclasses override what they open differently.
 */
import type { OpOptions, SystemContext } from '../../types/context.js';
import type { ImageDestination, ImageSource } from '../../types/image.js';
import type { ImageReference, Transport } from '../../types/reference.js';
import type { OciArchiveReference } from './reference.js';

export abstract class DelegatingArchiveReference implements ImageReference {
  constructor(protected readonly ref: OciArchiveReference) {}

  get transport(): Transport {
    return this.ref.transport;
  }

  stringWithinTransport(): string {
    return this.ref.stringWithinTransport();
  }

  toString(): string {
    return this.ref.toString();
  }

  dockerReference(): undefined {
    return undefined;
  }

  policyIdentity(): string {
    return this.ref.policyIdentity();
  }

  policyNamespaces(): string[] {
    return this.ref.policyNamespaces();
  }

  newImageSource(ctx: SystemContext, opts?: OpOptions): Promise<ImageSource> {
    return this.ref.newImageSource(ctx, opts);
  }

  newImageDestination(ctx: SystemContext, opts?: OpOptions): Promise<ImageDestination> {
    return this.ref.newImageDestination(ctx, opts);
  }

  deleteImage(): Promise<void> {
    return this.ref.deleteImage();
  }
}
