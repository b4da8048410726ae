import { createHash } from 'node:crypto';
import { FerryError, ErrorCode, digestMismatch } from '../errors.js';

/** Algorithms ferry verifies, with the hex length of their digests. */
const ALGORITHMS: Record<string, { hash: string; hexLength: number }> = {
  sha256: { hash: 'sha256', hexLength: 64 },
  sha384: { hash: 'sha384', hexLength: 96 },
  sha512: { hash: 'sha512', hexLength: 128 },
};

/** A parsed `algorithm:hex` digest. */
export interface Digest {
  algorithm: string;
  hex: string;
}

/**
 * Parses and validates a digest string (`sha256:` + 64 lowercase hex).
 * @throws FerryError(E_INVALID_REFERENCE) naming the digest.
 */
export function parseDigest(s: string): Digest {
  const i = s.indexOf(':');
  const algorithm = i > 0 ? s.slice(0, i) : '';
  const hex = s.slice(i + 1);
  const alg = ALGORITHMS[algorithm];
  if (!alg) throw new FerryError(ErrorCode.InvalidReference, `invalid digest "${s}": unsupported or missing algorithm`);
  if (hex.length !== alg.hexLength || !/^[a-f0-9]+$/.test(hex)) {
    throw new FerryError(ErrorCode.InvalidReference, `invalid digest "${s}": expected ${alg.hexLength} lowercase hex characters`);
  }
  return { algorithm, hex };
}

/** Whether `s` is a valid digest. */
export function isDigest(s: string): boolean {
  // the checks of parseDigest without building an error: this is asked of every tag and reference
  const i = s.indexOf(':');
  const alg = i > 0 && Object.hasOwn(ALGORITHMS, s.slice(0, i)) ? ALGORITHMS[s.slice(0, i)] : undefined;
  const hex = s.slice(i + 1);
  return alg !== undefined && hex.length === alg.hexLength && /^[a-f0-9]+$/.test(hex);
}

/** Node hash name for a digest's algorithm. */
export function hashNameOf(digest: string): string {
  return ALGORITHMS[parseDigest(digest).algorithm]!.hash;
}

/** `sha256:<hex>` of the given bytes (or with another algorithm). */
export function digestOf(data: Buffer | string, algorithm = 'sha256'): string {
  return `${algorithm}:${createHash(ALGORITHMS[algorithm]!.hash).update(data).digest('hex')}`;
}

/** Checks that `data` has digest `expected`; throws E_DIGEST_MISMATCH naming `what` otherwise. */
export function verifyDigest(what: string, data: Buffer, expected: string): void {
  const actual = digestOf(data, parseDigest(expected).algorithm);
  if (actual !== expected) throw digestMismatch(what, expected, actual);
}

/**
 * Node hash name for a digest algorithm name (`sha256`, `sha384`, `sha512`).
 * @throws FerryError(E_INVALID_REFERENCE) for an unsupported algorithm.
 */
export function hashNameForAlgorithm(algorithm: string): string {
  const alg = ALGORITHMS[algorithm];
  if (!alg) throw new FerryError(ErrorCode.InvalidReference, `unsupported digest algorithm "${algorithm}"`);
  return alg.hash;
}
