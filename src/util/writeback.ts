/**
 * Early writeback for large files that will be fsynced when complete: every {@link WRITEBACK_EVERY} bytes
 * written, an `fdatasync` is started on the thread pool (one at a time), so the disk writes pages back while the
 * copy goes on rather than all at once in the final fsync, where nothing else is left to overlap it (measurable
 * on large archives, see docs/performance.md). Nothing waits for these syncs except {@link WritebackPacer.drain}; their failures are
 * left to the final fsync, which reports them.
 */
import { fdatasync } from 'node:fs';

/** Bytes written between early syncs. */
export const WRITEBACK_EVERY = 64 << 20;

/** Starts background syncs of one open file descriptor as bytes are written to it. */
export class WritebackPacer {
  private pending = 0;
  private inflight: Promise<void> | undefined;

  constructor(
    private readonly fd: number,
    private readonly every = WRITEBACK_EVERY,
    /** The sync call (node:fs `fdatasync`; tests count calls). */
    private readonly sync: (fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => void = fdatasync,
  ) {}

  /** Records `n` more bytes written; starts a sync when enough have gathered and none is running. */
  wrote(n: number): void {
    this.pending += n;
    if (this.pending < this.every || this.inflight) return;
    this.pending = 0;
    this.inflight = new Promise<void>((resolve) => this.sync(this.fd, () => resolve())).then(() => {
      this.inflight = undefined;
    });
  }

  /** Waits for a running sync (before the descriptor is closed). */
  async drain(): Promise<void> {
    while (this.inflight) await this.inflight;
  }
}
