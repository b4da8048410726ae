/** Layer and image IDs as containers/image's storage destination computes them. */
import { createHash, randomBytes } from 'node:crypto';
import { parseDigest } from '../util/digest.js';

/**
 * Layer IDs of an image from its diff IDs: the first layer's ID is its diff ID's hex; every other is
 * sha256(parentID + "+" + diffIDHex).
 */
export function layerChainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) {
    const hex = parseDigest(d).hex;
    const parent = out[out.length - 1];
    out.push(parent === undefined ? hex : createHash('sha256').update(`${parent}+${hex}`).digest('hex'));
  }
  return out;
}

/** An image's ID: the hex of its config digest. */
export function imageIdFromConfig(configDigest: string): string {
  return parseDigest(configDigest).hex;
}

/** A random 64-hex ID (container and container-layer IDs). */
export function randomId(): string {
  return randomBytes(32).toString('hex');
}

/** A random overlay short link name: 26 characters of base32 [A-Z2-7], like containers/storage. */
export function randomLinkName(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const b = randomBytes(26);
  let s = '';
  for (const x of b) s += alphabet[x & 31];
  return s;
}
