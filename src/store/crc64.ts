/**
 * Hand-written to produce Go's hash/crc64 checksums bit for bit.
 *
 * CRC-64 with the ISO polynomial (Go's `hash/crc64` with `crc64.ISO`), which tar-split stores as the
 * checksum of every file's content. The native addon computes it when loaded; the JavaScript fallback
 * works on two 32-bit halves to stay fast without BigInt.
 */
import { storeNative } from './native.js';

const LO = new Uint32Array(256);
const HI = new Uint32Array(256);
(() => {
  // Reflected ISO polynomial 0xD800000000000000.
  const polyHi = 0xd8000000;
  for (let i = 0; i < 256; i++) {
    let lo = i;
    let hi = 0;
    for (let j = 0; j < 8; j++) {
      const lsb = lo & 1;
      lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
      hi = hi >>> 1;
      if (lsb) hi = (hi ^ polyHi) >>> 0;
    }
    LO[i] = lo;
    HI[i] = hi;
  }
})();

let nativeUpdate: ((state: Buffer, data: Buffer) => void) | null | undefined;

function native(): ((state: Buffer, data: Buffer) => void) | null {
  if (nativeUpdate === undefined) {
    try {
      const n = storeNative();
      nativeUpdate = typeof n.crc64Update === 'function' ? n.crc64Update.bind(n) : null;
    } catch {
      nativeUpdate = null;
    }
  }
  return nativeUpdate;
}

/** Incremental CRC-64/ISO (the native addon's slicing-by-8 when loaded, else JavaScript). */
export class Crc64 {
  private lo = 0xffffffff;
  private hi = 0xffffffff;
  private readonly state: Buffer | undefined;
  private readonly fast: ((state: Buffer, data: Buffer) => void) | null;

  /** @param useNative false forces the JavaScript implementation (tests). */
  constructor(useNative = true) {
    this.fast = useNative ? native() : null;
    if (this.fast) this.state = Buffer.alloc(8, 0xff);
  }

  update(data: Uint8Array): this {
    if (this.fast) {
      this.fast(this.state!, Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      return this;
    }
    return this.updateJs(data);
  }

  private updateJs(data: Uint8Array): this {
    let lo = this.lo;
    let hi = this.hi;
    for (let i = 0; i < data.length; i++) {
      const idx = (lo ^ data[i]!) & 0xff;
      lo = ((lo >>> 8) | (hi << 24)) ^ LO[idx]!;
      hi = (hi >>> 8) ^ HI[idx]!;
    }
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
    return this;
  }

  /** The 8-byte big-endian sum (Go's `Sum(nil)`). */
  digest(): Buffer {
    const b = Buffer.alloc(8);
    if (this.fast) {
      b.writeBigUInt64BE(~this.state!.readBigUInt64LE(0) & 0xffffffffffffffffn, 0);
      return b;
    }
    b.writeUInt32BE(~this.hi >>> 0, 0);
    b.writeUInt32BE(~this.lo >>> 0, 4);
    return b;
  }
}
