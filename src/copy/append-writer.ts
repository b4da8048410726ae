/**
 * Appends a stream's chunks to a file in large writes: network chunks (~64 KiB) are gathered up to
 * {@link APPEND_WRITE_BYTES} and written with one `writev`, one write in flight at a time, while the next
 * chunks arrive (a short write is continued: see src/util/write-all.ts). Each submitted write costs the event loop
 * a thread-pool hand-off, so fewer, larger writes matter on a busy machine. The file always holds a prefix of what was given, in order.
 */
import type { FileHandle } from 'node:fs/promises';
import { ioError } from '../errors.js';
import { writevAll } from '../util/write-all.js';
import { WritebackPacer } from '../util/writeback.js';

/** Bytes gathered before a write is started. */
export const APPEND_WRITE_BYTES = 1 << 20;

/** A coalescing, sequential appender to an open file (opened for appending). */
export class AppendWriter {
  private readonly file: FileHandle;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private inflight: Promise<void> = Promise.resolve();
  private failed: { error: unknown } | undefined;
  private readonly writeback: WritebackPacer | undefined;
  private readonly path: string;

  /**
   * @param opts.path the file's path, named in errors (`writing PATH: no space left on device`).
   * @param opts.writeback start the file's writeback as it grows (for a file that will be fsynced and kept:
   *   see src/util/writeback.ts), not for one that is likely to be deleted unread.
   */
  constructor(file: FileHandle, opts: { path: string; writeback?: boolean }) {
    this.file = file;
    this.path = opts.path;
    this.writeback = opts.writeback ? new WritebackPacer(file.fd) : undefined;
  }

  /**
   * Takes `chunk` (it must not be modified afterwards). Waits only when a full batch is ready and the previous
   * write is still running.
   * @throws the error of an earlier write.
   */
  async write(chunk: Buffer): Promise<void> {
    if (this.failed) throw this.failed.error;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= APPEND_WRITE_BYTES) {
      await this.inflight;
      this.submit();
    }
  }

  /**
   * Writes everything taken so far and waits for it.
   * @throws the error of any write.
   */
  async flush(): Promise<void> {
    await this.inflight;
    this.submit();
    await this.inflight;
    await this.writeback?.drain();
    if (this.failed) throw this.failed.error;
  }

  /** Waits for the write and the writeback sync in flight (before the file is closed); does not write more. */
  async idle(): Promise<void> {
    await this.inflight;
    await this.writeback?.drain();
  }

  private submit(): void {
    if (this.failed || this.pendingBytes === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    this.inflight = writevAll(this.file, batch, null, (n) => this.writeback?.wrote(n)).catch((e: unknown) => {
      this.failed = { error: ioError(`writing ${this.path}`, e) };
    });
  }
}
