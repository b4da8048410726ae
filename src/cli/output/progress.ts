/**
 * Rendering copy progress on stderr:
 * - `tty`: an ora spinner with the aggregate (bytes done/total, speed, blobs done/total, time left), and one
 *   permanent line per finished blob, like skopeo's (`Copying blob 4d69376f3a1c done | 100.0MiB`); totals come
 *   from each image's plan (`image-plan`), so they are whole from the first byte;
 * - `plain`: the same permanent lines, plus a byte count line every few seconds for long blobs;
 * - `json`: one event per line, blob events (ProgressEvent) and image events (ImageEvent);
 * - `quiet`: nothing.
 * Step messages (`Writing manifest to image destination`, …) and registry waits (`Waiting 2s for registry …`) are
 * lines in `tty` and `plain` modes.
 */
import type { Writable } from 'node:stream';
import type { CopyPhase } from '../../copy/options.js';
import type { ImageEvent, ProgressEvent, RegistryWaitEvent } from '../../types/progress.js';

/** How progress is shown. */
export type ProgressMode = 'tty' | 'plain' | 'json' | 'quiet';

/** Receives engine events and draws them. */
export interface ProgressRenderer {
  onProgress(e: ProgressEvent): void;
  onImage(e: ImageEvent): void;
  onPhase(p: CopyPhase): void;
  /** ferry holds requests to a registry (rate limits). */
  onWait(e: RegistryWaitEvent): void;
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

/** `Waiting 2s for registry HOST: it answered 429 (Retry-After)`: the line for a registry wait. */
export function waitLine(e: RegistryWaitEvent): string {
  const head = `Waiting ${formatEta(e.ms / 1000)} for registry ${e.host}`;
  switch (e.reason) {
    case 'retry-after':
      return `${head}: it answered ${e.status === 503 ? '503 (service unavailable)' : '429 (too many requests)'}`;
    case 'rate-limit-budget': {
      const of = e.limit !== undefined ? ` of ${e.limit}` : '';
      const left = e.remaining !== undefined ? ` (${e.remaining}${of} requests left${e.windowSeconds !== undefined ? ` per ${formatEta(e.windowSeconds)}` : ''})` : '';
      return `${head}: spreading requests over its rate-limit window${left}`;
    }
    case 'max-requests-per-second':
      return `${head}: --max-requests-per-second`;
  }
}

interface BlobState {
  size: number;
  offset: number;
  lastLine: number;
  finished: boolean;
  /** Skipped (already at the destination): its bytes did not move. */
  skipped: boolean;
}

/** `45s`, `3m05s`, `2h07m`: a duration in whole seconds, rounded up. */
export function formatEta(seconds: number): string {
  const s = Math.max(0, Math.ceil(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * Aggregate counters over the images of a copy. Each `image-plan` opens a new image and adds its blobs and bytes to
 * the totals before any of them starts; blobs are counted per image (an instance of a multi-platform copy may skip a
 * blob an earlier one copied). A blob no plan announced (a config rewritten by a format conversion) adds to the totals
 * when it appears.
 */
export class Totals {
  /** Blobs of the current image, by digest. */
  private blobs = new Map<string, BlobState>();
  private doneBefore = 0;
  private movedBefore = 0;
  private finishedBefore = 0;
  private plannedBlobs = 0;
  private plannedSize = 0;
  private unknown = false;
  private seenBlobs = 0;
  started = 0;

  /** Starts the next image of the copy with its plan. */
  plan(e: Extract<ImageEvent, { kind: 'image-plan' }>): void {
    for (const b of this.blobs.values()) {
      this.doneBefore += b.offset;
      if (!b.skipped) this.movedBefore += b.offset;
      if (b.finished) this.finishedBefore++;
    }
    this.blobs = new Map();
    this.plannedBlobs += e.blobs;
    this.plannedSize += e.size;
    if (e.unknownSizes > 0) this.unknown = true;
  }

  update(e: ProgressEvent, now: number): BlobState {
    let b = this.blobs.get(e.digest);
    if (!b) {
      b = { size: e.size, offset: 0, lastLine: now, finished: false, skipped: false };
      this.blobs.set(e.digest, b);
      this.seenBlobs++;
      if (this.seenBlobs > this.plannedBlobs) {
        // not announced by a plan
        this.plannedBlobs++;
        if (e.size >= 0) this.plannedSize += e.size;
        else this.unknown = true;
      }
      if (this.started === 0) this.started = now;
    }
    if (e.size >= 0) b.size = e.size;
    if (e.kind === 'start') b.lastLine = now;
    b.offset = e.kind === 'skipped' ? Math.max(0, b.size) : e.offset;
    if (e.kind === 'skipped') b.skipped = true;
    if (e.kind === 'done' || e.kind === 'skipped') b.finished = true;
    return b;
  }

  /** `Copying: 12.0MiB / 70.0MiB, 4.0MiB/s, blobs 2/5` and, with `eta`, `, ETA 15s` once a speed is known. */
  summary(now: number, eta = false): string {
    return `Copying: ${this.counts(now, eta)}`;
  }

  /** `12.0MiB / 70.0MiB, 4.0MiB/s, blobs 2/5` (see {@link Totals.summary}). */
  counts(now: number, eta = false): string {
    let done = this.doneBefore;
    let moved = this.movedBefore;
    let finished = this.finishedBefore;
    for (const b of this.blobs.values()) {
      done += b.offset;
      if (!b.skipped) moved += b.offset;
      if (b.finished) finished++;
    }
    const secs = this.started === 0 ? 0 : (now - this.started) / 1000;
    const rate = secs > 0 ? moved / secs : 0;
    const speed = secs > 0 ? `${formatBytes(Math.round(rate))}/s` : '-';
    let line = `${formatBytes(done)} / ${this.unknown ? '?' : formatBytes(this.plannedSize)}, ${speed}, blobs ${finished}/${this.plannedBlobs}`;
    if (eta && !this.unknown && rate > 0 && this.plannedSize > done) line += `, ETA ${formatEta((this.plannedSize - done) / rate)}`;
    return line;
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
    return { onProgress() {}, onImage() {}, onPhase() {}, onWait() {}, message() {}, finish: async () => {} };
  }
  if (mode === 'json') {
    return {
      onProgress: (e) => write(JSON.stringify(e) + '\n'),
      onImage: (e) => write(JSON.stringify(e) + '\n'),
      onPhase() {},
      onWait: (e) => write(JSON.stringify(e) + '\n'),
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
      onImage(e) {
        if (e.kind === 'image-plan') totals.plan(e);
      },
      onPhase(p) {
        const line = phaseLine(p);
        if (line !== undefined) write(line + '\n');
      },
      onWait: (e) => write(waitLine(e) + '\n'),
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
      spinner.text = totals.summary(t, true);
      if (!spinning) {
        spinning = true;
        spinner.start();
      }
    },
    onImage(e) {
      if (e.kind === 'image-plan') totals.plan(e);
    },
    onPhase(p) {
      const line = phaseLine(p);
      if (line !== undefined) above(line);
    },
    onWait: (e) => above(waitLine(e)),
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
