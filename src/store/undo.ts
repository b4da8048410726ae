/**
 * What one store transaction changed, so that a failed commit puts the store back as it was: the files it
 * replaced or created (records, image big data) with their earlier content, the directories it created and the
 * layers it moved into place. The transaction holds the layers and images write locks from its first change to
 * the end of {@link UndoLog.undo}, so nothing else can have come to use what is taken away.
 *
 * Undo order: the records first (images.json, layers.json: they no longer name anything new), then the other files
 * (image big data), then the content of the new layers, then the new directories. A process killed in the middle
 * of the undo can leave layers no image uses (a prune removes them), directories and files no record names, or big
 * data of an image that was there before not yet put back.
 */
import { lstat, mkdir, readFile, rm } from 'node:fs/promises';
import { FerryError, ErrorCode } from '../errors.js';
import { writeFileAtomic } from '../util/atomic.js';

interface SavedFile {
  /** The earlier content, or undefined when there was no file. */
  data: Buffer | undefined;
  mode: number;
  /** A record file (images.json, layers.json), put back before the others. */
  record: boolean;
}

/** The undo log of one transaction (see the module comment). */
export class UndoLog {
  private readonly files = new Map<string, SavedFile>();
  private readonly dirs: string[] = [];
  private readonly layers: string[] = [];

  /**
   * Records what `path` holds now, the first time the transaction is about to replace or create it; `record` for the
   * record files.
   */
  async saveFile(path: string, record = false): Promise<void> {
    if (this.files.has(path)) return;
    let saved: SavedFile;
    try {
      const st = await lstat(path);
      // only regular files are ever written here (records, big data); anything else is left to the write to refuse
      saved = st.isFile() ? { data: await readFile(path), mode: st.mode & 0o7777, record } : { data: undefined, mode: 0, record };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new FerryError(ErrorCode.Io, `reading ${path}: ${(e as Error).message}`, { cause: e });
      saved = { data: undefined, mode: 0, record };
    }
    this.files.set(path, saved);
  }

  /** Creates `dir` (not its parents, which must exist), recording it when it was not there. */
  async makeDir(dir: string, mode: number): Promise<void> {
    try {
      await mkdir(dir, { mode });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return;
      throw e;
    }
    this.dirs.push(dir);
  }

  /** Records a layer the transaction is moving into place (before the move, so a half-made one is removed too). */
  layerMade(id: string): void {
    this.layers.push(id);
  }

  /**
   * Puts everything back, without an abort signal (the undo of an aborted commit must run to its end).
   * `removeLayer` removes a layer's content. Goes on past failures.
   * @returns the failures, if any (the store then holds leftovers no record names).
   */
  async undo(removeLayer: (id: string) => void): Promise<Error[]> {
    const failures: Error[] = [];
    const attempt = async (f: () => unknown) => {
      try {
        await f();
      } catch (e) {
        failures.push(e as Error);
      }
    };
    const files = [...this.files];
    for (const [path, saved] of [...files.filter(([, f]) => f.record), ...files.filter(([, f]) => !f.record)]) {
      await attempt(() => (saved.data === undefined ? rm(path, { force: true }) : writeFileAtomic(path, saved.data, { mode: saved.mode })));
    }
    for (const id of this.layers.reverse()) await attempt(() => removeLayer(id));
    for (const dir of this.dirs.reverse()) await attempt(() => rm(dir, { recursive: true, force: true }));
    this.files.clear();
    this.layers.length = 0;
    this.dirs.length = 0;
    return failures;
  }
}
