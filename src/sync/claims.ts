/**
 * Which source each destination name of a sync was given to, in source order. Two different images must not be
 * written to one name (`a/app:1` and `b/app:1` both become `DEST/app:1` without `--scoped`): the later one would
 * silently replace the first. The sync refuses the later one, and its dry run plans that refusal.
 */
import { FerryError, ErrorCode } from '../errors.js';

export class DestinationClaims {
  private readonly claimed = new Map<string, string>();

  /**
   * Gives destination `name` to source `from`, unless another source has it already: then returns that source.
   * A name with a digest is the same image whichever source it comes from.
   */
  claim(name: string, from: string): string | undefined {
    if (name.includes('@')) return undefined;
    const first = this.claimed.get(name);
    if (first === undefined) this.claimed.set(name, from);
    return first !== undefined && first !== from ? first : undefined;
  }
}

/** The error of an image refused because source `first` already has its destination name `name`. */
export function clashError(name: string, first: string): FerryError {
  return new FerryError(ErrorCode.Refused, `${name} is already the destination of ${first}: not replacing it with another image (--scoped keeps the whole source names apart)`);
}
