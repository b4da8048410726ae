/**
 * The uncompressed tar of an archive (`docker save` or OCI), as a file that can be indexed in place: the archive
 * itself when it is an uncompressed file; else a temporary copy, as containers/image makes one: decompressed (gzip,
 * zstd, xz, bzip2), copied from a stream that cannot be read in place (a pipe, `/dev/stdin`, a FIFO, a character
 * device), or joined from the parts of a split archive (`ARCHIVE.001`, split-parts.ts), each part checked.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { type Compression, detectCompression, MAGIC_LENGTH } from '../../compression/detect.js';
import { decompressStream } from '../../compression/index.js';
import { FerryError, ErrorCode } from '../../errors.js';
import type { OpOptions } from '../../types/context.js';
import { type ArchiveInput, openArchiveInput } from '../../util/stream-files.js';
import { makeTempDir, type TempDir, type TempOptions } from '../../util/temp.js';
import { checkAborted, ioError, openForReading } from './files.js';
import { isSplitArchive, joinParts } from './split-parts.js';

async function sniff(path: string, what: string): Promise<Buffer> {
  const fh = await openForReading(path, what);
  try {
    const buf = Buffer.alloc(MAGIC_LENGTH);
    const { bytesRead } = await fh.read(buf, 0, MAGIC_LENGTH, 0);
    return buf.subarray(0, bytesRead);
  } catch (e) {
    throw ioError(`reading ${what}`, e);
  } finally {
    await fh.close().catch(() => {});
  }
}

/**
 * Returns the path of an uncompressed tar with the archive's content: `path` itself, or a decompressed copy (or,
 * for a stream, a copy) in a new temporary directory (returned so the caller removes it).
 * @throws FerryError(E_INVALID_MANIFEST) for corrupt compressed data; E_UNSUPPORTED, E_NOT_FOUND, E_IO, E_ABORTED.
 */
export async function uncompressedTar(path: string, what: string, opts: OpOptions & TempOptions = {}): Promise<{ tarPath: string; temp?: TempDir }> {
  checkAborted(opts.signal, `opening ${what}`);
  if (await isSplitArchive(path)) return joinSplit(path, what, opts);
  const input = await openArchiveInput(path, what);
  if (input.kind === 'stream') return spoolStream(input, what, opts);
  const compression = detectCompression(await sniff(path, what));
  if (compression === 'none') return { tarPath: path };
  const decompressor = decompressStream(compression);
  const temp = await makeTempDir(opts, 'ferry-archive-');
  const tarPath = join(temp.path, 'archive.tar');
  try {
    await pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), decompressor, createWriteStream(tarPath), {
      signal: opts.signal,
    });
  } catch (e) {
    await temp.remove().catch(() => {});
    throw decompressError(what, compression, e);
  }
  return { tarPath, temp };
}

/** The error for a failed decompression of an archive: corrupt data named as such, the rest as I/O errors. */
function decompressError(what: string, compression: Compression, e: unknown): FerryError {
  if (e instanceof FerryError) return e.code === ErrorCode.InvalidManifest ? new FerryError(e.code, `${what}: ${e.message}`, { cause: e }) : e;
  const code = (e as { code?: unknown }).code;
  if (code === 'Z_BUF_ERROR' || code === 'Z_DATA_ERROR' || (compression === 'zstd' && e instanceof Error && code === undefined)) {
    return new FerryError(ErrorCode.InvalidManifest, `${what}: corrupt or truncated ${compression} data`, { cause: e });
  }
  return ioError(`decompressing ${what}`, e);
}

/** Joins a split archive's parts (checked against their checksum list) into a temporary file, decompressed if gzip'd. */
async function joinSplit(first: string, what: string, opts: OpOptions & TempOptions): Promise<{ tarPath: string; temp: TempDir }> {
  const temp = await makeTempDir(opts, 'ferry-archive-');
  try {
    const joined = join(temp.path, 'joined');
    const out = createWriteStream(joined, { flags: 'wx', mode: 0o600, highWaterMark: 1 << 20 });
    // Write errors reach joinParts (through drained) or finished; a write still pending when a part fails must not
    // surface as an unhandled error once the stream is destroyed.
    out.on('error', () => {});
    try {
      await joinParts(first, out, opts);
      out.end();
      await finished(out);
    } catch (e) {
      out.destroy();
      await finished(out).catch(() => {});
      throw e;
    }
    const compression = detectCompression(await sniff(joined, what));
    if (compression === 'none') return { tarPath: joined, temp };
    const tarPath = join(temp.path, 'archive.tar');
    try {
      await pipeline(createReadStream(joined, { highWaterMark: 1 << 20 }), decompressStream(compression), createWriteStream(tarPath), { signal: opts.signal });
    } catch (e) {
      throw decompressError(what, compression, e);
    }
    return { tarPath, temp };
  } catch (e) {
    await temp.remove().catch(() => {});
    throw e;
  }
}

/** The first `n` bytes of `stream` (fewer at its end), and a stream of all of it again. */
async function peek(stream: Readable, n: number): Promise<{ head: Buffer; all: Readable }> {
  const it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const seen: Buffer[] = [];
  let have = 0;
  let ended = false;
  while (have < n) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    seen.push(r.value);
    have += r.value.length;
  }
  async function* replay(): AsyncGenerator<Buffer> {
    yield* seen;
    if (ended) return;
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
  }
  return { head: Buffer.concat(seen).subarray(0, n), all: Readable.from(replay(), { objectMode: false }) };
}

/** Copies a stream archive, decompressed if it is compressed, into a new temporary file (in the temporary directory). */
async function spoolStream(input: Extract<ArchiveInput, { kind: 'stream' }>, what: string, opts: OpOptions & TempOptions): Promise<{ tarPath: string; temp: TempDir }> {
  let temp: TempDir | undefined;
  let compression: Compression = 'none';
  try {
    const { head, all } = await peek(input.stream, MAGIC_LENGTH);
    compression = detectCompression(head);
    const decompressor = compression === 'none' ? undefined : decompressStream(compression);
    temp = await makeTempDir(opts, 'ferry-archive-');
    const tarPath = join(temp.path, 'archive.tar');
    const out = createWriteStream(tarPath, { flags: 'wx', mode: 0o600, highWaterMark: 1 << 20 });
    if (decompressor) await pipeline(all, decompressor, out, { signal: opts.signal });
    else await pipeline(all, out, { signal: opts.signal });
    return { tarPath, temp };
  } catch (e) {
    await temp?.remove().catch(() => {});
    if (compression !== 'none') throw decompressError(what, compression, e);
    if (e instanceof FerryError) throw e;
    throw ioError(`reading ${what}`, e);
  } finally {
    await input.close();
  }
}
