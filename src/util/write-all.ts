/**
 * Vectored writes that write everything. A write may stop short — typically when the file system fills up —
 * and then the next write gets the real error (ENOSPC): these continue with the rest instead of reporting a
 * byte count, so that what the user sees is "no space left on device".
 */
import { writev } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';

/** The buffers of `list` without their first `n` bytes. */
export function dropBytes(list: readonly Buffer[], n: number): Buffer[] {
  const out: Buffer[] = [];
  for (const b of list) {
    if (n >= b.length) {
      n -= b.length;
      continue;
    }
    out.push(n > 0 ? b.subarray(n) : b);
    n = 0;
  }
  return out;
}

function writevOnce(fd: number | FileHandle, bufs: Buffer[], pos: number | null): Promise<number> {
  if (typeof fd !== 'number') return fd.writev(bufs, pos ?? undefined).then((r) => r.bytesWritten);
  return new Promise((resolve, reject) => writev(fd, bufs, pos, (err, n) => (err ? reject(err) : resolve(n))));
}

/**
 * Writes every byte of `bufs` to `fd` at `pos` (null: at the file position, or the end for an append file),
 * continuing after short writes.
 * @param onWritten called with the byte count of each write.
 * @throws the file system's error (ENOSPC, …); an Error when a write accepts no byte at all.
 */
export async function writevAll(fd: number | FileHandle, bufs: readonly Buffer[], pos: number | null, onWritten?: (n: number) => void): Promise<void> {
  let left = [...bufs];
  let remaining = left.reduce((n, b) => n + b.length, 0);
  let at = pos;
  while (remaining > 0) {
    const n = await writevOnce(fd, left, at);
    onWritten?.(n);
    if (n === 0) throw new Error(`the file system accepted none of ${remaining} bytes`);
    remaining -= n;
    if (at !== null) at += n;
    if (remaining > 0) left = dropBytes(left, n);
  }
}
