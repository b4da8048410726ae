/**
 * Rendering copy progress on stderr:
 * - `tty`: an ora spinner with the aggregate (bytes done/total, speed, blobs done/total), and one
 *   permanent line per finished blob, like skopeo's (`Copying blob 4d69376f3a1c done | 100.0MiB`);
 * - `plain`: the same permanent lines, plus a byte count line every few seconds for long blobs;
 * - `json`: one ProgressEvent per line;
 * - `quiet`: nothing.
 * Step messages (`Writing manifest to image destination`, …) are lines in `tty` and `plain` modes.
 */
import type { Writable } from 'node:stream';
import type { CopyPhase } from '../../copy/options.js';
import type { ProgressEvent } from '../../types/progress.js';

/** How progress is shown. */
export type ProgressMode = 'tty' | 'plain' | 'json' | 'quiet';

/** Receives engine events and draws them. */
export interface ProgressRenderer {
  onProgress(e: ProgressEvent): void;
  onPhase(p: CopyPhase): void;
  /** Prints a line (not in `json`/`quiet` modes). */
  message(text: string): void;
  /** Stops the spinner and waits until everything is written. */
  finish(): Promise<void>;
}

/** Options of {@link createProgressRenderer}. */
export interface RendererOptions {
  /** `plain` mode: interval between byte count lines of one blob (default 5000 ms). */
  plainIntervalMs?: number;
  /** Clock (tests). */
  now?: () => number;
}

/** `1.5KiB`, `100.0MiB`, `512B` (binary units, one decimal). */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n}B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)}${units[i]}`;
}

/** The 12 first hex characters of a digest, as skopeo shows blobs. */
export function shortDigest(digest: string): string {
  const i = digest.indexOf(':');
  return digest.slice(i + 1, i + 13);
}

/** The permanent line for a finished or skipped blob. */
export function blobLine(e: ProgressEvent): string {
  const what = e.role === 'config' ? 'config' : 'blob';
  const head = `Copying ${what} ${shortDigest(e.digest)}`;
  if (e.kind === 'skipped') return `${head} skipped: ${e.reason ?? 'already exists'}`;
  return `${head} done | ${formatBytes(e.offset)}`;
}

/** The line for a step of the copy, or undefined for steps not shown. */
export function phaseLine(p: CopyPhase): string | undefined {
  switch (p.kind) {
    case 'signatures-get':
      return p.list ? 'Getting image list signatures' : 'Getting image source signatures';
    case 'list-copy':
      return `Copying ${p.count} images generated from ${p.total} images in list`;
    case 'instance':
      return `Copying image ${p.digest} (${p.index}/${p.count})`;
    case 'foreign-layer':
      return `Skipping foreign layer ${p.digest} copy to destination`;
    case 'manifest-write':
      return p.list ? 'Writing manifest list to image destination' : 'Writing manifest to image destination';
    case 'signatures-store':
      return p.list ? 'Storing list signatures' : 'Storing signatures';
    case 'signing': {
      const what = `Signing manifest using ${p.signer === 'sigstore' ? 'a sigstore signature' : 'simple signing'}`;
      return p.count > 1 ? `${what} [${p.index}/${p.count}]` : what;
    }
    case 'blob-resume':
      return p.attempt === 0
        ? `Resuming blob ${shortDigest(p.digest)} from an earlier run at ${formatBytes(p.offset)}`
        : `Resuming blob ${shortDigest(p.digest)} at ${formatBytes(p.offset)} (attempt ${p.attempt + 1}${p.reason ? `: ${p.reason}` : ''})`;
  }
}

interface BlobState {
  size: number;
  offset: number;
  lastLine: number;
  finished: boolean;
}

/** Aggregate counters over all blobs seen. */
class Totals {
  readonly blobs = new Map<string, BlobState>();
  started = 0;

  update(e: ProgressEvent, now: number): BlobState {
    let b = this.blobs.get(e.digest);
    if (!b) {
      b = { size: e.size, offset: 0, lastLine: now, finished: false };
      this.blobs.set(e.digest, b);
      if (this.started === 0) this.started = now;
    }
    if (e.size >= 0) b.size = e.size;
    if (e.kind === 'start') b.lastLine = now;
    b.offset = e.kind === 'skipped' ? Math.max(0, b.size) : e.offset;
    if (e.kind === 'done' || e.kind === 'skipped') b.finished = true;
    return b;
  }

  summary(now: number): string {
    let done = 0;
    let total = 0;
    let finished = 0;
    let unknown = false;
    for (const b of this.blobs.values()) {
      done += b.offset;
      if (b.size >= 0) total += b.size;
      else unknown = true;
      if (b.finished) finished++;
    }
    const secs = (now - this.started) / 1000;
    const speed = secs > 0 ? `${formatBytes(Math.round(done / secs))}/s` : '-';
    return `Copying: ${formatBytes(done)} / ${unknown ? '?' : formatBytes(total)}, ${speed}, blobs ${finished}/${this.blobs.size}`;
  }
}

type Spinner = { text: string; start(): unknown; stop(): unknown };

/**
 * Creates the renderer for `mode`, writing to `stream` (stderr).
 * `tty` loads ora (lazily): call it with `await`; on a stream that is not a terminal of known width it
 * falls back to `plain`.
 */
export async function createProgressRenderer(mode: ProgressMode, stream: Writable, opts: RendererOptions = {}): Promise<ProgressRenderer> {
  const now = opts.now ?? Date.now;
  const write = (s: string) => void stream.write(s);
  const flush = () => new Promise<void>((resolve) => stream.write('', () => resolve()));
  if (mode === 'quiet') {
    return { onProgress() {}, onPhase() {}, message() {}, finish: async () => {} };
  }
  if (mode === 'json') {
    return {
      onProgress: (e) => write(JSON.stringify(e) + '\n'),
      onPhase() {},
      message() {},
      finish: flush,
    };
  }
  const totals = new Totals();
  // A spinner needs a terminal whose width is known (ora divides by it); otherwise draw plain lines.
  const columns = (stream as { columns?: number }).columns ?? 0;
  if (mode === 'plain' || !(stream as { isTTY?: boolean }).isTTY || !(columns > 0)) {
    const every = opts.plainIntervalMs ?? 5000;
    return {
      onProgress(e) {
        const t = now();
        const b = totals.update(e, t);
        if (e.kind === 'done' || e.kind === 'skipped') write(blobLine(e) + '\n');
        else if (e.kind === 'bytes' && t - b.lastLine >= every) {
          b.lastLine = t;
          const what = e.role === 'config' ? 'config' : 'blob';
          write(`Copying ${what} ${shortDigest(e.digest)} ${formatBytes(e.offset)} / ${e.size >= 0 ? formatBytes(e.size) : '?'}\n`);
        }
      },
      onPhase(p) {
        const line = phaseLine(p);
        if (line !== undefined) write(line + '\n');
      },
      message: (text) => write(text + '\n'),
      finish: flush,
    };
  }
  // tty: ora hooks the stream while spinning, so a plain write lands above the spinner.
  const { default: ora } = await import('ora');
  const spinner: Spinner = ora({ stream, isEnabled: true, discardStdin: false, hideCursor: false, text: '' });
  let spinning = false;
  const above = (line: string) => write(line + '\n');
  return {
    onProgress(e) {
      const t = now();
      totals.update(e, t);
      if (e.kind === 'done' || e.kind === 'skipped') above(blobLine(e));
      spinner.text = totals.summary(t);
      if (!spinning) {
        spinning = true;
        spinner.start();
      }
    },
    onPhase(p) {
      const line = phaseLine(p);
      if (line !== undefined) above(line);
    },
    message: (text) => above(text),
    async finish() {
      if (spinning) {
        spinning = false;
        spinner.stop();
      }
      await flush();
    },
  };
}
