/**
 * `sync --report FILE`: one JSON line per image (and per source that could not be listed), in source order — the
 * order of the sources, then of the images within each — whatever order the images finished in. A line is written as
 * soon as every line before it is known, into a temporary file next to FILE that replaces FILE when the sync ends
 * (also when it fails), so FILE is never seen half-written and an existing FILE that is not a regular file is refused.
 */
import { lstat, open, rename, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { FerryError, ErrorCode } from '../errors.js';

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
    private readonly temp: string,
    private readonly fh: FileHandle,
  ) {}

  /**
   * Creates the temporary file for `file`.
   * @throws FerryError(E_IO) when `file` exists and is not a regular file, or the temporary file cannot be created.
   */
  static async create(file: string): Promise<SyncReport> {
    try {
      const st = await lstat(file);
      if (!st.isFile()) throw new FerryError(ErrorCode.Io, `report file ${file} exists and is not a regular file`);
    } catch (e) {
      if (e instanceof FerryError) throw e;
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new FerryError(ErrorCode.Io, `report file ${file}: ${(e as Error).message}`, { cause: e });
    }
    const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now().toString(36)}.tmp`);
    try {
      return new SyncReport(file, temp, await open(temp, 'wx', 0o644));
    } catch (e) {
      throw new FerryError(ErrorCode.Io, `creating report file ${file}: ${(e as Error).message}`, { cause: e });
    }
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
        if (this.writeError === undefined) await this.fh.write(out).catch((err: unknown) => (this.writeError = err));
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
    try {
      if (this.writeError !== undefined) throw this.writeError;
      if (out !== '') await this.fh.write(out);
      await this.fh.sync();
      await this.fh.close();
      await rename(this.temp, this.file);
    } catch (e) {
      await this.fh.close().catch(() => {});
      await rm(this.temp, { force: true }).catch(() => {});
      throw new FerryError(ErrorCode.Io, `writing report file ${this.file}: ${(e as Error).message}`, { cause: e });
    }
  }
}
