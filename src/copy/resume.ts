/**
 * A blob read that survives failures: one Readable that yields the whole blob, made of
 *
 * 1. the bytes of a partial download from an earlier run, read from disk, then
 * 2. the rest from the source, opened at the offset reached (`getBlob(info, {offset})`, a Range request for
 *    registries) — appended to the partial file as it arrives, so a killed process loses nothing — and,
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
import { isRetryable, retryDelay, sleep } from '../registry/retry.js';
import type { BlobInfo, ImageSource } from '../types/image.js';
import { AppendWriter } from './append-writer.js';
import type { PartialBlob } from './partial.js';

/** Read size for the partial file's prefix. */
const PREFIX_READ_CHUNK = 1 << 20;

/** How a failed blob stream is retried. */
export interface BlobRetryPolicy {
  /** Re-opens after a failure mid-stream (default 3). */
  retryTimes?: number;
  /** Fixed delay between attempts in ms; unset: exponential backoff with jitter (src/registry/retry.ts). */
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

  constructor(o: ResumingBlobOptions) {
    super({ highWaterMark: 1 << 20 });
    this.o = o;
    this.resumedFrom = o.partial && (o.size < 0 || o.partial.size <= o.size) ? o.partial.size : 0;
  }

  /**
   * Opens the source now when the blob starts from zero, so that errors such as 404 or 401 are thrown here,
   * before anything is written to the destination. With a partial prefix the source is opened after it.
   */
  async prime(): Promise<void> {
    if (this.resumedFrom > 0 || this.o.size === 0 || this.pending) return;
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
    await file?.close();
  }

  /** Pushes a chunk, waiting while the consumer is behind. */
  private async send(chunk: Buffer): Promise<void> {
    this.offset += chunk.length;
    if (!this.push(chunk) && !this.destroyed) await new Promise<void>((r) => (this.wake = r));
  }

  private get what(): string {
    return `blob ${this.o.info.digest}`;
  }

  private async pump(): Promise<void> {
    const { partial, size, signal } = this.o;
    if (partial && partial.size > 0 && this.resumedFrom === 0) await partial.reset(); // longer than the blob: wrong
    if (this.resumedFrom > 0) {
      const rs = createReadStream(partial!.path, { start: 0, end: this.resumedFrom - 1, highWaterMark: PREFIX_READ_CHUNK });
      this.current = rs;
      let got = 0;
      for await (const chunk of rs) {
        if (this.destroyed) return;
        got += (chunk as Buffer).length;
        await this.send(chunk as Buffer);
      }
      if (got !== this.resumedFrom) throw new FerryError(ErrorCode.Io, `partial ${this.what}: ${partial!.path} shrank while being read`);
    }
    if (partial && (size < 0 || this.offset < size)) {
      this.file = await partial.openAppend();
      this.appender = new AppendWriter(this.file);
    }
    const retryTimes = Math.max(0, this.o.retryTimes ?? 3);
    let failures = 0;
    while (size < 0 || this.offset < size) {
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
          const chunk = c as Buffer;
          const written = this.appender?.write(chunk);
          await this.send(chunk);
          await written;
        }
        await this.appender?.flush();
        if (size >= 0 && this.offset < size) throw new PrematureEnd(this.what, this.offset, size);
        break;
      } catch (e) {
        if (this.destroyed) return;
        stream.destroy();
        // What arrived before the failure is kept for a later run (a write error is not retried).
        await this.appender?.flush();
        if (signal.aborted || !(e instanceof PrematureEnd || isRetryable(e))) throw e;
        failures++;
        if (failures > retryTimes) {
          throw new FerryError(ErrorCode.Network, `${this.what}: giving up after ${failures} attempts (at byte ${this.offset}${size >= 0 ? ` of ${size}` : ''}): ${message(e)}`, { cause: e });
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
    await this.closeFile();
  }
}
