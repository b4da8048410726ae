/**
 * Opening a `docker save` archive for reading: an uncompressed archive is indexed in place (headers
 * only, blobs are streamed from their offsets later); a compressed one (gzip, zstd, xz, bzip2) is first
 * decompressed into a temporary file, as containers/image does, then indexed. An archive that cannot be read in place (a pipe,
 * `/dev/stdin`, a FIFO, a character device) is copied once, in order, into a temporary file (decompressed on the
 * way), like containers/image does too. The first part of a split archive (`ARCHIVE.001`, src/transports/shared/
 * split-parts.ts) is joined with the rest, each checked, into a temporary file. `manifest.json` is read and checked.
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
import { checkAborted, ioError, openForReading } from '../shared/files.js';
import { isSplitArchive, joinParts } from '../shared/split-parts.js';
import { MANIFEST_FILE, MAX_JSON_SIZE, type ManifestItem, parseManifestJson } from './format.js';
import { indexTar, type TarIndex } from './tar-index.js';

/** An opened archive: its tar index and image list. Call {@link close} to remove temporary files. */
export interface DockerArchive {
  /** The archive as the user named it. */
  readonly path: string;
  /** Index of the (possibly decompressed) tar. */
  readonly tar: TarIndex;
  /** The images of `manifest.json`. */
  readonly items: ManifestItem[];
  /** Removes the decompressed copy, if any. Idempotent. */
  close(): Promise<void>;
}

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

/**
 * Opens the `docker save` archive at `path`.
 * @throws FerryError(E_NOT_FOUND) if the file is missing or has no manifest.json; E_HOSTILE_ARCHIVE;
 *         E_INVALID_MANIFEST for a corrupt/truncated archive or manifest.json; E_IO, E_ABORTED.
 */
export async function openDockerArchive(path: string, opts: OpOptions & TempOptions = {}): Promise<DockerArchive> {
  const what = `docker archive ${path}`;
  const { tarPath, temp } = await uncompressedTar(path, what, opts);
  try {
    const tar = await indexTar(tarPath, what, opts);
    const m = tar.resolve(MANIFEST_FILE);
    if (!m) throw new FerryError(ErrorCode.NotFound, `${what}: no ${MANIFEST_FILE} (not a docker save archive)`);
    const items = parseManifestJson(await tar.readEntry(m, MAX_JSON_SIZE, opts), what);
    let closed = false;
    return {
      path,
      tar,
      items,
      async close() {
        if (closed) return;
        closed = true;
        await temp?.remove();
      },
    };
  } catch (e) {
    await temp?.remove().catch(() => {});
    throw e;
  }
}
