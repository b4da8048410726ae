/**
 * The live view of a sync copying several images at once on a terminal (`--progress tty`): one line per image being
 * copied (`2/5 docker://…/app:v1 12.0MiB / 70.0MiB, 4.0MiB/s, blobs 2/5`), redrawn in place below the permanent
 * lines (finished images, errors, registry waits), which are printed above the block as they come. Redraws are
 * throttled; `finish()` erases the block, leaving only the permanent lines.
 */
import type { Writable } from 'node:stream';
import type { ImageEvent, ProgressEvent } from '../../types/progress.js';
import { Totals } from './progress.js';
import stringWidth from './text-width.js';

/** A terminal stream: its width is read at every redraw (the terminal may be resized). */
export type TerminalStream = Writable & { isTTY?: boolean; columns?: number };

/** Options of {@link SyncView}. */
export interface SyncViewOptions {
  /** Least time between two redraws caused by progress (default 100 ms); permanent lines redraw at once. */
  intervalMs?: number;
  /** Clock (tests). */
  now?: () => number;
}

interface Row {
  label: string;
  totals: Totals;
  /** Whether the image announced its blobs (until then its line says `starting`). */
  planned: boolean;
}

/** `text` without control characters, cut to at most `width` columns. */
export function fitLine(text: string, width: number): string {
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '');
  if (stringWidth(clean) <= width) return clean;
  let out = '';
  let w = 0;
  for (const ch of clean) {
    const cw = stringWidth(ch);
    if (w + cw > width - 1) break;
    out += ch;
    w += cw;
  }
  return out + '…';
}

/** Whether `stream` can show the live view (a terminal of known width). */
export function canShowSyncView(stream: TerminalStream): boolean {
  return stream.isTTY === true && (stream.columns ?? 0) > 0;
}

/** Draws the images of a sync being copied as a block of lines rewritten in place. */
export class SyncView {
  private readonly rows = new Map<number, Row>();
  /** Lines of the block as last drawn (the cursor is at the start of the line below them). */
  private drawn = 0;
  private timer?: NodeJS.Timeout;
  private last = 0;
  private finished = false;
  private readonly now: () => number;
  private readonly interval: number;

  constructor(
    private readonly stream: TerminalStream,
    opts: SyncViewOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.interval = opts.intervalMs ?? 100;
  }

  /** An image starts: a line `index/count name`, in the order images started. */
  start(key: number, index: number, count: number, name: string): void {
    this.rows.set(key, { label: `${index}/${count} ${name}`, totals: new Totals(), planned: false });
    this.redraw();
  }

  /** An image event of image `key` (its plan sets the totals). */
  onImage(key: number, e: ImageEvent): void {
    const row = this.rows.get(key);
    if (row && e.kind === 'image-plan') {
      row.totals.plan(e);
      row.planned = true;
      this.schedule();
    }
  }

  /** A blob event of image `key`. */
  onProgress(key: number, e: ProgressEvent): void {
    const row = this.rows.get(key);
    if (!row) return;
    row.totals.update(e, this.now());
    this.schedule();
  }

  /** The image is done (or failed): its line goes. */
  end(key: number): void {
    if (this.rows.delete(key)) this.redraw();
  }

  /** Prints a permanent line above the block. */
  line(text: string): void {
    this.redraw(text + '\n');
  }

  /** Erases the block; resolves once everything is written. Later calls draw nothing. */
  async finish(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.rows.clear();
    this.redraw();
    this.finished = true;
    await new Promise<void>((resolve) => this.stream.write('', () => resolve()));
  }

  private schedule(): void {
    if (this.timer || this.finished) return;
    const wait = Math.max(0, this.last + this.interval - this.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.redraw();
    }, wait);
    this.timer.unref?.();
  }

  /** Moves up over the block, clears it, writes `above` and the new block, in one write. */
  private redraw(above = ''): void {
    if (this.finished) {
      if (above) this.stream.write(above);
      return;
    }
    this.last = this.now();
    const width = Math.max(10, (this.stream.columns ?? 80) - 1);
    const t = this.now();
    const lines = [...this.rows.values()].map((r) => fitLine(`${r.label} ${r.planned ? r.totals.counts(t) : 'starting'}`, width) + '\n');
    const up = this.drawn > 0 ? `\r\u001b[${this.drawn}A\u001b[J` : '';
    if (up === '' && above === '' && lines.length === 0) return;
    this.stream.write(up + above + lines.join(''));
    this.drawn = lines.length;
  }
}
