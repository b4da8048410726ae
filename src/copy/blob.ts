/**
 * The blob pipeline, one visible step at a time (containers/image `copy/blob.go`):
 * reuse at the destination → open at the source → verify (digest + size) and count progress →
 * detect compression → (de)compress if wanted → `putBlob`.
 * Nothing is buffered: bytes stream from source to destination.
 */
import { PassThrough, Readable, pipeline } from 'node:stream';
import { FerryError, ErrorCode } from '../errors.js';
import { compressStream, decompressStream, detectStreamCompression, type Compression, type CompressionAlgorithm } from '../compression/index.js';
import type { BlobInfo, ImageDestination, ImageSource } from '../types/image.js';
import { VerifyingStream } from '../util/verify-stream.js';
import { blobProgress } from './progress.js';
import type { ProgressListener } from '../types/progress.js';

/** What to do to a layer's compression (decided per blob once its first bytes are seen). */
export interface CompressionPolicy {
  /** Whether the blob may be changed at all (false: signatures or `--preserve-digests`, configs, unknown layer types). */
  canModify: boolean;
  /** What the destination (or the user) wants. */
  desired: 'preserve' | 'compress' | 'decompress';
  /** Format given explicitly by the user: also recompresses layers compressed with another algorithm. */
  explicitFormat?: CompressionAlgorithm;
  /** Level for compression. */
  level?: number;
}

/** Shared state of one copy. */
export interface BlobCopyContext {
  source: ImageSource;
  dest: ImageDestination;
  signal: AbortSignal;
  onProgress?: ProgressListener;
  progressIntervalMs?: number;
}

/** A blob as written: its info at the destination, and its new compression if the pipeline changed it. */
export interface CopiedBlob {
  info: BlobInfo;
  /** Set when the bytes were (de)compressed: the compression of the written blob. */
  compression?: Compression;
}

/** The manifest's view of a reused blob: the destination's digest and size, the source's other fields, no `reason`. */
function reusedInfo(src: BlobInfo, reused: BlobInfo): BlobInfo {
  const info: BlobInfo = { ...src, digest: reused.digest || src.digest, size: reused.size >= 0 ? reused.size : src.size };
  delete info.reason;
  return info;
}

/** The (de)compression step chosen for a blob, given its detected compression. */
export function compressionStep(detected: Compression, p: CompressionPolicy): { op: 'preserve' } | { op: 'compress' | 'recompress' | 'decompress'; to: Compression } {
  if (!p.canModify) return { op: 'preserve' };
  const compressed = detected === 'gzip' || detected === 'zstd';
  if (p.desired === 'compress' && detected === 'none') return { op: 'compress', to: p.explicitFormat ?? 'gzip' };
  if (p.desired === 'compress' && compressed && p.explicitFormat !== undefined && p.explicitFormat !== detected) {
    return { op: 'recompress', to: p.explicitFormat };
  }
  if (p.desired === 'decompress' && compressed) return { op: 'decompress', to: 'none' };
  return { op: 'preserve' };
}

/** The error for a failed blob copy, naming the blob (keeps the code). */
export function blobError(digest: string, e: unknown, signal: AbortSignal): FerryError {
  if (signal.aborted && !(e instanceof FerryError && e.code !== ErrorCode.Aborted)) {
    return new FerryError(ErrorCode.Aborted, `copying blob ${digest}: aborted`, { cause: e });
  }
  const msg = e instanceof Error ? e.message : String(e);
  const code = e instanceof FerryError ? e.code : (e as { name?: string } | null)?.name === 'AbortError' ? ErrorCode.Aborted : ErrorCode.Io;
  return new FerryError(code, msg.includes(digest) ? msg : `copying blob ${digest}: ${msg}`, { cause: e });
}

/**
 * Copies one blob: tries reuse first (emits `skipped`), otherwise streams it through verification,
 * progress and the compression step into `putBlob`.
 * @throws FerryError naming the blob digest (E_DIGEST_MISMATCH, E_SIZE_MISMATCH, E_ABORTED, …).
 */
export async function copyBlob(ctx: BlobCopyContext, src: BlobInfo, role: 'layer' | 'config', policy: CompressionPolicy): Promise<CopiedBlob> {
  const { signal } = ctx;
  try {
    if (signal.aborted) throw new FerryError(ErrorCode.Aborted, 'aborted', { cause: signal.reason });
    const reused = await ctx.dest.tryReusingBlob(src, { signal });
    if (reused) {
      blobProgress(ctx.onProgress, { digest: src.digest, size: src.size, role }, ctx.progressIntervalMs).skipped(reused.reason ?? 'already exists');
      return { info: reusedInfo(src, reused) };
    }
    const { stream: raw, size: reportedSize } = await ctx.source.getBlob(src, { signal });
    const size = src.size >= 0 ? src.size : reportedSize;
    const progress = blobProgress(ctx.onProgress, { digest: src.digest, size, role }, ctx.progressIntervalMs);
    let input: Readable = raw;
    let step: ReturnType<typeof compressionStep> = { op: 'preserve' };
    let detected: Compression = 'none';
    if (policy.canModify && policy.desired !== 'preserve') {
      try {
        detected = (await detectStreamCompression(raw, { signal })).compression;
      } catch (e) {
        raw.destroy();
        throw e;
      }
      if (raw.readableEnded) input = Readable.from([]); // an empty blob: nothing was put back
      step = compressionStep(detected, policy);
    }
    const verifier = new VerifyingStream({ digest: src.digest, size, what: `blob ${src.digest}`, onProgress: (n) => progress.bytes(n) });
    const stages: NodeJS.ReadWriteStream[] = [verifier];
    if (step.op === 'decompress' || step.op === 'recompress') stages.push(decompressStream(detected));
    if (step.op === 'compress' || step.op === 'recompress') stages.push(compressStream(step.to as CompressionAlgorithm, policy.level));
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    progress.start(0);
    let pipeError: unknown;
    const piped = new Promise<void>((resolve) => {
      pipeline([input, ...stages, out] as unknown as [Readable, PassThrough], (err) => {
        pipeError = err ?? undefined;
        resolve();
      });
    });
    const changed = step.op !== 'preserve';
    const target: BlobInfo = changed ? { digest: '', size: -1, mediaType: src.mediaType } : { ...src, size };
    let written: BlobInfo;
    try {
      written = await ctx.dest.putBlob(out, target, { signal });
    } catch (e) {
      if (!input.destroyed) input.destroy();
      await piped;
      // Prefer the source-side error (digest mismatch) over the destination's view of it.
      throw pipeError instanceof FerryError ? pipeError : e;
    }
    if (!out.readableEnded) {
      // The destination returned without reading everything (it had the blob after all): stop the source.
      out.destroy();
      if (!input.destroyed) input.destroy();
    }
    await piped;
    if (pipeError instanceof FerryError && out.readableEnded) throw pipeError;
    if (!written.digest) throw new FerryError(ErrorCode.Io, `destination ${ctx.dest.reference.toString()} returned no digest for blob`);
    progress.done(verifier.bytes);
    const info: BlobInfo = { ...src, digest: written.digest, size: written.size };
    delete info.reason;
    return step.op !== 'preserve' ? { info, compression: step.to } : { info };
  } catch (e) {
    throw blobError(src.digest, e, signal);
  }
}

/**
 * Copies a small blob already in memory (a config rewritten by conversion, or fetched and verified):
 * reuse first, else `putBlob` from the buffer, with progress events.
 */
export async function putSmallBlob(ctx: BlobCopyContext, bytes: Buffer, info: BlobInfo, role: 'layer' | 'config'): Promise<BlobInfo> {
  const { signal } = ctx;
  try {
    const progress = blobProgress(ctx.onProgress, { digest: info.digest, size: bytes.length, role }, ctx.progressIntervalMs);
    const reused = await ctx.dest.tryReusingBlob(info, { signal });
    if (reused) {
      progress.skipped(reused.reason ?? 'already exists');
      return reusedInfo(info, reused);
    }
    progress.start(0);
    const written = await ctx.dest.putBlob(Readable.from([bytes]), { ...info, size: bytes.length }, { signal });
    progress.done(bytes.length);
    return { ...info, digest: written.digest || info.digest, size: written.size >= 0 ? written.size : bytes.length };
  } catch (e) {
    throw blobError(info.digest, e, signal);
  }
}

/**
 * Reads a small blob (a config) whole and verifies its digest and size.
 * @throws FerryError(E_DIGEST_MISMATCH | E_SIZE_MISMATCH) naming the blob.
 */
export async function readSmallBlob(ctx: BlobCopyContext, info: BlobInfo): Promise<Buffer> {
  const { signal } = ctx;
  try {
    const { stream, size } = await ctx.source.getBlob(info, { signal });
    const verifier = new VerifyingStream({ digest: info.digest, size: info.size >= 0 ? info.size : size, what: `blob ${info.digest}` });
    const chunks: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      pipeline(stream, verifier, (err) => (err ? reject(err) : resolve()));
      verifier.on('data', (c: Buffer) => chunks.push(c));
    });
    return Buffer.concat(chunks);
  } catch (e) {
    throw blobError(info.digest, e, signal);
  }
}
