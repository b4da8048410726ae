/**
 * tar-split metadata (github.com/vbatts/tar-split, as containers/storage stores it in
 * `<layer-id>.tar-split.gz`): gzip-compressed JSON lines, each a segment of raw archive bytes
 * (`type` 2, base64 `payload`) or a file entry (`type` 1, `name`, `size`, CRC-64/ISO of the content as
 * `payload`), numbered by `position`. Segments plus file contents, in order, are the original tar.
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { FerryError, ErrorCode, tooLarge } from '../errors.js';

/**
 * The longest tar-split line ferry reads: 16 MiB. containers/storage's reader has no limit; what its writer puts on
 * one line is a segment (an entry's headers: Go's tar reader takes extension headers of up to 1 MiB each, so a few
 * MiB at most once base64-encoded, or the bytes after the end of the archive) or a file entry (its name). ferry's own
 * writer puts at most {@link SEGMENT_CHUNK} bytes of archive on a line.
 */
export const MAX_TAR_SPLIT_LINE = 16 << 20;

/**
 * The most archive bytes {@link TarSplitWriter} puts in one segment record: a longer run (extension headers, bytes
 * after the end of the archive) becomes several segments in a row, which rebuild the same archive.
 */
export const SEGMENT_CHUNK = 1 << 20;

/** One tar-split record. */
export type TarSplitEntry =
  | { type: 'segment'; payload: Buffer }
  | { type: 'file'; name: string; size: number; crc: Buffer | null };

/** Builds the JSON lines of a tar-split file (compress them with gzip when writing). */
export class TarSplitWriter {
  private position = 0;
  private readonly lines: string[] = [];
  private pendingBytes = 0;
  /** Called with batches of JSON lines (about 1 MiB each). */
  constructor(private readonly sink: (text: string) => void) {}

  private add(obj: Record<string, unknown>): void {
    const line = JSON.stringify({ ...obj, position: this.position++ }) + '\n';
    this.lines.push(line);
    this.pendingBytes += line.length;
    if (this.pendingBytes >= 1 << 20) this.flush();
  }

  segment(payload: Buffer): void {
    for (let at = 0; at === 0 || at < payload.length; at += SEGMENT_CHUNK) {
      this.add({ type: 2, payload: payload.subarray(at, at + SEGMENT_CHUNK).toString('base64') });
    }
  }

  file(name: string, size: number, crc: Buffer | null): void {
    const o: Record<string, unknown> = { type: 1, name };
    if (size > 0) o.size = size;
    o.payload = crc ? crc.toString('base64') : null;
    this.add(o);
  }

  flush(): void {
    if (this.lines.length > 0) {
      this.sink(this.lines.join(''));
      this.lines.length = 0;
      this.pendingBytes = 0;
    }
  }
}

/**
 * The lines of `input` (without their `\n`).
 * @throws FerryError(E_TOO_LARGE) naming `path` for a line over {@link MAX_TAR_SPLIT_LINE}, without buffering more.
 */
async function* boundedLines(input: AsyncIterable<Buffer>, path: string): AsyncGenerator<string> {
  let pending: Buffer[] = [];
  let pendingLength = 0;
  const tooLong = () => tooLarge(`a line of ${path}`, MAX_TAR_SPLIT_LINE);
  for await (const chunk of input) {
    let start = 0;
    for (let nl = chunk.indexOf(0x0a); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, nl);
      if (pendingLength + piece.length > MAX_TAR_SPLIT_LINE) throw tooLong();
      yield (pendingLength === 0 ? piece : Buffer.concat([...pending, piece])).toString('utf8');
      pending = [];
      pendingLength = 0;
      start = nl + 1;
    }
    if (start < chunk.length) {
      pendingLength += chunk.length - start;
      if (pendingLength > MAX_TAR_SPLIT_LINE) throw tooLong();
      pending.push(chunk.subarray(start));
    }
  }
  if (pendingLength > 0) yield Buffer.concat(pending).toString('utf8');
}

/**
 * Reads the records of a `.tar-split.gz` file in order.
 * @throws FerryError(E_IO) for an unreadable or invalid file; E_TOO_LARGE for a line over {@link MAX_TAR_SPLIT_LINE}.
 */
export async function* readTarSplit(path: string, opts: { signal?: AbortSignal } = {}): AsyncGenerator<TarSplitEntry> {
  let fh: FileHandle;
  try {
    // never through a symlink, and a FIFO put in its place fails instead of blocking the open
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    throw new FerryError(ErrorCode.Io, `opening ${path}: ${(e as Error).message}`, { cause: e });
  }
  const input = createGunzip();
  // pipeline, not pipe: a read error must reach the gunzip stream, and so the line reader.
  pipeline(fh.createReadStream({ signal: opts.signal }), input, () => {});
  try {
    for await (const line of boundedLines(input, path)) {
      if (line.trim() === '') continue;
      let o: { type?: number; name?: string; name_raw?: string; size?: number; payload?: string | null };
      try {
        o = JSON.parse(line) as typeof o;
      } catch (e) {
        throw new FerryError(ErrorCode.Io, `${path}: invalid tar-split record`, { cause: e });
      }
      if (o.type === 2) yield { type: 'segment', payload: Buffer.from(o.payload ?? '', 'base64') };
      else if (o.type === 1) {
        const name = o.name ?? (o.name_raw !== undefined ? Buffer.from(o.name_raw, 'base64').toString('utf8') : '');
        yield { type: 'file', name, size: o.size ?? 0, crc: o.payload ? Buffer.from(o.payload, 'base64') : null };
      } else throw new FerryError(ErrorCode.Io, `${path}: unknown tar-split record type ${String(o.type)}`);
    }
  } finally {
    input.destroy();
  }
}
