/** A seeded, fast pseudo-random generator (xorshift128) for deterministic test content. */
import { createHash } from 'node:crypto';

/** Deterministic byte source: the same key always yields the same bytes. */
export class Prng {
  private x: number;
  private y: number;
  private z: number;
  private w: number;

  /** Seeds from any string key (hashed, so similar keys give unrelated streams). */
  constructor(key: string) {
    const h = createHash('sha256').update(key).digest();
    this.x = h.readUInt32LE(0) | 1;
    this.y = h.readUInt32LE(4);
    this.z = h.readUInt32LE(8);
    this.w = h.readUInt32LE(12);
  }

  /** Next unsigned 32-bit value. */
  next(): number {
    const t = this.x ^ (this.x << 11);
    this.x = this.y;
    this.y = this.z;
    this.z = this.w;
    this.w = (this.w ^ (this.w >>> 19) ^ (t ^ (t >>> 8))) >>> 0;
    return this.w;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return this.next() % n;
  }

  /** `n` pseudo-random (incompressible) bytes. */
  bytes(n: number): Buffer {
    const words = new Uint32Array(Math.ceil(n / 4));
    for (let i = 0; i < words.length; i++) words[i] = this.next();
    return Buffer.from(words.buffer, 0, n);
  }
}
