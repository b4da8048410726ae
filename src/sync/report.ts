/**
 * `sync --report FILE`: one JSON line per image (and per source that could not be listed), in source order — the
 * order of the sources, then of the images within each — whatever order the images finished in. A line is written as
 * soon as every line before it is known, into a temporary file next to FILE that replaces FILE when the sync ends
 * (also when it fails), so FILE is never seen half-written and an existing FILE that is not a regular file is refused
 * (also when it became one during the sync). FILE may instead be a stream — `/dev/stdout`, `/dev/fd/N`, a FIFO, a
 * character device, possibly through symlinks, as for archives (src/util/stream-files.ts): the lines are then written
 * to it as they become known, and nothing is created or replaced.
 */
import { lstat, open, rename, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { FerryError, ErrorCode } from '../errors.js';
import { classifyArchiveTarget, openSequentialOutput, type SequentialOutput } from '../util/stream-files.js';

/** Where the report goes: a temporary file renamed over FILE at close, or a stream written as it goes. */
type ReportSink = { kind: 'file'; temp: string; fh: FileHandle } | { kind: 'stream'; out: SequentialOutput };

function notRegular(file: string): FerryError {
  return new FerryError(ErrorCode.Io, `report file ${file} exists and is not a regular file`);
}

/** One line of the report. */
export interface ReportEntry {
  /** The source image (`docker://…`), or the source that could not be listed. */
  source: string;
  /** The destination image; '' when there is none (a source that could not be listed, a name that cannot be made). */
  destination: string;
  /** The manifest digest written (or found at the destination); '' when none. */
  digest: string;
  /** `pruned`: a destination tag `sync --prune` deleted (`source` is then ''). */
  action: 'copied' | 'skipped' | 'failed' | 'pruned';
  /** Blob bytes read from the source and written to the destination (0 for a skipped image). */
  bytes: number;
  /** Wall-clock seconds the image took (its retries included). */
  seconds: number;
  /** The error of a failed image, on one line; '' otherwise. */
  error: string;
}

/** Writes report entries in position order, as the gaps before them fill. */
export class SyncReport {
  private readonly pending = new Map<number, ReportEntry | null>();
  private next = 0;
  private writing: Promise<void> = Promise.resolve();
  private writeError: unknown;

  private constructor(
    private readonly file: string,
    private readonly sink: ReportSink,
  ) {}

  /**
   * Creates the temporary file for `file`.
   * @throws FerryError(E_IO) when `file` exists and is not a regular file, or the temporary file cannot be created.
   */
  static async create(file: string): Promise<SyncReport> {
    let target;
    try {
      target = await classifyArchiveTarget(file, `report file ${file}`);
    } catch (e) {
      if (e instanceof FerryError && e.code === ErrorCode.Unsupported) throw notRegular(file);
      throw e;
    }
    if (target.kind !== 'file') return new SyncReport(file, { kind: 'stream', out: await openSequentialOutput(target, `report file ${file}`) });
    const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now().toString(36)}.tmp`);
    try {
      return new SyncReport(file, { kind: 'file', temp, fh: await open(temp, 'wx', 0o644) });
    } catch (e) {
      throw new FerryError(ErrorCode.Io, `creating report file ${file}: ${(e as Error).message}`, { cause: e });
    }
  }

  private write(text: string): Promise<void> {
    if (this.sink.kind === 'file') return this.sink.fh.write(text).then(() => {});
    const stream = this.sink.out.stream;
    return new Promise((resolve, reject) => stream.write(text, (e) => (e ? reject(e) : resolve())));
  }

  /** Records the entry at position `seq` (null: that position has nothing to report, e.g. an image stopped unfinished). */
  record(seq: number, entry: ReportEntry | null): void {
    this.pending.set(seq, entry);
    let out = '';
    while (this.pending.has(this.next)) {
      const e = this.pending.get(this.next);
      this.pending.delete(this.next);
      this.next++;
      if (e) out += JSON.stringify(e) + '\n';
    }
    if (out !== '') {
      this.writing = this.writing.then(async () => {
        if (this.writeError === undefined) await this.write(out).catch((err: unknown) => (this.writeError = err));
      });
    }
  }

  /**
   * Writes what is left (positions never recorded are left out), syncs and moves the file into place.
   * @throws FerryError(E_IO) when the report could not be written.
   */
  async close(): Promise<void> {
    const rest = [...this.pending.entries()].sort((a, b) => a[0] - b[0]);
    this.pending.clear();
    const out = rest.map(([, e]) => (e ? JSON.stringify(e) + '\n' : '')).join('');
    await this.writing;
    const sink = this.sink;
    try {
      if (this.writeError !== undefined) throw this.writeError;
      if (out !== '') await this.write(out);
      if (sink.kind === 'stream') {
        await sink.out.finish();
        return;
      }
      await sink.fh.sync();
      await sink.fh.close();
      // what FILE was checked to be at the start may have changed: still never replace what is not a regular file
      const st = await lstat(this.file).catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') return undefined;
        throw e;
      });
      if (st !== undefined && !st.isFile()) throw notRegular(this.file);
      await rename(sink.temp, this.file);
    } catch (e) {
      if (sink.kind === 'stream') await sink.out.abort();
      else {
        await sink.fh.close().catch(() => {});
        await rm(sink.temp, { force: true }).catch(() => {});
      }
      if (e instanceof FerryError && e.code === ErrorCode.Io) throw e;
      throw new FerryError(ErrorCode.Io, `writing report file ${this.file}: ${(e as Error).message}`, { cause: e });
    }
  }
}
