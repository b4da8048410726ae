/**
 * The instances of a source's list as one copy sees them: each instance's verified manifest and its signatures are
 * read once, so that what the trust policy judged is what is copied (a registry could answer a second read
 * differently).
 */
import { UnparsedImage } from '../image/unparsed.js';
import type { ImageSource } from '../types/image.js';

/** One instance of the source's list. */
export interface SourceInstance {
  /** Its manifest, verified against the instance digest. */
  image: UnparsedImage;
  /** Its signatures (storage form), read on first use. */
  signatures(): Promise<Buffer[]>;
}

/** The instances of `source` read so far, by digest. */
export class SourceInstances {
  private readonly byDigest = new Map<string, SourceInstance>();

  constructor(
    private readonly source: ImageSource,
    private readonly signal: AbortSignal,
  ) {}

  /** The instance `digest` (the same object on every call). */
  get(digest: string): SourceInstance {
    let inst = this.byDigest.get(digest);
    if (inst === undefined) {
      let sigs: Promise<Buffer[]> | undefined;
      const source = this.source;
      const signal = this.signal;
      inst = { image: new UnparsedImage(source, digest), signatures: () => (sigs ??= source.getSignatures(digest, { signal })) };
      this.byDigest.set(digest, inst);
    }
    return inst;
  }
}
