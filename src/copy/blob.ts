/**
 * The blob pipeline, one visible step at a time (containers/image `copy/blob.go`):
 * reuse at the destination → open at the source → verify (digest + size) and count progress →
 * detect compression → (de)compress if wanted → `putBlob`.
 * Nothing is buffered: bytes stream from source to destination.
 */
import { createReadStream } from 'node:fs';
import { PassThrough, Readable, Writable, pipeline } from 'node:stream';
import { pipeline as pipelineAsync } from 'node:stream/promises';
import { FerryError, ErrorCode } from '../errors.js';
import type { Compression, CompressionAlgorithm } from '../compression/index.js';
import type { BlobInfo, ImageDestination, ImageSource, PutBlobOptions } from '../types/image.js';
import { Rechunker } from '../util/rechunk.js';
import { VerifyingStream } from '../util/verify-stream.js';
import type { CopyPhase } from './options.js';
import type { PartialBlob, PartialStore } from './partial.js';
import { blobProgress } from './progress.js';
import { READER_HIGH_WATER_MARK, ResumingBlobReader, type BlobRetryPolicy, type PartialKeeping } from './resume.js';
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
  /** Notable steps (blob resumes). */
  phase?: (p: CopyPhase) => void;
  /** Partial downloads kept across runs (network sources only); none: blobs only flow through. */
  partials?: PartialStore;
  /** How often a blob stream failing mid-way is opened again at the offset reached (default 3 times, backoff). */
  retry?: BlobRetryPolicy;
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
  // Any compression ferry can decompress counts (bzip2 and xz too), as in containers/image.
  const compressed = detected !== 'none';
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
  const code = e instanceof FerryError ? e.code : e instanceof Error && e.name === 'AbortError' ? ErrorCode.Aborted : ErrorCode.Io;
  return new FerryError(code, msg.includes(digest) ? msg : `copying blob ${digest}: ${msg}`, { cause: e });
}

/** Whether `e` says the bytes were wrong (as opposed to failing to arrive). */
function isVerificationError(e: unknown): boolean {
  return e instanceof FerryError && (e.code === ErrorCode.DigestMismatch || e.code === ErrorCode.SizeMismatch);
}

/**
 * Copies one blob: tries reuse first (emits `skipped`), otherwise streams it through verification,
 * progress and the compression step into `putBlob`.
 *
 * Bytes come from a {@link ResumingBlobReader} when the size is known: a partial download of an earlier run
 * (`ctx.partials`) is continued with a ranged read, and a stream failing mid-way with a retryable error is opened
 * again at the offset reached (`ctx.retry`). The digest is always checked over the whole blob; when a resumed
 * blob turns out wrong, its partial is discarded and the blob is copied once more from zero.
 * @throws FerryError naming the blob digest (E_DIGEST_MISMATCH, E_SIZE_MISMATCH, E_NETWORK after the retries, E_ABORTED, …).
 */
export async function copyBlob(ctx: BlobCopyContext, src: BlobInfo, role: 'layer' | 'config', policy: CompressionPolicy): Promise<CopiedBlob> {
  const { signal } = ctx;
  let partial: PartialBlob | undefined;
  try {
    if (signal.aborted) throw new FerryError(ErrorCode.Aborted, 'aborted', { cause: signal.reason });
    // the blob as the source has it: a destination on the source's registry may mount it from there
    const sourceLocation = ctx.source.blobLocation?.();
    const reused = await ctx.dest.tryReusingBlob(src, { signal, ...(sourceLocation ? { sourceLocation } : {}) });
    if (reused) {
      blobProgress(ctx.onProgress, { digest: src.digest, size: src.size, role }, ctx.progressIntervalMs).skipped(reused.reason ?? 'already exists');
      return { info: reusedInfo(src, reused) };
    }
    // A `late` copy takes the partial's file and lock only once it keeps bytes (a fast download: none).
    if (ctx.partials && src.size > 0) partial = await ctx.partials.claim(src.digest, { signal, deferred: partialKeeping(ctx) === 'late' });
    const state = { resumed: false };
    let copied: CopiedBlob;
    try {
      copied = await transferBlob(ctx, src, role, policy, partial, state);
    } catch (e) {
      if (!isVerificationError(e)) throw e;
      // Wrong bytes are never worth keeping.
      await partial?.reset();
      if (!state.resumed) throw e;
      // The bytes before the resume point (a partial from disk, or a re-opened stream) may be what was wrong:
      // once more from zero.
      state.resumed = false;
      try {
        copied = await transferBlob(ctx, src, role, policy, partial, state);
      } catch (e2) {
        if (isVerificationError(e2)) await partial?.reset();
        throw e2;
      }
    }
    if (partial) await ctx.partials!.blobWritten(partial);
    return copied;
  } catch (e) {
    if (partial && isVerificationError(e)) await partial.remove().catch(() => {});
    throw blobError(src.digest, e, signal);
  }
}

/**
 * Reads the blob from the source once more only to check its digest (after a decompression failure):
 * the verification error if the source's bytes are wrong, else undefined (also when reading fails).
 */
async function sourceVerdict(ctx: BlobCopyContext, src: BlobInfo): Promise<FerryError | undefined> {
  try {
    const { stream, size } = await ctx.source.getBlob(src, { signal: ctx.signal });
    const verifier = new VerifyingStream({ digest: src.digest, size: src.size >= 0 ? src.size : size, what: `blob ${src.digest}` });
    await new Promise<void>((resolve, reject) => {
      pipeline(stream, verifier, (err) => (err ? reject(err) : resolve()));
      verifier.resume();
    });
    return undefined;
  } catch (e) {
    return isVerificationError(e) ? (e as FerryError) : undefined;
  }
}

/**
 * When a blob's bytes go to its partial file: a destination that adopts the partial file gets the blob written once
 * anyway; for the others the partial is a second copy on disk, worth it only for a download slow (or failing) enough
 * that a kill would hurt.
 */
function partialKeeping(ctx: BlobCopyContext): PartialKeeping {
  return ctx.dest.adoptBlobFile !== undefined ? 'always' : 'late';
}

/** Opens the blob's bytes: resumable when its size is known, else a plain source stream. */
async function openBlobBytes(
  ctx: BlobCopyContext,
  src: BlobInfo,
  partial: PartialBlob | undefined,
  state: { resumed: boolean },
): Promise<{ raw: Readable; size: number }> {
  const { signal } = ctx;
  if (src.size < 0) {
    const { stream, size } = await ctx.source.getBlob(src, { signal });
    return { raw: stream, size };
  }
  const phase = (p: CopyPhase) => {
    try {
      ctx.phase?.(p);
    } catch {
      // a renderer failure must not break the copy
    }
  };
  const reader = new ResumingBlobReader({
    source: ctx.source,
    info: src,
    size: src.size,
    partial,
    signal,
    retryTimes: ctx.retry?.retryTimes,
    retryDelayMs: ctx.retry?.retryDelayMs,
    keepPartial: partialKeeping(ctx),
    onResume: (e) => {
      state.resumed = true;
      phase({ kind: 'blob-resume', digest: e.digest, offset: e.offset, attempt: e.attempt, reason: e.reason });
    },
  });
  if (reader.resumedFrom > 0) {
    state.resumed = true;
    phase({ kind: 'blob-resume', digest: src.digest, offset: reader.resumedFrom, attempt: 0 });
  }
  try {
    await reader.prime();
  } catch (e) {
    reader.destroy();
    throw e;
  }
  return { raw: reader, size: src.size };
}

/** A blob's compression as decided from its first bytes: what to do, and the stream to read (the peeked bytes put back). */
interface CompressionDecision {
  input: Readable;
  step: ReturnType<typeof compressionStep>;
  detected: Compression;
  /** The codecs, loaded when the blob was peeked at (a copy that keeps every blob as it is never loads them). */
  codecs?: typeof import('../compression/index.js');
}

/**
 * Decides what to do to the blob's compression. Only a blob that may be changed, for a destination (or user) that
 * wants something other than what it has, is peeked at; the others are kept as they are.
 */
async function decideCompression(raw: Readable, policy: CompressionPolicy, signal: AbortSignal): Promise<CompressionDecision> {
  if (!policy.canModify || policy.desired === 'preserve') return { input: raw, step: { op: 'preserve' }, detected: 'none' };
  let detected: Compression;
  let codecs: typeof import('../compression/index.js');
  try {
    codecs = await import('../compression/index.js');
    detected = (await codecs.detectStreamCompression(raw, { signal })).compression;
  } catch (e) {
    raw.destroy();
    throw e;
  }
  const input = raw.readableEnded ? Readable.from([]) : raw; // an empty blob: nothing was put back
  return { input, step: compressionStep(detected, policy), detected, codecs };
}

/**
 * The stages after the verifier that (de)compress the blob, none when it is kept as it is.
 * On failure (no codec: zstd without its library) the opened source is closed before it is piped anywhere, or the
 * copy's abort would later fail it with nobody listening.
 */
function codecStages(raw: Readable, d: CompressionDecision, level: number | undefined): NodeJS.ReadWriteStream[] {
  const { step, codecs } = d;
  const stages: NodeJS.ReadWriteStream[] = [];
  if (step.op === 'preserve') return stages;
  try {
    // zlib submits one thread-pool job per written chunk: give it 1 MiB chunks, not ~64 KiB network reads.
    if (step.op === 'decompress' || step.op === 'recompress') stages.push(new Rechunker(), codecs!.decompressStream(d.detected));
    if (step.op === 'compress' || step.op === 'recompress') stages.push(codecs!.compressStream(step.to as CompressionAlgorithm, level));
  } catch (e) {
    raw.destroy();
    throw e;
  }
  return stages;
}

/**
 * Whether the blob goes to the destination as its complete partial file ({@link adoptPartial}): kept as it is, read
 * into a partial that holds all of it, for a destination that can take a file as a blob.
 */
function adoptsPartial(ctx: BlobCopyContext, raw: Readable, d: CompressionDecision, partial: PartialBlob | undefined, size: number): partial is PartialBlob {
  const partialWhole = raw instanceof ResumingBlobReader && raw.keepsWholePartial;
  return d.step.op === 'preserve' && partial !== undefined && partialWhole && ctx.partials !== undefined && size > 0 && ctx.dest.adoptBlobFile !== undefined;
}

/** One pass of a blob from source (or partial) to `putBlob`; sets `state.resumed` when any bytes were resumed. */
async function transferBlob(
  ctx: BlobCopyContext,
  src: BlobInfo,
  role: 'layer' | 'config',
  policy: CompressionPolicy,
  partial: PartialBlob | undefined,
  state: { resumed: boolean },
): Promise<CopiedBlob> {
  const { raw, size } = await openBlobBytes(ctx, src, partial, state);
  const progress = blobProgress(ctx.onProgress, { digest: src.digest, size, role }, ctx.progressIntervalMs);
  const decision = await decideCompression(raw, policy, ctx.signal);
  // Fed the reader's network-sized chunks: it queues as little as the reader does (see READER_HIGH_WATER_MARK).
  const verifier = new VerifyingStream({ digest: src.digest, size, what: `blob ${src.digest}`, onProgress: (n) => progress.bytes(n), highWaterMark: READER_HIGH_WATER_MARK });
  if (adoptsPartial(ctx, raw, decision, partial, size)) return adoptPartial(ctx, src, size, decision.input, verifier, partial, progress);
  const stages = codecStages(raw, decision, policy.level);
  const { step } = decision;
  // Kept as it is, the blob goes under its own digest, verified on the way (the destination need not hash it again);
  // changed, it is named by the digest the destination computes.
  const target: BlobInfo = step.op === 'preserve' ? { ...src, size } : { digest: '', size: -1, mediaType: src.mediaType };
  const putOptions: PutBlobOptions = { signal: ctx.signal, sourceDigest: src.digest };
  if (step.op === 'preserve') putOptions.verifiedUpstream = { digest: src.digest, size };
  progress.start(0);
  const written = await pipeIntoDestination(ctx, src, decision.input, [verifier, ...stages], target, putOptions);
  progress.done(verifier.bytes);
  const info: BlobInfo = { ...src, digest: written.digest, size: written.size };
  delete info.reason;
  return step.op !== 'preserve' ? { info, compression: step.to } : { info };
}

/**
 * Pipes `input` through `stages` (the verifier, then the codecs if any) into `putBlob` and waits for both ends.
 * A failure of the source side (a digest mismatch) is preferred over the destination's view of it; a codec failing on
 * corrupted input before the digest could be checked is told apart by reading the source once more.
 */
async function pipeIntoDestination(
  ctx: BlobCopyContext,
  src: BlobInfo,
  input: Readable,
  stages: NodeJS.ReadWriteStream[],
  target: BlobInfo,
  putOptions: PutBlobOptions,
): Promise<BlobInfo> {
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  let pipeError: unknown;
  const piped = new Promise<void>((resolve) => {
    pipeline([input, ...stages, out], (err) => {
      pipeError = err ?? undefined;
      resolve();
    });
  });
  let written: BlobInfo;
  try {
    written = await ctx.dest.putBlob(out, target, putOptions);
  } catch (e) {
    if (!input.destroyed) input.destroy();
    await piped;
    const err = pipeError instanceof FerryError ? pipeError : e;
    const codecFailed = stages.length > 1 && pipeError !== undefined && !(pipeError instanceof FerryError) && !ctx.signal.aborted;
    throw codecFailed ? ((await sourceVerdict(ctx, src)) ?? err) : err;
  }
  if (!out.readableEnded) {
    // The destination returned without reading everything (it had the blob after all): stop the source.
    out.destroy();
    if (!input.destroyed) input.destroy();
  }
  await piped;
  if (pipeError instanceof FerryError && out.readableEnded) throw pipeError;
  if (!written.digest) throw new FerryError(ErrorCode.Io, `destination ${ctx.dest.reference.toString()} returned no digest for blob`);
  return written;
}

/**
 * The blob's bytes are written to its partial file anyway (by the {@link ResumingBlobReader}), and the destination
 * can take a file as a blob: verify the stream while it fills the partial, then hand the file over (renamed, or
 * hard-linked when the partial stays until commit) instead of writing the same bytes a second time. Falls back to
 * `putBlob` from the file if the destination cannot take it.
 */
async function adoptPartial(
  ctx: BlobCopyContext,
  src: BlobInfo,
  size: number,
  input: Readable,
  verifier: VerifyingStream,
  partial: PartialBlob,
  progress: ReturnType<typeof blobProgress>,
): Promise<CopiedBlob> {
  const { signal, dest } = ctx;
  progress.start(0);
  await pipelineAsync(input, verifier, discard(), { signal });
  const target: BlobInfo = { ...src, size };
  const keepSource = ctx.partials!.location.keepUntilCommit;
  const written =
    (await dest.adoptBlobFile?.(partial.path, target, { signal, keepSource })) ??
    (await dest.putBlob(createReadStream(partial.path, { highWaterMark: 1 << 20 }), target, { signal, sourceDigest: src.digest }));
  progress.done(verifier.bytes);
  const info: BlobInfo = { ...src, digest: written.digest || src.digest, size: written.size >= 0 ? written.size : size };
  delete info.reason;
  return { info };
}

/** A Writable that drops what it is given (the end of a pipeline whose side effects are the point). */
function discard(): Writable {
  return new Writable({ highWaterMark: 1 << 20, write: (_c, _e, cb) => cb() });
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
