/**
 * Pull-based reading of exact byte counts from an async chunk source (a tar stream): `read(n)` for
 * headers, `forEachChunk(n, fn)` to pass content through without copying.
 */

/** Reads exact amounts from an async iterable of Buffers. */
export class ByteReader {
  private readonly it: AsyncIterator<Buffer>;
  private buf: Buffer = Buffer.alloc(0);
  private done = false;
  /** Bytes consumed by the caller so far. */
  position = 0;
  /** Called with every chunk pulled from the source (hashing the whole stream, trailing bytes included). */
  private readonly onChunk?: (chunk: Buffer) => void;

  constructor(source: AsyncIterable<Buffer>, onChunk?: (chunk: Buffer) => void) {
    this.it = source[Symbol.asyncIterator]();
    this.onChunk = onChunk;
  }

  private async fill(): Promise<boolean> {
    if (this.done) return false;
    const r = await this.it.next();
    if (r.done) {
      this.done = true;
      return false;
    }
    const chunk = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
    this.onChunk?.(chunk);
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    return true;
  }

  /** Exactly `n` bytes, or fewer if the source ends first. */
  async read(n: number): Promise<Buffer> {
    while (this.buf.length < n && (await this.fill()));
    const out = this.buf.subarray(0, Math.min(n, this.buf.length));
    this.buf = this.buf.subarray(out.length);
    this.position += out.length;
    return out;
  }

  /** Passes the next `n` bytes to `fn` chunk by chunk (awaiting it if it returns a promise); returns how many there were (< n at EOF). */
  async forEachChunk(n: number, fn: (chunk: Buffer) => void | Promise<void>): Promise<number> {
    let left = n;
    while (left > 0) {
      if (this.buf.length === 0 && !(await this.fill())) break;
      const take = Math.min(left, this.buf.length);
      const part = this.buf.subarray(0, take);
      this.buf = this.buf.subarray(take);
      this.position += take;
      left -= take;
      const p = fn(part);
      if (p) await p;
    }
    return n - left;
  }

  /** Everything that is left. */
  async rest(): Promise<Buffer> {
    const parts: Buffer[] = [this.buf];
    this.buf = Buffer.alloc(0);
    while (await this.fill()) {
      parts.push(this.buf);
      this.buf = Buffer.alloc(0);
    }
    const all = Buffer.concat(parts);
    this.position += all.length;
    return all;
  }

  /** Stops reading the source early (on errors). */
  async cancel(): Promise<void> {
    if (!this.done) {
      this.done = true;
      await this.it.return?.();
    }
  }
}
