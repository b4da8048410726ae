/**
 * A blob read that survives failures: one Readable that yields the whole blob, made of
 *
 * 1. the bytes of a partial download from an earlier run, read from disk (when that partial starts at an offset,
 *    the bytes before it are fetched from the source first), then
 * 2. the rest from the source, opened at the offset reached (`getBlob(info, {offset})`, a Range request for
 *    registries) — appended to the partial file as it arrives, so a killed process loses little (see
 *    {@link PartialKeeping}) — and,
 * 3. when that stream fails mid-way with a retryable error (connection reset or cut, a premature end), the
 *    source opened again at the new offset, after a backoff, at most `retryTimes` times.
 *
 * Nothing is verified here: the caller pipes the whole stream through a {@link VerifyingStream}, so the digest
 * covers every byte, from disk and from the network. Nothing is held in memory beyond one chunk.
 */
import { createReadStream } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { FerryError, ErrorCode } from '../errors.js';
import { isRetryable, retryDelay, sleep } from '../util/retry.js';
import type { BlobInfo, ImageSource } from '../types/image.js';
import { AppendWriter } from './append-writer.js';
import type { PartialBlob } from './partial.js';

/** Read size for the partial file's prefix. */
const PREFIX_READ_CHUNK = 1 << 20;

/**
 * Bytes the reader queues for its consumer before it stops pulling from the source: about one network read. The
 * stages after it batch what they need themselves (1 MiB for zlib, for the partial file); a deeper queue here only
 * holds memory per blob in flight while a slower stage (decompression, the destination's disk) catches up.
 */
export const READER_HIGH_WATER_MARK = 64 * 1024;

/** A `late` reader starts keeping a blob arriving for this long that still needs at least as long again. */
export const PARTIAL_AFTER_MS = 3000;

/**
 * When the arriving bytes go to the partial file:
 * - `always`: from the first byte (the destination adopts the file as its copy of the blob: no extra write);
 * - `late`: only once the blob has been arriving for {@link PARTIAL_AFTER_MS} and, at its average rate so far,
 *   still needs longer than that, or after its stream failed once — from the offset reached then (recorded
 *   beside the file). A fast download is not written to disk twice; a slow or failing one is, and a killed copy
 *   then fetches again only the bytes before that offset.
 * A partial of an earlier run is always continued.
 */
export type PartialKeeping = 'always' | 'late';

/** How a failed blob stream is retried. */
export interface BlobRetryPolicy {
  /** Re-opens after a failure mid-stream (default 3). */
  retryTimes?: number;
  /** Fixed delay between attempts in ms; unset: exponential backoff with jitter (util/retry.ts). */
  retryDelayMs?: number;
}

/** A re-open after a failure (for progress output and tests). */
export interface ResumeEvent {
  /** The blob. */
  digest: string;
  /** The offset the source is opened at again. */
  offset: number;
  /** Failures so far (1 for the first retry). */
  attempt: number;
  /** Why the previous stream stopped. */
  reason: string;
}

/** Options of {@link ResumingBlobReader}. */
export interface ResumingBlobOptions extends BlobRetryPolicy {
  source: ImageSource;
  info: BlobInfo;
  /** Full size of the blob, -1 if unknown. */
  size: number;
  /** Where earlier bytes are and where new ones go; none: bytes only flow through. */
  partial?: PartialBlob;
  signal: AbortSignal;
  /** Called before each re-open. */
  onResume?: (e: ResumeEvent) => void;
  /** When bytes are written to `partial` (default `always`). */
  keepPartial?: PartialKeeping;
  /** For `late`: how long a blob arrives before it is kept (default {@link PARTIAL_AFTER_MS}; tests). */
  keepAfterMs?: number;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The source stream ended before the blob's size: retried like a cut connection. */
class PrematureEnd extends FerryError {
  constructor(what: string, got: number, size: number) {
    super(ErrorCode.Network, `${what}: the connection ended after ${got} of ${size} bytes`);
  }
}

/**
 * The whole blob as one stream (see the module comment). Errors: the source's own (non-retryable ones at once:
 * 404, 401, …); after the retries, FerryError naming the blob and the number of attempts.
 */
export class ResumingBlobReader extends Readable {
  /** Bytes read from the partial file of an earlier run. */
  readonly resumedFrom: number;
  /** Number of re-opens after failures. */
  resumes = 0;
  /** Bytes pushed so far. */
  offset = 0;
  private readonly o: ResumingBlobOptions;
  private started = false;
  private wake: (() => void) | undefined;
  private current: Readable | undefined;
  private file: FileHandle | undefined;
  /** Gathers the chunks appended to {@link file} into large writes. */
  private appender: AppendWriter | undefined;
  /** The source stream opened by {@link prime}, used by the first read. */
  private pending: Readable | undefined;
  /** Blob offset of the partial file's first byte. */
  private fileStart: number;
  /** Whether arriving bytes are appended to the partial file (from the start, or once decided). */
  private keeping: boolean;
  /** For `late`: when (performance.now() ms) and at which offset bytes started arriving from the source. */
  private arrival: { t: number; offset: number } | undefined;
  /** Another process holds the (deferred) partial: this reader keeps nothing. */
  private keepRefused = false;

  constructor(o: ResumingBlobOptions) {
    super({ highWaterMark: READER_HIGH_WATER_MARK });
    this.o = o;
    const p = o.partial;
    const valid = p !== undefined && p.size > 0 && (o.size < 0 || p.start + p.size <= o.size);
    this.fileStart = valid ? p.start : 0;
    this.resumedFrom = valid ? p.start + p.size : 0;
    // A deferred claim (not held yet) is for `late` keeping: it is acquired when keeping starts.
    this.keeping = p !== undefined && p.held && (this.resumedFrom > 0 || (o.keepPartial ?? 'always') === 'always');
  }

  /**
   * Whether the partial file will hold the whole blob from byte 0 once the stream ends (so a destination may
   * adopt it): `always` readers, and partials of earlier runs that start at 0.
   */
  get keepsWholePartial(): boolean {
    return this.keeping && this.fileStart === 0;
  }

  /**
   * Opens the source now when the blob starts from zero, so that errors such as 404 or 401 are thrown here,
   * before anything is written to the destination. With a partial prefix the source is opened after it.
   */
  async prime(): Promise<void> {
    if ((this.resumedFrom > 0 && this.fileStart === 0) || this.o.size === 0 || this.pending) return;
    const stream = (await this.o.source.getBlob(this.o.info, { offset: 0, signal: this.o.signal })).stream;
    // It may fail before the first read: the error stays recorded on the stream and is seen when reading starts.
    stream.on('error', () => {});
    this.pending = stream;
    if (this.destroyed) stream.destroy();
  }

  override _read(): void {
    if (!this.started) {
      this.started = true;
      this.pump().then(
        () => {
          if (!this.destroyed) this.push(null);
        },
        (e: unknown) => {
          if (!this.destroyed) this.destroy(e as Error);
        },
      );
    }
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.current?.destroy();
    this.pending?.destroy();
    const w = this.wake;
    this.wake = undefined;
    w?.();
    this.closeFile().then(() => cb(err), () => cb(err));
  }

  /** Closes the partial file (idempotent); its bytes stay for a later run. */
  private async closeFile(): Promise<void> {
    const file = this.file;
    this.file = undefined;
    await this.appender?.idle();
    await file?.close();
  }

  /** Pushes a chunk; returns what to wait for while the consumer is behind (nothing when it is not). */
  private send(chunk: Buffer): Promise<void> | undefined {
    this.offset += chunk.length;
    if (!this.push(chunk) && !this.destroyed) return new Promise<void>((r) => (this.wake = r));
    return undefined;
  }

  private get what(): string {
    return `blob ${this.o.info.digest}`;
  }

  private async pump(): Promise<void> {
    const { partial, size } = this.o;
    if (partial && (partial.size > 0 || partial.start > 0) && this.resumedFrom === 0) await partial.reset(); // longer than the blob: wrong
    if (this.resumedFrom > 0) {
      // A partial that starts at an offset: the bytes before it come from the source again.
      if (this.fileStart > 0) await this.fromSource(this.fileStart, false, true);
      if (this.destroyed) return;
      const rs = createReadStream(partial!.path, { start: 0, end: this.resumedFrom - this.fileStart - 1, highWaterMark: PREFIX_READ_CHUNK });
      this.current = rs;
      for await (const chunk of rs) {
        if (this.destroyed) return;
        const behind = this.send(chunk as Buffer);
        if (behind) await behind;
      }
      if (this.offset !== this.resumedFrom) throw new FerryError(ErrorCode.Io, `partial ${this.what}: ${partial!.path} shrank while being read`);
    }
    if (partial && this.keeping && (size < 0 || this.offset < size)) await this.startKeeping();
    await this.fromSource(size, partial !== undefined, false);
    await this.closeFile();
  }

  /**
   * Streams the source from {@link offset} up to `end` (-1: its end), re-opening it after retryable failures.
   * With `keep`, arriving bytes go to the partial file as {@link PartialKeeping} says. With `prefix`, the stream
   * is closed at `end` (the bytes before a partial that starts at an offset).
   */
  private async fromSource(end: number, keep: boolean, prefix: boolean): Promise<void> {
    const { signal } = this.o;
    const retryTimes = Math.max(0, this.o.retryTimes ?? 3);
    let failures = 0;
    while (end < 0 || this.offset < end) {
      if (this.destroyed) return;
      let stream: Readable;
      try {
        const pending = this.pending;
        this.pending = undefined;
        stream = pending ?? (await this.o.source.getBlob(this.o.info, { offset: this.offset, signal })).stream;
      } catch (e) {
        if (failures === 0 || !(e instanceof FerryError) || e.code === ErrorCode.Aborted) throw e;
        throw new FerryError(e.code, `${this.what}: giving up after ${failures + 1} attempts: ${message(e)}`, { cause: e });
      }
      this.current = stream;
      if (this.destroyed) {
        stream.destroy();
        return;
      }
      try {
        for await (const c of stream) {
          if (this.destroyed) return;
          let chunk = c as Buffer;
          if (prefix && this.offset + chunk.length >= end) {
            // Only the bytes before a partial's start were wanted from this stream.
            chunk = chunk.subarray(0, end - this.offset);
            stream.destroy();
            await this.send(chunk);
            return;
          }
          // Per network chunk: no promise to wait for unless a write or the consumer needs it.
          const written = keep ? this.keep(chunk) : undefined;
          const behind = this.send(chunk);
          if (behind) await behind;
          if (written) await written;
        }
        await this.appender?.flush();
        if (end >= 0 && this.offset < end) throw new PrematureEnd(this.what, this.offset, end);
        return;
      } catch (e) {
        if (this.destroyed) return;
        stream.destroy();
        // What arrived before the failure is kept for a later run (a write error is not retried); a stream
        // that failed once is worth keeping from here on.
        if (keep && !this.keeping && !this.keepRefused && !signal.aborted) await this.startKeeping();
        await this.appender?.flush();
        if (signal.aborted || !(e instanceof PrematureEnd || isRetryable(e))) throw e;
        failures++;
        if (failures > retryTimes) {
          throw new FerryError(ErrorCode.Network, `${this.what}: giving up after ${failures} attempts (at byte ${this.offset}${end >= 0 ? ` of ${end}` : ''}): ${message(e)}`, { cause: e });
        }
        const delay = retryDelay(failures - 1, e, { retryDelayMs: this.o.retryDelayMs, maxDelayMs: 10_000 }) ?? 0;
        await sleep(delay, signal);
        this.resumes++;
        try {
          this.o.onResume?.({ digest: this.o.info.digest, offset: this.offset, attempt: failures, reason: message(e) });
        } catch {
          // a listener failure must not break the copy
        }
      }
    }
  }

  /**
   * Opens the partial file for appending at {@link offset}; a file started only now records its start offset. A
   * deferred claim is acquired first: when another process holds it, nothing is kept.
   */
  private async startKeeping(): Promise<void> {
    const partial = this.o.partial!;
    // The offset of the chunk being kept: read before any wait (the chunk is pushed on meanwhile).
    const at = this.offset;
    if (!(await partial.acquire(this.o.signal))) {
      this.keepRefused = true;
      return;
    }
    if (!this.keeping) {
      await partial.setStart(at);
      this.fileStart = at;
    }
    this.keeping = true;
    this.file = await partial.openAppend();
    // A partial kept from byte 0 is adopted as the destination's blob (and fsynced then): write it back early.
    this.appender = new AppendWriter(this.file, { path: partial.path, writeback: this.fileStart === 0 && (this.o.keepPartial ?? 'always') === 'always' });
  }

  /**
   * Gives an arriving chunk to the partial file, or starts keeping when the blob has been arriving for
   * {@link PARTIAL_AFTER_MS} and, at its average rate so far, still needs longer than that.
   */
  private keep(chunk: Buffer): Promise<void> | undefined {
    if (this.appender) return this.appender.write(chunk);
    if (this.keepRefused) return undefined;
    const now = performance.now();
    this.arrival ??= { t: now, offset: this.offset };
    const after = this.o.keepAfterMs ?? PARTIAL_AFTER_MS;
    const elapsed = now - this.arrival.t;
    if (elapsed < after) return undefined;
    const rate = (this.offset - this.arrival.offset) / elapsed; // bytes per ms
    const remaining = this.o.size < 0 ? Infinity : this.o.size - this.offset;
    if (rate > 0 && remaining / rate <= after) return undefined;
    return this.startKeeping().then(() => this.appender?.write(chunk));
  }
}
