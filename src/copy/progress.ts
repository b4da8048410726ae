/** Per-blob progress reporting with throttled `bytes` events, and image-level events. */
import type { ImageEvent, ImageEventListener, ProgressEvent, ProgressListener } from '../types/progress.js';

/** Sends an image-level event; listener exceptions are swallowed (a broken renderer must not break a copy). */
export function imageEvent(listener: ImageEventListener | undefined, e: ImageEvent): void {
  if (!listener) return;
  try {
    listener(e);
  } catch {
    // ignore renderer failures
  }
}

/**
 * The plan of one image: every distinct blob its blob events will cover (the `layers` to copy, then the config when
 * there is one) with their total known size.
 */
export function imagePlan(digest: string, layers: ReadonlyArray<{ digest: string; size: number }>, config: { digest: string; size: number } | undefined): ImageEvent {
  const seen = new Map<string, number>();
  for (const b of config ? [...layers, config] : layers) if (!seen.has(b.digest)) seen.set(b.digest, b.size);
  let size = 0;
  let unknownSizes = 0;
  for (const s of seen.values()) {
    if (s >= 0) size += s;
    else unknownSizes++;
  }
  return { kind: 'image-plan', digest, blobs: seen.size, size, unknownSizes };
}

/** Reports the progress of one blob. */
export interface BlobProgress {
  /** The blob starts (at `offset`, usually 0). */
  start(offset: number): void;
  /** `offset` bytes are done; emitted at most every interval (cheap to call per chunk). */
  bytes(offset: number): void;
  /** The blob is complete (a final `bytes` is not needed). */
  done(offset: number): void;
  /** The destination already had it. */
  skipped(reason: string): void;
}

const NOOP: BlobProgress = { start() {}, bytes() {}, done() {}, skipped() {} };

/**
 * A reporter for the blob `digest` of `size` bytes (-1 unknown). Listener exceptions are swallowed:
 * a broken renderer must not break a copy.
 */
export function blobProgress(
  listener: ProgressListener | undefined,
  info: { digest: string; size: number; role: 'layer' | 'config' },
  intervalMs = 100,
): BlobProgress {
  if (!listener) return NOOP;
  const emit = (e: Omit<ProgressEvent, 'digest' | 'size' | 'role'>) => {
    try {
      listener({ ...e, digest: info.digest, size: info.size, role: info.role });
    } catch {
      // ignore renderer failures
    }
  };
  let last = 0;
  return {
    start(offset) {
      last = Date.now();
      emit({ kind: 'start', offset });
    },
    bytes(offset) {
      const now = Date.now();
      if (now - last < intervalMs) return;
      last = now;
      emit({ kind: 'bytes', offset });
    },
    done(offset) {
      emit({ kind: 'done', offset });
    },
    skipped(reason) {
      emit({ kind: 'skipped', offset: info.size >= 0 ? info.size : 0, reason });
    },
  };
}
