/** The `User-Agent` ferry sends. */
import { VERSION } from '../version.js';

/** `ferry/<version>`. */
export function userAgent(): string {
  return `ferry/${VERSION}`;
}
