/**
 * tar-split metadata (github.com/vbatts/tar-split, as containers/storage stores it in
 * `<layer-id>.tar-split.gz`): gzip-compressed JSON lines, each a segment of raw archive bytes
 * (`type` 2, base64 `payload`) or a file entry (`type` 1, `name`, `size`, CRC-64/ISO of the content as
 * `payload`), numbered by `position`. Segments plus file contents, in order, are the original tar.
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { FerryError, ErrorCode } from '../errors.js';

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
    this.add({ type: 2, payload: payload.toString('base64') });
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

/** Reads the records of a `.tar-split.gz` file in order. */
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
  const lines = createInterface({ input, crlfDelay: Infinity });
  try {
    for await (const line of lines) {
      if (line === '') continue;
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
    lines.close();
    input.destroy();
  }
}
